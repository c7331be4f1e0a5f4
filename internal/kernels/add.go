package kernels

import "github.com/vlbert/vlbert/internal/parallel"

// Add sets out = a + b elementwise. All three have the same length; out may alias a or b
// (Add(x, x, y) accumulates y into x, as on a residual stream).
func Add(out, a, b []float32) {
	sameLen("Add", "out", out, "a", a)
	sameLen("Add", "out", out, "b", b)
	if serial(len(out), elemChunk) {
		addRange(out, a, b)
		return
	}
	parallel.For(len(out), elemChunk, func(lo, hi int) { addRange(out[lo:hi], a[lo:hi], b[lo:hi]) })
}

func addRange(o, x, y []float32) {
	y = y[:len(o)]
	x = x[:len(o)]
	for i := range o {
		o[i] = x[i] + y[i]
	}
}

// AddRows adds the vector v [C] to every row of m [N,C] in place (a broadcast bias add).
func AddRows(m, v []float32, N, C int) {
	const fn = "AddRows"
	nonNeg(fn, N, C)
	need(fn, "m", m, N*C)
	need(fn, "v", v, C)
	if serial(N, rowChunk(C)) {
		addRowsRange(m, v, 0, N, C)
		return
	}
	parallel.For(N, rowChunk(C), func(lo, hi int) { addRowsRange(m, v, lo, hi, C) })
}

func addRowsRange(m, v []float32, lo, hi, C int) {
	v = v[:C]
	for n := lo; n < hi; n++ {
		row := m[n*C : (n+1)*C]
		for j, b := range v {
			row[j] += b
		}
	}
}

// SumRows ACCUMULATES the column sums of m [N,C] into dst [C] (dst += Σ_n m[n,:]), the
// backward of AddRows for its vector. Deterministic for any thread count.
func SumRows(dst, m []float32, N, C int) {
	const fn = "SumRows"
	nonNeg(fn, N, C)
	need(fn, "dst", dst, C)
	need(fn, "m", m, N*C)
	colSumAdd(dst[:C], m, N, C)
}
