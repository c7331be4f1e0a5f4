// Package heads holds the task heads of VL-BERT and their losses as forward/backward
// pairs over flat float32 buffers: BertPredictionHeadTransform (dense, GELU, LayerNorm),
// the MVRC transform (dense, GELU), the VQA [MASK]-position classifier, the tied MLM
// decoder, the MVRC region classifier and the relationship classifier.
//
// A head holds views of its parameters and gradients (slices into the model's arenas);
// it never allocates: activation buffers come from an Arena the caller resets per
// pass. Parameter gradients accumulate (+=); input gradients are overwritten.
package heads

import "github.com/vlbert/vlbert/internal/kernels"

// Arena hands out zeroed scratch buffers valid until the caller's next reset.
type Arena interface {
	Alloc(n int) []float32
}

// Linear is nn.Linear: W [Out,In], B [Out] (B may be nil), with gradients GW, GB.
type Linear struct {
	W, B, GW, GB []float32
	In, Out      int
}

// Forward writes out[n,Out] = inp[n,In]·Wᵀ + B.
func (l *Linear) Forward(out, inp []float32, n int) {
	kernels.LinearForward(out, inp, l.W, l.B, n, l.In, l.Out)
}

// Backward accumulates GW, GB and overwrites dinp (skipped when nil).
func (l *Linear) Backward(dinp, dout, inp []float32, n int) {
	kernels.LinearBackward(dinp, l.GW, l.GB, dout, inp, l.W, n, l.In, l.Out)
}

// LayerNorm is BertLayerNorm with eps 1e-12.
type LayerNorm struct {
	W, B, GW, GB []float32
	C            int
}

const lnEps = 1e-12

// Transform is BertPredictionHeadTransform (dense, act, LayerNorm) or, with LN nil,
// VisualLinguisticBertMVRCHeadTransform (dense, act); act is hidden_act.
type Transform struct {
	Dense Linear
	LN    *LayerNorm
	Act   Act
}

// TransformActs are the saved activations of one Transform forward.
type TransformActs struct {
	inp, dense, gelu, out, mean, rstd []float32
	n                                 int
}

// Out is the transform's output [n*H].
func (a *TransformActs) Out() []float32 { return a.out }

// Forward runs the transform on inp [n*H]; inp must stay unchanged until Backward.
func (t *Transform) Forward(a *TransformActs, ar Arena, inp []float32, n int) {
	H := t.Dense.Out
	a.inp, a.n = inp, n
	a.dense, a.gelu = ar.Alloc(n*H), ar.Alloc(n*H)
	t.Dense.Forward(a.dense, inp, n)
	t.Act.Forward(a.gelu, a.dense)
	a.out = a.gelu
	if t.LN != nil {
		a.out, a.mean, a.rstd = ar.Alloc(n*H), ar.Alloc(n), ar.Alloc(n)
		kernels.LayerNormForward(a.out, a.mean, a.rstd, a.gelu, t.LN.W, t.LN.B, n, H, lnEps)
	}
}

// Backward overwrites dinp [n*H] (skipped when nil) from dout [n*H].
func (t *Transform) Backward(a *TransformActs, ar Arena, dinp, dout []float32) {
	H, n := t.Dense.Out, a.n
	dg := dout
	if t.LN != nil {
		dg = ar.Alloc(n * H)
		kernels.LayerNormBackward(dg, t.LN.GW, t.LN.GB, dout, a.gelu, t.LN.W, a.mean, a.rstd, n, H)
	}
	dd := ar.Alloc(n * H)
	t.Act.Backward(dd, a.dense, a.gelu, dg)
	t.Dense.Backward(dinp, dd, a.inp, n)
}
