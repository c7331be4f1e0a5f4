package kernels

import (
	"math"
	"testing"
)

// geluSweep is a dense grid over [-16, 16] plus special values; length not a multiple of 8.
func geluSweep() []float32 {
	var x []float32
	for v := -16.0; v <= 16; v += 0.00037 {
		x = append(x, float32(v))
	}
	return append(x, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-40, 3e4, -3e4, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.NaN()))
}

// TestGELUKernelsAccuracy checks the dispatched kernels (AVX2 where available) and the
// portable float64 ones against float64 erfc-form references over a wide range,
// including the tails: forward relative error below 1e-6 (absolute 1e-35 in the far
// tails), backward below 1e-6 relative to max(|GELU'(x)|, Φ(x)).
func TestGELUKernelsAccuracy(t *testing.T) {
	x := geluSweep()
	ones := make([]float32, len(x))
	for i := range ones {
		ones[i] = 1
	}
	check := func(name string, fwd func(o, x []float32), back func(o, x, d []float32)) {
		out, d := nan32(len(x)), nan32(len(x))
		fwd(out, x)
		back(d, x, ones)
		worstF, worstB := 0.0, 0.0
		for i, v := range x {
			xv := float64(v)
			if math.IsNaN(xv) {
				if !math.IsNaN(float64(out[i])) || !math.IsNaN(float64(d[i])) {
					t.Errorf("%s: NaN input gave %g, %g", name, out[i], d[i])
				}
				continue
			}
			if math.IsInf(xv, 1) {
				if !math.IsInf(float64(out[i]), 1) || d[i] != 1 {
					t.Errorf("%s: +Inf gave %g, %g", name, out[i], d[i])
				}
				continue
			}
			cdf := 0.5 * math.Erfc(-xv/math.Sqrt2)
			f := xv * cdf
			g := cdf + xv*math.Exp(-xv*xv/2)/math.Sqrt(2*math.Pi)
			// Below 1e-35 (|x| > 13: the kernels flush Φ(-|x|) to 0) only absolute closeness counts. The
			// backward's scale is its larger term, Φ(x) vs |x|·φ(x): near its root
			// (x ≈ -0.75) GELU' cancels and relative error is meaningless.
			ef := math.Abs(float64(out[i])-f) / math.Max(math.Abs(f), 1e-30)
			eb := math.Abs(float64(d[i])-g) / math.Max(math.Max(math.Abs(g), cdf), 1e-30)
			if math.Abs(float64(out[i])-f) < 1e-35 {
				ef = 0
			}
			if math.Abs(float64(d[i])-g) < 1e-35 {
				eb = 0
			}
			if ef > worstF {
				worstF = ef
			}
			if eb > worstB {
				worstB = eb
			}
			if ef > 1e-6 || eb > 1e-6 {
				t.Errorf("%s: x=%g: gelu %g want %g (rel %g), gelu' %g want %g (rel %g)", name, v, out[i], f, ef, d[i], g, eb)
				return
			}
		}
		t.Logf("%s: worst relative error forward %.3g, backward %.3g", name, worstF, worstB)
	}
	check("dispatched", geluRange, geluBackRange)
	check("go", geluRangeGo, geluBackRangeGo)
	if useAVX2 {
		check("avx2", geluRangeAVX2, geluBackRangeAVX2)
	}
}

// TestGELUAVX2MatchesGo compares the AVX2 kernels with the portable ones element by
// element (within 3 float32 ulps-ish relative), on random data at ragged lengths.
func TestGELUAVX2MatchesGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA")
	}
	r := newRand(24)
	for _, n := range []int{1, 7, 8, 9, 63, 1000} {
		x, g := randn(r, n, 4), randn(r, n, 1)
		a, b := nan32(n), nan32(n)
		geluRangeAVX2(a, x)
		geluRangeGo(b, x)
		checkClose(t, "forward", a, to64(b), 1e-30, 1e-6)
		geluBackRangeAVX2(a, x, g)
		geluBackRangeGo(b, x, g)
		// GELU' cancels near x = -0.75: compare on the scale of |dout|.
		for i := range a {
			if d := math.Abs(float64(a[i] - b[i])); d > 1e-6*math.Abs(float64(g[i])) {
				t.Errorf("n=%d: backward element %d (x=%g): avx2 %g, go %g", n, i, x[i], a[i], b[i])
			}
		}
	}
}

