package optim

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// fmaExact is a·b+c rounded once to float32 (to nearest, ties to even).
func fmaExact(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(300).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetPrec(300).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetPrec(300).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

func TestFMA32CorrectlyRounded(t *testing.T) {
	// A false halfway case for double rounding: a·b = 2^-24·(1-2^-36), c = 1+2^-23.
	// The float64 sum is the float32 midpoint 1+2^-23+2^-24 (ties to even: 1+2^-22);
	// the exact sum is below it, so the answer is 1+2^-23.
	a, b, c := float32(1+0x1p-18), float32((1-0x1p-18)*0x1p-24), float32(1+0x1p-23)
	if got, want := fma32(a, b, c), float32(1+0x1p-23); got != want || fmaExact(a, b, c) != want {
		t.Errorf("fma32 halfway case = %v, want %v (big: %v)", got, want, fmaExact(a, b, c))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200000 {
		a := float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(40)-20)))
		b := float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(40)-20)))
		c := float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(40)-20)))
		if i%3 == 0 {
			c = -a * b // cancellation
		}
		if got, want := fma32(a, b, c), fmaExact(a, b, c); got != want {
			t.Fatalf("fma32(%v, %v, %v) = %v, want %v", a, b, c, got, want)
		}
	}
}

// TestAdamWAVX2MatchesGo checks that the AVX2 update is bit-identical to the portable
// one (moments and parameters), with and without decay, at ragged lengths, including
// the halfway case above (g = a, 1-β1 = b, m·β1 = c with β1 = 1).
func TestAdamWAVX2MatchesGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA")
	}
	r := rand.New(rand.NewPCG(3, 4))
	randv := func(n int, scale float64, pos bool) []float32 {
		x := make([]float32, n)
		for i := range x {
			v := r.NormFloat64() * scale * math.Pow(2, float64(r.IntN(12)-6))
			if pos {
				v = math.Abs(v)
			}
			x[i] = float32(v)
		}
		return x
	}
	for _, decay := range []bool{false, true} {
		for _, n := range []int{1, 5, 8, 13, 64, 1001} {
			k := adamKernel{b1: 0.9, ob1: 0.1, b2: 0.999, ob2: float32(1 - 0.999), eps: 1e-6,
				negStep: -1.3e-3, decay: decay, negDecay: -1e-5}
			p, g, m, v := randv(n, 1, false), randv(n, 1e-2, false), randv(n, 1e-3, false), randv(n, 1e-5, true)
			p2, m2, v2 := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			g[0] = 0
			k.runAVX2(p, g, m, v)
			k.runGo(p2, g, m2, v2)
			for i := range p {
				if math.Float32bits(p[i]) != math.Float32bits(p2[i]) || m[i] != m2[i] || v[i] != v2[i] {
					t.Fatalf("decay %v n %d element %d: avx2 p,m,v = %v,%v,%v; go %v,%v,%v", decay, n, i, p[i], m[i], v[i], p2[i], m2[i], v2[i])
				}
			}
		}
	}
	k := adamKernel{b1: 1, ob1: float32((1 - 0x1p-18) * 0x1p-24), b2: 0.999, ob2: 0.001, eps: 1e-6, negStep: -1e-3}
	p, g, m, v := []float32{1}, []float32{float32(1 + 0x1p-18)}, []float32{float32(1 + 0x1p-23)}, []float32{1}
	p2, m2, v2 := []float32{1}, []float32{float32(1 + 0x1p-23)}, []float32{1}
	k.runAVX2(p, g, m, v)
	k.runGo(p2, g, m2, v2)
	if m[0] != float32(1+0x1p-23) || m2[0] != m[0] || p[0] != p2[0] {
		t.Errorf("halfway case: avx2 m %v p %v, go m %v p %v, want m %v", m[0], p[0], m2[0], p2[0], float32(1+0x1p-23))
	}
}

// TestClipAVX2 checks the AVX2 sum of squares against a float64 reference and the
// AVX2 scaling bit for bit against a scalar multiply, at ragged lengths.
func TestClipAVX2(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 15, 16, 17, 100, 1 << 17} {
		g := make([]float32, n)
		want := 0.0
		for i := range g {
			g[i] = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(20)-10)))
			want += float64(g[i]) * float64(g[i])
		}
		if got := sumSquares(g); math.Abs(got-want) > 1e-13*want {
			t.Errorf("n=%d: sumSquares %v, want %v", n, got, want)
		}
		if n > 0 {
			if got, w := GradNorm(g), math.Sqrt(want); math.Abs(got-w) > 1e-13*w {
				t.Errorf("n=%d: GradNorm %v, want %v", n, got, w)
			}
		}
		coef := float32(0.37)
		scaled := append([]float32(nil), g...)
		ScaleGrads(scaled, coef)
		for i := range g {
			if scaled[i] != g[i]*coef {
				t.Fatalf("n=%d: ScaleGrads element %d = %v, want %v", n, i, scaled[i], g[i]*coef)
			}
		}
	}
}
