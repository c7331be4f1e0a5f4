package visual

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

func TestBottleneckGolden(t *testing.T) {
	for _, tc := range []struct {
		name             string
		stride, dilation int
	}{
		{"dilated", 1, 2},
		{"stride2", 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := newParamSet()
			b := newBottleneck(ps, "blk", 32, 16, tc.stride, tc.dilation, true, true, false, false)
			ps.finish()
			for _, p := range ps.Params {
				key := strings.TrimPrefix(p.Name, "blk.")
				a := readGolden(t, "op_bottleneck_"+tc.name+"_w__"+strings.ReplaceAll(key, ".", "_")+".npy")
				if err := ps.Set(p.Name, a.Shape, a.F32); err != nil {
					t.Fatal(err)
				}
			}
			in := readGolden(t, "op_bottleneck_"+tc.name+"_in.npy")
			want := readGolden(t, "op_bottleneck_"+tc.name+"_out.npy")
			N, H, W := in.Shape[0], in.Shape[2], in.Shape[3]
			var ws Workspace
			out, OH, OW := b.Forward(&ws, in.F32, N, H, W)
			if OH != want.Shape[2] || OW != want.Shape[3] || len(out) != want.Len() {
				t.Fatalf("output %dx%d (%d values), golden %v", OH, OW, len(out), want.Shape)
			}
			var worst float64
			for i := range out {
				d := math.Abs(float64(out[i]) - float64(want.F32[i]))
				worst = max(worst, d)
				if d > 1e-5+1e-5*math.Abs(float64(want.F32[i])) {
					t.Fatalf("out[%d] = %g, golden %g", i, out[i], want.F32[i])
				}
			}
			t.Logf("bottleneck %s golden: %d values, max abs error %.3g", tc.name, len(out), worst)
		})
	}
}

// bottleneck64 is the float64 reference of the block; w holds the parameters in
// ParamSet order (as float64), so the FD check can perturb any of them.
func bottleneck64(b *Bottleneck, ps *ParamSet, w []float64, x []float64, N, H, W int) []float64 {
	get := func(p *Param) []float64 { return w[paramOffset(ps, p):][:len(p.Data)] }
	bn := func(v []float64, bp bnParams, C, HW int) {
		bnRef64(v, get(bp.Weight), get(bp.Bias), get(bp.RunningMean), get(bp.RunningVar), C, HW)
	}
	relu := func(v []float64) {
		for i := range v {
			v[i] = max(v[i], 0)
		}
	}
	H1, W1 := b.Conv1.OutSize(H, W)
	OH, OW := b.Conv2.OutSize(H1, W1)
	y1 := conv64(x, get(b.W1), nil, b.Conv1, N, H, W)
	bn(y1, b.BN1, b.Conv1.K, H1*W1)
	relu(y1)
	y2 := conv64(y1, get(b.W2), nil, b.Conv2, N, H1, W1)
	bn(y2, b.BN2, b.Conv2.K, OH*OW)
	relu(y2)
	y3 := conv64(y2, get(b.W3), nil, b.Conv3, N, OH, OW)
	bn(y3, b.BN3, b.Conv3.K, OH*OW)
	res := x
	if b.HasDown {
		res = conv64(x, get(b.WDown), nil, b.Down, N, H, W)
		bn(res, b.BNDown, b.Down.K, OH*OW)
	}
	for i := range y3 {
		y3[i] += res[i]
	}
	relu(y3)
	return y3
}

func randomizeParams(rng *rand.Rand, ps *ParamSet) {
	for _, p := range ps.Params {
		switch {
		case strings.HasSuffix(p.Name, "running_var"):
			for i := range p.Data {
				p.Data[i] = 0.5 + rng.Float32()
			}
		case strings.HasSuffix(p.Name, "bn1.weight"), strings.HasSuffix(p.Name, "bn2.weight"),
			strings.HasSuffix(p.Name, "bn3.weight"), strings.HasSuffix(p.Name, "downsample.1.weight"):
			for i := range p.Data {
				p.Data[i] = 1 + 0.2*float32(rng.NormFloat64())
			}
		case strings.HasSuffix(p.Name, ".weight") && len(p.Shape) == 4:
			fanIn := p.Shape[1] * p.Shape[2] * p.Shape[3]
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64() / math.Sqrt(float64(fanIn)))
			}
		default:
			for i := range p.Data {
				p.Data[i] = 0.1 * float32(rng.NormFloat64())
			}
		}
	}
}