// TestExpShiftAVX2 checks the AVX2 exp against math.Exp over its whole range, its
// flush to 0 below -86.5, and NaN propagation.
func TestExpShiftAVX2(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA")
	}
	var x []float32
	for v := -86.4; v <= 0; v += 0.0013 {
		x = append(x, float32(v))
	}
	x = x[:len(x)&^7]
	out := nan32(len(x))
	sum := expShiftAVX2(&out[0], &x[0], len(x), 0)
	worst, want := 0.0, 0.0
	for i, v := range x {
		e := math.Exp(float64(v))
		want += e
		worst = math.Max(worst, math.Abs(float64(out[i])-e)/e)
	}
	if worst > 3e-7 {
		t.Errorf("exp worst relative error %g", worst)
	}
	if math.Abs(float64(sum)-want)/want > 1e-5 {
		t.Errorf("sum %g, want %g", sum, want)
	}
	t.Logf("exp worst relative error %.3g", worst)
	y := []float32{-100, -1e4, float32(math.Inf(-1)), -86.6, 5, 5, float32(math.NaN()), 0}
	out = nan32(8)
	expShiftAVX2(&out[0], &y[0], 8, 5)
	for i := 0; i < 4; i++ {
		if out[i] != 0 {
			t.Errorf("exp(%g - 5) = %g, want 0", y[i], out[i])
		}
	}
	if out[4] != 1 || !math.IsNaN(float64(out[6])) {
		t.Errorf("exp(0) = %g, exp(NaN) = %g", out[4], out[6])
	}
}

// TestSoftmaxAVX2MatchesGo compares the float32 AVX2 softmax rows with the float64
// ones, with -10000 attention-mask entries (exactly 0 in both) at ragged lengths.
func TestSoftmaxAVX2MatchesGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA")
	}
	r := newRand(25)
	for _, n := range []int{1, 3, 8, 17, 101, 500} {
		x := randn(r, n, 5)
		for i := n / 2; i < n && n > 1; i += 3 {
			x[i] -= 10000
		}
		a, b := nan32(n), nan32(n)
		softmaxRowAVX2(a, x)
		softmaxRowGo(b, x)
		checkClose(t, "softmax", a, to64(b), 1e-30, 1e-6)
		for i := range a {
			if (a[i] == 0) != (b[i] == 0) {
				t.Errorf("n=%d element %d: avx2 %g, go %g", n, i, a[i], b[i])
			}
		}
	}
}

// TestAddAVX2 checks the vector add (bit-exact) at ragged lengths and aliasing.
func TestAddAVX2(t *testing.T) {
	r := newRand(26)
	for _, n := range []int{0, 1, 7, 8, 9, 16, 23, 24, 1001} {
		a, b := randn(r, n, 1), randn(r, n, 1)
		want := make([]float32, n)
		for i := range want {
			want[i] = a[i] + b[i]
		}
		got := nan32(n)
		addRange(got, a, b)
		checkEqual(t, "add", got, want)
		addRange(a, a, b)
		checkEqual(t, "add aliasing", a, want)
	}
}

// TestDropoutApplyMatchesKeep checks masker.apply (AVX2 on whole vectors where
// available) bit for bit against the per-element keep test, for several P, seeds,
// odd and even bases and ragged lengths.
func TestDropoutApplyMatchesKeep(t *testing.T) {
	r := newRand(27)
	for _, p := range []float32{0.1, 0.5, 0.999, 1} {
		for _, seed := range []uint64{0, 7, 1 << 40} {
			m := Dropout{P: p, Seed: seed}.masker()
			for _, base := range []uint64{0, 1, 6, 12345, 1<<33 + 3} {
				for _, n := range []int{1, 8, 9, 17, 100} {
					s := randn(r, n, 1)
					s[0] = float32(math.Copysign(0, -1))
					got := nan32(n)
					m.apply(got, s, base)
					for i := range s {
						want := s[i] * m.factor(base+uint64(i))
						if math.Float32bits(got[i]) != math.Float32bits(want) {
							t.Fatalf("P=%v seed=%d base=%d n=%d element %d: %v, want %v", p, seed, base, n, i, got[i], want)
						}
					}
				}
			}
		}
	}
}
