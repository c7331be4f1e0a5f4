package visual

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/parallel"
)

func randSlice(rng *rand.Rand, n int, scale float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64()) * scale
	}
	return s
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func maxAbsDiff32(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func maxAbsDiff64(a []float32, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-b[i]))
	}
	return m
}

func dot64(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// fdGrad returns the central-difference gradient of f at x (float64), probing at
// most maxProbe evenly spread coordinates (the rest are NaN).
func fdGrad(x []float64, f func([]float64) float64, h float64, maxProbe int) []float64 {
	g := make([]float64, len(x))
	step := 1
	if maxProbe > 0 && len(x) > maxProbe {
		step = len(x) / maxProbe
	}
	for i := range g {
		g[i] = math.NaN()
	}
	for i := 0; i < len(x); i += step {
		old := x[i]
		x[i] = old + h
		fp := f(x)
		x[i] = old - h
		fm := f(x)
		x[i] = old
		g[i] = (fp - fm) / (2 * h)
	}
	return g
}

// checkGrad compares an analytic float32 gradient with a float64 numeric one on
// the probed coordinates: |a−n| <= atol + rtol·|n|.
func checkGrad(t *testing.T, name string, analytic []float32, numeric []float64, atol, rtol float64) {
	t.Helper()
	var worst float64
	probed := 0
	for i, n := range numeric {
		if math.IsNaN(n) {
			continue
		}
		probed++
		d := math.Abs(float64(analytic[i]) - n)
		worst = max(worst, d)
		if d > atol+rtol*math.Abs(n) {
			t.Fatalf("%s: grad[%d] analytic %g numeric %g", name, i, analytic[i], n)
		}
	}
	t.Logf("%s: %d coordinates probed, max abs diff %.3g", name, probed, worst)
}

// withThreads runs fn with the worker count set to n.
func withThreads(n int, fn func()) {
	prev := parallel.SetThreads(n)
	defer parallel.SetThreads(prev)
	fn()
}

func readGolden(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile("../../testdata/golden/" + name)
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	return a
}