func TestBottleneckBackwardFD(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct {
		name                    string
		in, planes, stride, dil int
		strideIn1x1, down       bool
	}{
		{"dilated+down", 6, 2, 1, 2, true, true},
		{"stride2-in-1x1", 6, 2, 2, 1, true, true},
		{"stride2-in-3x3", 6, 2, 2, 1, false, true},
		{"identity", 8, 2, 1, 1, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := newParamSet()
			b := newBottleneck(ps, "b", tc.in, tc.planes, tc.stride, tc.dil, tc.strideIn1x1, tc.down, true, false)
			ps.finish()
			randomizeParams(rng, ps)
			ps.AllocGrads()
			N, H, W := 2, 5, 6
			x := randSlice(rng, N*tc.in*H*W, 1)
			var ws Workspace
			out, _, _ := b.Forward(&ws, x, N, H, W)
			w64, x64 := to64(ps.Data), to64(x)
			if d := maxAbsDiff64(out, bottleneck64(b, ps, w64, x64, N, H, W)); d > 1e-5 {
				t.Fatalf("forward differs from float64 by %g", d)
			}
			g := randSlice(rng, len(out), 1)
			g64 := to64(g)
			dx := make([]float32, len(x))
			b.Backward(&ws, dx, g)
			loss := func(w, x []float64) float64 { return dot64(bottleneck64(b, ps, w, x, N, H, W), g64) }
			checkGrad(t, "dinp", dx, fdGrad(x64, func(v []float64) float64 { return loss(w64, v) }, 1e-6, 120), 1e-4, 1e-3)
			// Weight gradients: map the trainable Grad arena onto the full parameter order.
			full := make([]float32, len(ps.Data))
			off := 0
			for _, p := range ps.Params {
				if p.Grad != nil {
					copy(full[off:], p.Grad)
				}
				off += len(p.Data)
			}
			num := fdGrad(w64, func(v []float64) float64 { return loss(v, x64) }, 1e-6, 150)
			off = 0
			for _, p := range ps.Params {
				if !p.Trainable { // BN gets no gradient
					for i := off; i < off+len(p.Data); i++ {
						num[i] = math.NaN()
					}
				}
				off += len(p.Data)
			}
			checkGrad(t, "dweights", full, num, 1e-4, 1e-3)
		})
	}
}

// paramOffset is the offset of p's view inside the arena.
func paramOffset(ps *ParamSet, p *Param) int {
	if len(p.Data) == 0 {
		return 0
	}
	return int((uintptr(unsafe.Pointer(&p.Data[0])) - uintptr(unsafe.Pointer(&ps.Data[0]))) / 4)
}

// bnRef64Train makes the float64 references normalise with the batch
// statistics (training-mode BN, biased variance) instead of the running ones.
var bnRef64Train bool

// bnRef64 is BatchNorm on v [N, C, HW] in place, in float64.
func bnRef64(v, g, be, m, va []float64, C, HW int) {
	if bnRef64Train {
		N := len(v) / (C * HW)
		m, va = make([]float64, C), make([]float64, C)
		for i, x := range v {
			m[(i/HW)%C] += x / float64(N*HW)
		}
		for i, x := range v {
			c := (i / HW) % C
			va[c] += (x - m[c]) * (x - m[c]) / float64(N*HW)
		}
	}
	for i := range v {
		c := (i / HW) % C
		v[i] = (v[i]-m[c])/math.Sqrt(va[c]+1e-5)*g[c] + be[c]
	}
}
