package kernels

import (
	"math"
	"testing"
)

func TestDropoutIdentityAndZero(t *testing.T) {
	r := newRand(50)
	x := randn(r, 1000, 1)
	out := nan32(len(x))
	DropoutForward(out, x, Dropout{P: 0, Seed: 9})
	checkEqual(t, "P=0", out, x)
	DropoutForward(out, x, Dropout{P: 1, Seed: 9})
	for i, v := range out {
		if v != 0 {
			t.Fatalf("P=1: out[%d] = %g", i, v)
		}
	}
	DropoutForward(nil, nil, Dropout{P: 0.5}) // empty is fine
}

func TestDropoutStatisticsAndScale(t *testing.T) {
	const n = 1 << 20
	x := fill(make([]float32, n), 1)
	out := make([]float32, n)
	for _, p := range []float32{0.1, 0.5, 0.9} {
		d := Dropout{P: p, Seed: 12345}
		DropoutForward(out, x, d)
		kept := 0
		scale := 1 / (1 - p)
		for i, v := range out {
			switch v {
			case 0:
				if d.Keep(i) {
					t.Fatalf("P=%g: element %d kept by Keep but zero", p, i)
				}
			case scale:
				kept++
				if !d.Keep(i) {
					t.Fatalf("P=%g: element %d dropped by Keep but nonzero", p, i)
				}
			default:
				t.Fatalf("P=%g: out[%d] = %g, want 0 or %g", p, i, v, scale)
			}
		}
		want := float64(n) * float64(1-p)
		sd := math.Sqrt(float64(n) * float64(p) * float64(1-p))
		if math.Abs(float64(kept)-want) > 5*sd {
			t.Errorf("P=%g: kept %d of %d, want %.0f ± %.0f", p, kept, n, want, 5*sd)
		}
	}
}

func TestDropoutSeedsIndependent(t *testing.T) {
	const n = 1 << 18
	a := Dropout{P: 0.5, Seed: 7}
	for _, b := range []Dropout{{P: 0.5, Seed: 8}, a.Fork(1), a.Fork(2), {P: 0.5, Seed: 7 + golden64}} {
		same := 0
		for i := 0; i < n; i++ {
			if a.Keep(i) == b.Keep(i) {
				same++
			}
		}
		// Independent masks agree on half the elements.
		if math.Abs(float64(same)-n/2) > 5*math.Sqrt(n/4) {
			t.Errorf("seed %#x vs %#x: masks agree on %d of %d", a.Seed, b.Seed, same, n)
		}
	}
	if a.Fork(1).Seed == a.Fork(2).Seed || a.Fork(1).Fork(2).Seed == a.Fork(2).Fork(1).Seed {
		t.Error("Fork collisions")
	}
}

func TestDropoutBackwardGradCheck(t *testing.T) {
	r := newRand(51)
	d := Dropout{P: 0.3, Seed: 77}
	x, g := randn(r, 300, 1), randn(r, 300, 1)
	x64 := to64(x)
	loss := func() float64 {
		y := make([]float64, len(x64))
		for i, v := range x64 {
			if d.Keep(i) {
				y[i] = v / (1 - 0.3)
			}
		}
		return dot64(g, y)
	}
	dinp := nan32(len(x))
	DropoutBackward(dinp, g, d)
	checkClose(t, "dinp", dinp, fdGrad(loss, x64, 1e-3), 1e-5, 1e-5)
	// Forward and backward use the same mask; in place works.
	out := make([]float32, len(x))
	DropoutForward(out, x, d)
	DropoutForward(x, x, d)
	checkEqual(t, "in place", x, out)
	DropoutBackward(nil, g, d)
}

func TestDropoutThreadInvariant(t *testing.T) {
	r := newRand(52)
	x := randn(r, 200000, 1)
	checkThreadInvariant(t, "dropout", func() [][]float32 {
		o := make([]float32, len(x))
		DropoutForward(o, x, Dropout{P: 0.1, Seed: 3})
		return [][]float32{o}
	})
}

func TestDropoutPanics(t *testing.T) {
	s := make([]float32, 4)
	mustPanic(t, "outside [0,1]", func() { DropoutForward(s, s, Dropout{P: 1.5}) })
	mustPanic(t, "outside [0,1]", func() { DropoutForward(s, s, Dropout{P: float32(math.NaN())}) })
	mustPanic(t, "dinp has 3", func() { DropoutBackward(s[:3], s, Dropout{}) })
}

// apply (pairs of elements per hash, any alignment) must agree with Keep element by element.
func TestDropoutApplyAlignment(t *testing.T) {
	d := Dropout{P: 0.37, Seed: 2024}
	m := d.masker()
	x := fill(make([]float32, 41), 1)
	for base := uint64(0); base < 4; base++ {
		for n := 0; n <= len(x); n++ {
			o := nan32(n)
			m.apply(o, x[:n], base)
			for i, v := range o {
				want := float32(0)
				if d.Keep(int(base) + i) {
					want = d.Scale()
				}
				if v != want {
					t.Fatalf("base %d n %d: element %d = %g, want %g", base, n, i, v, want)
				}
			}
		}
	}
}

// BenchmarkDropoutRows applies dropout row by row at the attention shape (rows of 101
// probabilities), where the per-call cost matters: a legacy-SSE instruction among the
// AVX ones once made every call cost ~700 ns on this VM's Zen 3 (see asm_test.go).
func BenchmarkDropoutRows(b *testing.B) {
	const T, rows = 101, 9696 // one layer's attention rows at batch 8, 12 heads
	src, dst := make([]float32, T*rows), make([]float32, T*rows)
	m := Dropout{P: 0.1, Seed: 3}.masker()
	b.SetBytes(int64(8 * T * rows))
	for i := 0; i < b.N; i++ {
		for r := 0; r < rows; r++ {
			m.apply(dst[r*T:(r+1)*T], src[r*T:(r+1)*T], uint64(r*T))
		}
	}
}
