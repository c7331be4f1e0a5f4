package kernels

import "testing"

func TestAdd(t *testing.T) {
	r := newRand(30)
	a, b := randn(r, 100001, 1), randn(r, 100001, 1)
	want := make([]float64, len(a))
	for i := range a {
		want[i] = float64(a[i] + b[i])
	}
	out := nan32(len(a))
	Add(out, a, b)
	checkClose(t, "out", out, want, 0, 0)
	x := clone(a)
	Add(x, x, b) // aliasing: residual accumulate
	checkEqual(t, "aliased", x, out)
	checkThreadInvariant(t, "add", func() [][]float32 {
		o := make([]float32, len(a))
		Add(o, a, b)
		return [][]float32{o}
	})
	mustPanic(t, "b has 3", func() { Add(make([]float32, 4), make([]float32, 4), make([]float32, 3)) })
}

func TestAddRowsSumRows(t *testing.T) {
	r := newRand(31)
	N, C := 300, 130
	m, v := randn(r, N*C, 1), randn(r, C, 1)
	got := clone(m)
	AddRows(got, v, N, C)
	for n := 0; n < N; n++ {
		for j := 0; j < C; j++ {
			if got[n*C+j] != m[n*C+j]+v[j] {
				t.Fatalf("AddRows at %d,%d", n, j)
			}
		}
	}
	// SumRows is AddRows' backward for v: gradient check of L = Σ g·AddRows(m, v).
	g := randn(r, N*C, 1)
	dv := fill(make([]float32, C), 1)
	SumRows(dv, g, N, C)
	want := make([]float64, C)
	for j := range want {
		want[j] = 1
		for n := 0; n < N; n++ {
			want[j] += float64(g[n*C+j])
		}
	}
	checkClose(t, "SumRows accumulates", dv, want, 1e-4, 1e-5)
	checkThreadInvariant(t, "sumrows", func() [][]float32 {
		d := make([]float32, C)
		SumRows(d, g, N, C)
		return [][]float32{d}
	})
}
