package heads

import "github.com/vlbert/vlbert/internal/kernels"

// FinalMLP is a task module's final_mlp for NETWORK.CLASSIFIER_TYPE (the VQA and VCR
// modules' __init__):
//
//	"mlm": [BertPredictionHeadTransform, Dropout, Linear(H→Out)]         keys final_mlp.0.*, final_mlp.2
//	"1fc": [Dropout, Linear(H→Out)]                                       key  final_mlp.1
//	"2fc": [Dropout, Linear(H→CH), ReLU, Dropout, Linear(CH→Out)]         keys final_mlp.1, final_mlp.4
//
// All three are one pipeline: the optional Transform, a dropout, the optional Hidden
// Linear with its ReLU and second dropout, then Out. CH is CLASSIFIER_HIDDEN_SIZE.
type FinalMLP struct {
	Transform *Transform // "mlm" only
	Hidden    *Linear    // "2fc" only: Linear(H→CH), followed by ReLU and a dropout
	Out       Linear
}

// FinalMLPActs are the saved activations of one FinalMLP forward.
type FinalMLPActs struct {
	t            TransformActs
	in           []float32 // [n*H] input of the first dropout
	dropped      []float32 // [n*H] after it
	hidden       []float32 // [n*CH] ReLU(Hidden(dropped)), 2fc only
	hidDropped   []float32 // [n*CH] after the second dropout
	drop0, drop1 kernels.Dropout
	Logits       []float32 // [n*Out]
	n            int
}

// Forward computes Logits [n*Out] from h [n*H]; h must stay unchanged until
// Backward. The second dropout (2fc) draws from drop.Fork(1).
func (f *FinalMLP) Forward(a *FinalMLPActs, ar Arena, h []float32, n int, drop kernels.Dropout) {
	a.n, a.drop0, a.drop1 = n, drop, drop.Fork(1)
	a.in = h
	if f.Transform != nil {
		f.Transform.Forward(&a.t, ar, h, n)
		a.in = a.t.Out()
	}
	a.dropped = dropForward(ar, a.in, a.drop0)
	x := a.dropped
	if f.Hidden != nil {
		a.hidden = ar.Alloc(n * f.Hidden.Out)
		f.Hidden.Forward(a.hidden, x, n)
		kernels.ReLUForward(a.hidden, a.hidden)
		a.hidDropped = dropForward(ar, a.hidden, a.drop1)
		x = a.hidDropped
	}
	a.Logits = ar.Alloc(n * f.Out.Out)
	f.Out.Forward(a.Logits, x, n)
}

// Backward overwrites dh [n*H] (skipped when nil) from dlogits [n*Out] and
// accumulates every parameter gradient.
func (f *FinalMLP) Backward(a *FinalMLPActs, ar Arena, dh, dlogits []float32) {
	n := a.n
	x := a.dropped
	if f.Hidden != nil {
		x = a.hidDropped
	}
	dx := ar.Alloc(len(x))
	f.Out.Backward(dx, dlogits, x, n)
	if f.Hidden != nil {
		dhid := dropBackward(ar, dx, a.drop1)
		kernels.ReLUBackward(dhid, a.hidden, dhid)
		dx = ar.Alloc(len(a.dropped))
		f.Hidden.Backward(dx, dhid, a.dropped, n)
	}
	din := dropBackward(ar, dx, a.drop0)
	if f.Transform != nil {
		f.Transform.Backward(&a.t, ar, dh, din)
		return
	}
	if dh != nil {
		copy(dh, din)
	}
}

// dropForward returns x after dropout d (x itself when d is inactive).
func dropForward(ar Arena, x []float32, d kernels.Dropout) []float32 {
	if d.P == 0 {
		return x
	}
	y := ar.Alloc(len(x))
	kernels.DropoutForward(y, x, d)
	return y
}

// dropBackward returns the gradient through dropout d (dy itself when inactive).
func dropBackward(ar Arena, dy []float32, d kernels.Dropout) []float32 {
	if d.P == 0 {
		return dy
	}
	dx := ar.Alloc(len(dy))
	kernels.DropoutBackward(dx, dy, d)
	return dx
}
