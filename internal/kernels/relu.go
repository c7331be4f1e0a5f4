package kernels

import "github.com/vlbert/vlbert/internal/parallel"

// ReLUForward sets out = max(inp, 0) elementwise. len(out) must equal len(inp); out may
// alias inp. NaN stays NaN, as in PyTorch.
func ReLUForward(out, inp []float32) {
	sameLen("ReLUForward", "out", out, "inp", inp)
	parallel.For(len(inp), elemChunk, func(lo, hi int) {
		x, o := inp[lo:hi], out[lo:hi]
		for i, v := range x {
			if v < 0 {
				v = 0
			}
			o[i] = v
		}
	})
}

// ReLUBackward sets dinp = dout where the forward OUTPUT is > 0, else 0 (OVERWRITTEN; nil
// skipped; may alias dout or out).
func ReLUBackward(dinp, out, dout []float32) {
	if dinp == nil {
		return
	}
	sameLen("ReLUBackward", "dinp", dinp, "out", out)
	sameLen("ReLUBackward", "dout", dout, "out", out)
	parallel.For(len(out), elemChunk, func(lo, hi int) {
		y, d, o := out[lo:hi], dout[lo:hi], dinp[lo:hi]
		for i, v := range y {
			if v > 0 {
				o[i] = d[i]
			} else {
				o[i] = 0
			}
		}
	})
}
