package visual

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vlbert/vlbert/internal/kernels"
)

func TestBatchNormForwardBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	N, C, HW := 2, 3, 5
	bn := randBN(rng, C)
	scale, shift := make([]float32, C), make([]float32, C)
	bn.ScaleShift(scale, shift)
	x := randSlice(rng, N*C*HW, 1)
	out := make([]float32, len(x))
	BatchNormForward(out, x, scale, shift, N, C, HW)
	bn64 := func(v []float64) []float64 {
		y := make([]float64, len(v))
		for i := range v {
			c := (i / HW) % C
			y[i] = (v[i]-float64(bn.RunningMean[c]))/math.Sqrt(float64(bn.RunningVar[c])+1e-5)*float64(bn.Weight[c]) + float64(bn.Bias[c])
		}
		return y
	}
	if d := maxAbsDiff64(out, bn64(to64(x))); d > 1e-6 {
		t.Fatalf("forward max abs diff %g", d)
	}
	g := randSlice(rng, len(x), 1)
	dx := make([]float32, len(x))
	BatchNormBackward(dx, g, scale, N, C, HW)
	num := fdGrad(to64(x), func(v []float64) float64 { return dot64(bn64(v), to64(g)) }, 1e-3, 0)
	checkGrad(t, "bn dinp", dx, num, 1e-5, 1e-5)
}

func maxpool64(x []float64, mp MaxPool, NC, H, W int) []float64 {
	OH, OW := mp.OutSize(H, W)
	out := make([]float64, NC*OH*OW)
	for p := 0; p < NC; p++ {
		for oh := 0; oh < OH; oh++ {
			for ow := 0; ow < OW; ow++ {
				best := math.Inf(-1)
				for kh := 0; kh < mp.Kernel; kh++ {
					for kw := 0; kw < mp.Kernel; kw++ {
						ih, iw := oh*mp.Stride-mp.Pad+kh, ow*mp.Stride-mp.Pad+kw
						if ih >= 0 && ih < H && iw >= 0 && iw < W {
							best = max(best, x[(p*H+ih)*W+iw])
						}
					}
				}
				out[(p*OH+oh)*OW+ow] = best
			}
		}
	}
	return out
}

func TestMaxPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	mp := MaxPool{Kernel: 3, Stride: 2, Pad: 1}
	for _, sz := range [][3]int{{3, 7, 8}, {2, 1, 1}, {2, 2, 3}, {1, 10, 9}} {
		NC, H, W := sz[0], sz[1], sz[2]
		OH, OW := mp.OutSize(H, W)
		x := randSlice(rng, NC*H*W, 1)
		out := make([]float32, NC*OH*OW)
		arg := make([]int32, len(out))
		MaxPoolForward(out, arg, x, mp, NC, H, W)
		if d := maxAbsDiff64(out, maxpool64(to64(x), mp, NC, H, W)); d != 0 {
			t.Fatalf("%v: forward differs by %g", sz, d)
		}
		g := randSlice(rng, len(out), 1)
		dx := make([]float32, len(x))
		MaxPoolBackward(dx, g, arg, NC, H, W, OH, OW)
		num := fdGrad(to64(x), func(v []float64) float64 { return dot64(maxpool64(v, mp, NC, H, W), to64(g)) }, 1e-4, 0)
		checkGrad(t, "maxpool dinp", dx, num, 1e-5, 1e-5)
	}
	// Ties go to the first element of the window.
	x := []float32{1, 1, 1, 1}
	out, arg := make([]float32, 1), make([]int32, 1)
	MaxPoolForward(out, arg, x, mp, 1, 2, 2)
	if arg[0] != 0 || out[0] != 1 {
		t.Fatalf("tie: argmax %d out %g", arg[0], out[0])
	}
}

func TestAvgPoolAndReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	NC, HW := 5, 196
	x := randSlice(rng, NC*HW, 1)
	out := make([]float32, NC)
	AvgPoolForward(out, x, NC, HW)
	avg64 := func(v []float64) []float64 {
		y := make([]float64, NC)
		for p := range y {
			for i := 0; i < HW; i++ {
				y[p] += v[p*HW+i]
			}
			y[p] /= float64(HW)
		}
		return y
	}
	if d := maxAbsDiff64(out, avg64(to64(x))); d > 1e-6 {
		t.Fatalf("avgpool forward differs by %g", d)
	}
	g := randSlice(rng, NC, 1)
	dx := make([]float32, len(x))
	AvgPoolBackward(dx, g, NC, HW)
	checkGrad(t, "avgpool dinp", dx, fdGrad(to64(x), func(v []float64) float64 { return dot64(avg64(v), to64(g)) }, 1e-3, 0), 1e-6, 1e-5)

	for i, v := range x { // keep FD probes away from the kink at 0
		if v > -0.01 && v < 0.01 {
			x[i] = 0.5
		}
	}
	y := make([]float32, len(x))
	kernels.ReLUForward(y, x)
	gy := randSlice(rng, len(x), 1)
	dy := make([]float32, len(x))
	kernels.ReLUBackward(dy, y, gy)
	relu64 := func(v []float64) []float64 {
		o := make([]float64, len(v))
		for i, a := range v {
			o[i] = max(a, 0)
		}
		return o
	}
	checkGrad(t, "relu dinp", dy, fdGrad(to64(x), func(v []float64) float64 { return dot64(relu64(v), to64(gy)) }, 1e-4, 0), 1e-5, 1e-5)
}
