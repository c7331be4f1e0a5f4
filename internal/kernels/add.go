package kernels

// Add sets out = a + b elementwise. All three have the same length; out may alias a or b
// (Add(x, x, y) accumulates y into x, as on a residual stream).
func Add(out, a, b []float32) {
	sameLen("Add", "out", out, "a", a)
	sameLen("Add", "out", out, "b", b)
	if serial(len(out), elemChunk) {
		addRange(out, a, b)
		return
	}
	forElems3(len(out), elemChunk, out, a, b, addRange)
}

// addRange sets o = x + y (exact elementwise: the AVX2 and Go loops agree bit for bit).
func addRange(o, x, y []float32) {
	y = y[:len(o)]
	x = x[:len(o)]
	i0 := 0
	if useAVX2 {
		if i0 = len(o) &^ 7; i0 > 0 {
			addAVX2(&o[0], &x[0], &y[0], i0)
		}
	}
	for i := i0; i < len(o); i++ {
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
	forRows2(N, rowChunk(C), m, v, C, addRowsRange)
}

func addRowsRange(m, v []float32, lo, hi, C int) {
	v = v[:C]
	for n := lo; n < hi; n++ {
		row := m[n*C : (n+1)*C]
		addRange(row, row, v)
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
