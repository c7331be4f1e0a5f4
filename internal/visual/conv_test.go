package visual

import (
	"math/rand/v2"
	"testing"
	"time"
)

// conv64 is the direct float64 convolution (with optional bias) used as reference.
func conv64(x, w, b []float64, cv Conv2D, N, H, W int) []float64 {
	OH, OW := cv.OutSize(H, W)
	out := make([]float64, N*cv.K*OH*OW)
	for n := 0; n < N; n++ {
		for k := 0; k < cv.K; k++ {
			for oh := 0; oh < OH; oh++ {
				for ow := 0; ow < OW; ow++ {
					var s float64
					if b != nil {
						s = b[k]
					}
					for c := 0; c < cv.C; c++ {
						for kh := 0; kh < cv.KH; kh++ {
							ih := oh*cv.Stride - cv.Pad + kh*cv.Dilation
							if ih < 0 || ih >= H {
								continue
							}
							for kw := 0; kw < cv.KW; kw++ {
								iw := ow*cv.Stride - cv.Pad + kw*cv.Dilation
								if iw < 0 || iw >= W {
									continue
								}
								s += x[((n*cv.C+c)*H+ih)*W+iw] * w[((k*cv.C+c)*cv.KH+kh)*cv.KW+kw]
							}
						}
					}
					out[((n*cv.K+k)*OH+oh)*OW+ow] = s
				}
			}
		}
	}
	return out
}

var convCases = []struct {
	name    string
	cv      Conv2D
	N, H, W int
}{
	{"3x3", Conv2D{C: 3, K: 4, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}, 2, 5, 6},
	{"3x3dil2", Conv2D{C: 3, K: 5, KH: 3, KW: 3, Stride: 1, Pad: 2, Dilation: 2}, 2, 7, 6},
	{"1x1", Conv2D{C: 4, K: 3, KH: 1, KW: 1, Stride: 1, Pad: 0, Dilation: 1}, 2, 4, 5},
	{"1x1s2", Conv2D{C: 4, K: 3, KH: 1, KW: 1, Stride: 2, Pad: 0, Dilation: 1}, 2, 5, 6},
	{"7x7s2", Conv2D{C: 3, K: 2, KH: 7, KW: 7, Stride: 2, Pad: 3, Dilation: 1}, 1, 9, 8},
	{"3x3s2", Conv2D{C: 2, K: 3, KH: 3, KW: 3, Stride: 2, Pad: 1, Dilation: 1}, 1, 7, 7},
}

func TestConv2DForwardMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			cv := tc.cv
			x := randSlice(rng, tc.N*cv.C*tc.H*tc.W, 1)
			w := randSlice(rng, cv.WeightSize(), 0.5)
			b := randSlice(rng, cv.K, 0.5)
			OH, OW := cv.OutSize(tc.H, tc.W)
			for _, bias := range [][]float32{nil, b} {
				out := make([]float32, tc.N*cv.K*OH*OW)
				Conv2DForward(out, x, w, bias, nil, cv, tc.N, tc.H, tc.W)
				var b64 []float64
				if bias != nil {
					b64 = to64(bias)
				}
				want := conv64(to64(x), to64(w), b64, cv, tc.N, tc.H, tc.W)
				if d := maxAbsDiff64(out, want); d > 1e-5 {
					t.Fatalf("bias=%v: max abs diff %g", bias != nil, d)
				}
			}
		})
	}
}

func TestConv2DBackwardFD(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			cv := tc.cv
			x := randSlice(rng, tc.N*cv.C*tc.H*tc.W, 1)
			w := randSlice(rng, cv.WeightSize(), 0.5)
			OH, OW := cv.OutSize(tc.H, tc.W)
			g := randSlice(rng, tc.N*cv.K*OH*OW, 1)
			g64 := to64(g)
			dx := make([]float32, len(x))
			for i := range dx {
				dx[i] = 99 // overwritten
			}
			dw := randSlice(rng, len(w), 1)
			dw0 := append([]float32(nil), dw...)
			Conv2DBackward(dx, dw, g, x, w, nil, cv, tc.N, tc.H, tc.W)
			for i := range dw {
				dw[i] -= dw0[i] // accumulated
			}
			x64, w64 := to64(x), to64(w)
			numX := fdGrad(x64, func(v []float64) float64 { return dot64(conv64(v, w64, nil, cv, tc.N, tc.H, tc.W), g64) }, 1e-3, 0)
			numW := fdGrad(w64, func(v []float64) float64 { return dot64(conv64(x64, v, nil, cv, tc.N, tc.H, tc.W), g64) }, 1e-3, 0)
			checkGrad(t, "dinp", dx, numX, 1e-4, 1e-4)
			checkGrad(t, "dweight", dw, numW, 1e-4, 1e-4)
		})
	}
}

