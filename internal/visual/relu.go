package visual

import "github.com/vlbert/vlbert/internal/parallel"

// ReLUForward sets out[i] = max(inp[i], 0). out is overwritten and may alias inp.
func ReLUForward(out, inp []float32) {
	checkLen("relu out", len(out), len(inp))
	parallel.ForArgs(len(inp), 1<<14, reluArgs{out, inp, nil}, func(a *reluArgs, lo, hi int) {
		out, inp := a.out, a.inp
		for i := lo; i < hi; i++ {
			if v := inp[i]; v > 0 {
				out[i] = v
			} else {
				out[i] = 0
			}
		}
	})
}

// ReLUBackward sets dinp[i] = dout[i] where the forward output out[i] > 0, else 0.
// dinp is OVERWRITTEN and may alias dout.
func ReLUBackward(dinp, out, dout []float32) {
	checkLen("relu out", len(out), len(dout))
	checkLen("relu dinp", len(dinp), len(dout))
	parallel.ForArgs(len(dout), 1<<14, reluArgs{dinp, out, dout}, func(a *reluArgs, lo, hi int) {
		dinp, out, dout := a.out, a.inp, a.dout
		for i := lo; i < hi; i++ {
			if out[i] > 0 {
				dinp[i] = dout[i]
			} else {
				dinp[i] = 0
			}
		}
	})
}

// reluArgs carries the ReLU loops' inputs to parallel.ForArgs (no closure: no
// allocation per call).
type reluArgs struct{ out, inp, dout []float32 }
