package heads

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vlbert/vlbert/internal/kernels"
)

type sliceArena struct{}

func (sliceArena) Alloc(n int) []float32 { return make([]float32, n) }

func randVec(rng *rand.Rand, n int, std float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * std)
	}
	return v
}

func newLinear(rng *rand.Rand, in, out int) Linear {
	return Linear{W: randVec(rng, out*in, 1/math.Sqrt(float64(in))), B: randVec(rng, out, 0.1),
		GW: make([]float32, out*in), GB: make([]float32, out), In: in, Out: out}
}

// TestVQAHead checks the forward against a direct computation and the backward
// against central differences, for every parameter and input entry.
func TestVQAHead(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const B, H, A = 3, 6, 4
	v := VQA{FinalMLP{
		Transform: &Transform{Dense: newLinear(rng, H, H), LN: &LayerNorm{W: randVec(rng, H, 0.1), B: randVec(rng, H, 0.1), GW: make([]float32, H), GB: make([]float32, H), C: H}},
		Out:       newLinear(rng, H, A),
	}}
	for i := range v.Transform.LN.W {
		v.Transform.LN.W[i] += 1
	}
	h := randVec(rng, B*H, 1)
	label := []float32{0, 1, 0.3, 0, 0, 0, 0.6, 1, 1, 0, 0, 0.2}
	var a VQAActs
	loss := func() float64 {
		v.Forward(&a, sliceArena{}, h, B, kernels.Dropout{})
		return float64(v.Loss(&a, label))
	}
	// Direct forward of row 0, logit 0.
	row := h[:H]
	dense := make([]float64, H)
	for o := 0; o < H; o++ {
		s := float64(v.Transform.Dense.B[o])
		for i := 0; i < H; i++ {
			s += float64(v.Transform.Dense.W[o*H+i]) * float64(row[i])
		}
		dense[o] = 0.5 * s * (1 + math.Erf(s/math.Sqrt2))
	}
	var mu, va float64
	for _, x := range dense {
		mu += x / H
	}
	for _, x := range dense {
		va += (x - mu) * (x - mu) / H
	}
	logit := float64(v.Out.B[0])
	for i := 0; i < H; i++ {
		y := (dense[i]-mu)/math.Sqrt(va+1e-12)*float64(v.Transform.LN.W[i]) + float64(v.Transform.LN.B[i])
		logit += float64(v.Out.W[i]) * y
	}
	loss()
	if math.Abs(float64(a.Logits[0])-logit) > 1e-5 {
		t.Errorf("logit[0] = %g, direct %g", a.Logits[0], logit)
	}

	dh := make([]float32, B*H)
	loss()
	v.Backward(&a, sliceArena{}, dh, label, 1)
	check := func(name string, x, g []float32) {
		for i := range x {
			orig := x[i]
			const eps = 1e-2
			x[i] = orig + eps
			lp := loss()
			x[i] = orig - eps
			lm := loss()
			x[i] = orig
			fd := (lp - lm) / (2 * eps)
			if d := math.Abs(fd - float64(g[i])); d > 2e-3+2e-2*math.Abs(fd) {
				t.Errorf("%s[%d]: analytic %g, central difference %g", name, i, g[i], fd)
			}
		}
	}
	check("h", h, dh)
	check("dense.W", v.Transform.Dense.W, v.Transform.Dense.GW)
	check("ln.W", v.Transform.LN.W, v.Transform.LN.GW)
	check("cls.W", v.Out.W, v.Out.GW)
	check("cls.B", v.Out.B, v.Out.GB)
}

// TestMVRCHead checks the transform without LayerNorm and the classifier backward.
func TestMVRCHead(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const N, H, R = 4, 5, 7
	m := MVRC{Transform: Transform{Dense: newLinear(rng, H, H)}, Cls: newLinear(rng, H, R)}
	h := randVec(rng, N*H, 1)
	target := make([]float32, N*R)
	target[2], target[R+3], target[R+5] = 1, 0.5, 0.5
	var a MVRCActs
	probs := make([]float32, N*R)
	loss := func() float64 {
		m.Forward(&a, sliceArena{}, h, N)
		l, _ := kernels.SoftCrossEntropyForward(probs, a.Logits, target, N, R)
		return float64(l)
	}
	loss()
	dlog := make([]float32, N*R)
	kernels.SoftCrossEntropyBackward(dlog, probs, target, N, R, 1)
	dh := make([]float32, N*H)
	m.Backward(&a, sliceArena{}, dh, dlog)
	for i := range h {
		orig := h[i]
		h[i] = orig + 1e-2
		lp := loss()
		h[i] = orig - 1e-2
		lm := loss()
		h[i] = orig
		fd := (lp - lm) / 2e-2
		if d := math.Abs(fd - float64(dh[i])); d > 2e-3+2e-2*math.Abs(fd) {
			t.Errorf("h[%d]: analytic %g, central difference %g", i, dh[i], fd)
		}
	}
}
