package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/parallel"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// randn returns n normal float32 values with standard deviation std.
func randn(r *rand.Rand, n int, std float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * std)
	}
	return s
}

func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

func fill(s []float32, v float32) []float32 {
	for i := range s {
		s[i] = v
	}
	return s
}

func clone(s []float32) []float32 { return append([]float32(nil), s...) }

// dot64 is Σ g_i*y_i, the scalar whose gradient the gradient checks compare.
func dot64(g []float32, y []float64) float64 {
	var s float64
	for i, v := range y {
		s += float64(g[i]) * v
	}
	return s
}

// fdGrad returns dL/dx by central differences of L = f() in float64, perturbing x in place
// (x is restored).
func fdGrad(f func() float64, x []float64, h float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		old := x[i]
		x[i] = old + h
		fp := f()
		x[i] = old - h
		fm := f()
		x[i] = old
		g[i] = (fp - fm) / (2 * h)
	}
	return g
}

// checkClose fails unless |got-want| <= atol + rtol*|want| elementwise.
func checkClose(t *testing.T, name string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%s: got %d values, want %d", name, len(got), len(want))
	}
	worst, wi := 0.0, -1
	for i, w := range want {
		d := math.Abs(float64(got[i]) - w)
		if math.IsNaN(float64(got[i])) || d > atol+rtol*math.Abs(w) {
			if wi < 0 || d > worst || math.IsNaN(d) {
				worst, wi = d, i
			}
		}
	}
	if wi >= 0 {
		t.Errorf("%s: element %d: got %g, want %g (|diff| %g, atol %g rtol %g)", name, wi, got[wi], want[wi], worst, atol, rtol)
	}
}

// checkEqual fails unless got and want are bit-for-bit equal.
func checkEqual(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: lengths %d and %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d differs: %g vs %g", name, i, got[i], want[i])
		}
	}
}

// withThreads runs f with the given worker count.
func withThreads(n int, f func()) {
	prev := parallel.SetThreads(n)
	defer parallel.SetThreads(prev)
	f()
}

// checkThreadInvariant runs f (which returns freshly computed outputs) with 1 and with 4
// threads and requires bit-identical results.
func checkThreadInvariant(t *testing.T, name string, f func() [][]float32) {
	t.Helper()
	var serial, par [][]float32
	withThreads(1, func() { serial = f() })
	withThreads(4, func() { par = f() })
	for i := range serial {
		checkEqual(t, fmt.Sprintf("%s output %d (1 vs 4 threads)", name, i), par[i], serial[i])
	}
}

// mustPanic requires f to panic with a message starting "kernels: " and containing sub.
func mustPanic(t *testing.T, sub string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one containing %q", sub)
		}
		msg := fmt.Sprint(r)
		if !strings.HasPrefix(msg, "kernels: ") || !strings.Contains(msg, sub) {
			t.Fatalf("panic %q, want \"kernels: ...%s...\"", msg, sub)
		}
	}()
	f()
}

// nan32 returns a slice of n NaNs, to show that an overwritten destination is not read.
func nan32(n int) []float32 { return fill(make([]float32, n), float32(math.NaN())) }
