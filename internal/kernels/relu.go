package kernels

// ReLUForward sets out = max(inp, 0) elementwise. len(out) must equal len(inp); out may
// alias inp. NaN stays NaN, as in PyTorch.
func ReLUForward(out, inp []float32) {
	sameLen("ReLUForward", "out", out, "inp", inp)
	if serial(len(inp), elemChunk) {
		reluRange(out, inp)
		return
	}
	forElems2(len(inp), elemChunk, out, inp, reluRange)
}

func reluRange(o, x []float32) {
	o = o[:len(x)]
	for i, v := range x {
		if v < 0 {
			v = 0
		}
		o[i] = v
	}
}

// ReLUBackward sets dinp = dout where the forward OUTPUT is > 0, else 0 (OVERWRITTEN; nil
// skipped; may alias dout or out).
func ReLUBackward(dinp, out, dout []float32) {
	if dinp == nil {
		return
	}
	sameLen("ReLUBackward", "dinp", dinp, "out", out)
	sameLen("ReLUBackward", "dout", dout, "out", out)
	if serial(len(out), elemChunk) {
		reluBackRange(dinp, out, dout)
		return
	}
	forElems3(len(out), elemChunk, dinp, out, dout, reluBackRange)
}

func reluBackRange(o, y, d []float32) {
	o, d = o[:len(y)], d[:len(y)]
	for i, v := range y {
		if v > 0 {
			o[i] = d[i]
		} else {
			o[i] = 0
		}
	}
}