func TestConv2DParallelEqualsSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cv := Conv2D{C: 8, K: 6, KH: 3, KW: 3, Stride: 1, Pad: 2, Dilation: 2}
	N, H, W := 2, 9, 11
	OH, OW := cv.OutSize(H, W)
	x := randSlice(rng, N*cv.C*H*W, 1)
	w := randSlice(rng, cv.WeightSize(), 1)
	g := randSlice(rng, N*cv.K*OH*OW, 1)
	run := func() (out, dx, dw []float32) {
		out = make([]float32, N*cv.K*OH*OW)
		dx = make([]float32, len(x))
		dw = make([]float32, len(w))
		Conv2DForward(out, x, w, nil, nil, cv, N, H, W)
		Conv2DBackward(dx, dw, g, x, w, nil, cv, N, H, W)
		return
	}
	var o1, x1, w1, o4, x4, w4 []float32
	withThreads(1, func() { o1, x1, w1 = run() })
	withThreads(4, func() { o4, x4, w4 = run() })
	if maxAbsDiff32(o1, o4) != 0 || maxAbsDiff32(x1, x4) != 0 || maxAbsDiff32(w1, w4) != 0 {
		t.Fatal("parallel result differs from serial")
	}
}

func TestConv2DPanicsOnShortBuffer(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	cv := Conv2D{C: 2, K: 2, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}
	Conv2DForward(make([]float32, 10), make([]float32, 2*4*4), make([]float32, cv.WeightSize()), nil, nil, cv, 1, 4, 4)
}

func TestFoldBatchNormEqualsConvThenBN(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cv := Conv2D{C: 3, K: 4, KH: 3, KW: 3, Stride: 2, Pad: 1, Dilation: 1}
	N, H, W := 2, 7, 6
	OH, OW := cv.OutSize(H, W)
	x := randSlice(rng, N*cv.C*H*W, 1)
	w := randSlice(rng, cv.WeightSize(), 1)
	bn := randBN(rng, cv.K)
	scale, shift := make([]float32, cv.K), make([]float32, cv.K)
	bn.ScaleShift(scale, shift)
	ref := make([]float32, N*cv.K*OH*OW)
	Conv2DForward(ref, x, w, nil, nil, cv, N, H, W)
	BatchNormForward(ref, ref, scale, shift, N, cv.K, OH*OW)
	wf, bf := make([]float32, len(w)), make([]float32, cv.K)
	FoldBatchNorm(wf, bf, w, bn, cv.K)
	got := make([]float32, len(ref))
	Conv2DForward(got, x, wf, bf, nil, cv, N, H, W)
	if d := maxAbsDiff32(got, ref); d > 1e-5 {
		t.Fatalf("folded conv differs from conv+BN by %g", d)
	}
}

func randBN(rng *rand.Rand, C int) FrozenBN {
	bn := FrozenBN{Weight: randSlice(rng, C, 0.3), Bias: randSlice(rng, C, 0.3),
		RunningMean: randSlice(rng, C, 0.3), RunningVar: make([]float32, C)}
	for c := range bn.Weight {
		bn.Weight[c] += 1
		bn.RunningVar[c] = 0.5 + rng.Float32()
	}
	return bn
}

// TestConv2DTiming logs the speed of the conv kernels on small shapes (it asserts
// nothing; the numbers depend on gemm and the machine).
func TestConv2DTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct {
		name string
		cv   Conv2D
		H, W int
	}{
		{"3x3 64->64 28x28", Conv2D{C: 64, K: 64, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}, 28, 28},
		{"1x1 256->64 28x28", Conv2D{C: 256, K: 64, KH: 1, KW: 1, Stride: 1, Pad: 0, Dilation: 1}, 28, 28},
		{"3x3dil2 64->64 14x14", Conv2D{C: 64, K: 64, KH: 3, KW: 3, Stride: 1, Pad: 2, Dilation: 2}, 14, 14},
	} {
		cv := tc.cv
		OH, OW := cv.OutSize(tc.H, tc.W)
		x := randSlice(rng, cv.C*tc.H*tc.W, 1)
		w := randSlice(rng, cv.WeightSize(), 1)
		out := make([]float32, cv.K*OH*OW)
		dx, dw := make([]float32, len(x)), make([]float32, len(w))
		col := make([]float32, cv.ColSize(tc.H, tc.W))
		flops := 2 * float64(cv.K*cv.C*cv.KH*cv.KW*OH*OW)
		start := time.Now()
		reps := 0
		for time.Since(start) < 50*time.Millisecond {
			Conv2DForward(out, x, w, nil, col, cv, 1, tc.H, tc.W)
			reps++
		}
		fwd := time.Since(start) / time.Duration(reps)
		start = time.Now()
		reps = 0
		for time.Since(start) < 50*time.Millisecond {
			Conv2DBackward(dx, dw, out, x, w, col, cv, 1, tc.H, tc.W)
			reps++
		}
		bwd := time.Since(start) / time.Duration(reps)
		t.Logf("%s: forward %v (%.2f GFLOP/s), backward %v (%.2f GFLOP/s)", tc.name, fwd,
			flops/fwd.Seconds()/1e9, bwd, 2*flops/bwd.Seconds()/1e9)
	}
}
