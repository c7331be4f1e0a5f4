package kernels

import (
	"math"
)

// TanhForward sets out = tanh(inp) elementwise (BERT's pooler activation).
// len(out) must equal len(inp); out may alias inp.
func TanhForward(out, inp []float32) {
	sameLen("TanhForward", "out", out, "inp", inp)
	if serial(len(inp), elemChunk/8) {
		tanhRange(out, inp)
		return
	}
	forElems2(len(inp), elemChunk/8, out, inp, tanhRange)
}

func tanhRange(o, x []float32) {
	o = o[:len(x)]
	for i, v := range x {
		o[i] = float32(math.Tanh(float64(v)))
	}
}

// TanhBackward sets dinp = dout*(1-out²) from the forward OUTPUT (OVERWRITTEN; nil
// skipped; may alias dout or out).
func TanhBackward(dinp, out, dout []float32) {
	if dinp == nil {
		return
	}
	sameLen("TanhBackward", "dinp", dinp, "out", out)
	sameLen("TanhBackward", "dout", dout, "out", out)
	if serial(len(out), elemChunk) {
		tanhBackRange(dinp, out, dout)
		return
	}
	forElems3(len(out), elemChunk, dinp, out, dout, tanhBackRange)
}

func tanhBackRange(o, y, d []float32) {
	o, d = o[:len(y)], d[:len(y)]
	for i, v := range y {
		o[i] = d[i] * (1 - v*v)
	}
}
