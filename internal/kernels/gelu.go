package kernels

// GELUForward computes out = x*Φ(x) = x*0.5*(1+erf(x/√2)) (BERT's exact, erf-form GELU)
// elementwise. len(out) must equal len(inp); out may alias inp. Φ comes from piecewise
// polynomial tables accurate to 1e-7 relative (piecewise.go), so the result is the
// float32 rounding of the exact GELU to within an ulp or so.
func GELUForward(out, inp []float32) {
	sameLen("GELUForward", "out", out, "inp", inp)
	if serial(len(inp), elemChunk/4) {
		geluRange(out, inp)
		return
	}
	forElems2(len(inp), elemChunk/4, out, inp, geluRange)
}

func geluRange(o, x []float32) {
	o = o[:len(x)]
	if useAVX2 {
		geluRangeAVX2(o, x)
		return
	}
	geluRangeGo(o, x)
}

// geluRangeGo is the portable float64 version (piecewise tables).
func geluRangeGo(o, x []float32) {
	o = o[:len(x)]
	for i, v := range x {
		o[i] = float32(float64(v) * geluCDF(float64(v)))
	}
}

// GELUBackward sets dinp = dout*(Φ(x) + x*φ(x)) elementwise (OVERWRITTEN; nil skipped).
// inp is the forward input x. dinp may alias dout (not inp).
func GELUBackward(dinp, inp, dout []float32) {
	if dinp == nil {
		return
	}
	sameLen("GELUBackward", "dinp", dinp, "inp", inp)
	sameLen("GELUBackward", "dout", dout, "inp", inp)
	if serial(len(inp), elemChunk/4) {
		geluBackRange(dinp, inp, dout)
		return
	}
	forElems3(len(inp), elemChunk/4, dinp, inp, dout, geluBackRange)
}

func geluBackRange(o, x, d []float32) {
	o, d = o[:len(x)], d[:len(x)]
	if useAVX2 {
		geluBackRangeAVX2(o, x, d)
		return
	}
	geluBackRangeGo(o, x, d)
}

// geluBackRangeGo is the portable float64 version (piecewise tables).
func geluBackRangeGo(o, x, d []float32) {
	o, d = o[:len(x)], d[:len(x)]
	for i, v := range x {
		o[i] = float32(float64(d[i]) * geluGrad(float64(v)))
	}
}

// geluRangeAVX2 runs the AVX2 kernel on whole vectors and on a padded copy of the
// last len%8 elements, so every element gets the same arithmetic wherever a parallel
// chunk boundary falls (results do not depend on the thread count).
func geluRangeAVX2(o, x []float32) {
	n8 := len(x) &^ 7
	if n8 > 0 {
		geluAVX2(&o[0], &x[0], n8)
	}
	if r := len(x) - n8; r > 0 {
		var bx, bo [8]float32
		copy(bx[:], x[n8:])
		geluAVX2(&bo[0], &bx[0], 8)
		copy(o[n8:], bo[:r])
	}
}

// geluBackRangeAVX2 is geluRangeAVX2 for the backward kernel.
func geluBackRangeAVX2(o, x, d []float32) {
	n8 := len(x) &^ 7
	if n8 > 0 {
		geluBackAVX2(&o[0], &x[0], &d[0], n8)
	}
	if r := len(x) - n8; r > 0 {
		var bx, bd, bo [8]float32
		copy(bx[:], x[n8:])
		copy(bd[:], d[n8:])
		geluBackAVX2(&bo[0], &bx[0], &bd[0], 8)
		copy(o[n8:], bo[:r])
	}
}
