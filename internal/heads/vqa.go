package heads

import "github.com/vlbert/vlbert/internal/kernels"

// VQA is ResNetVLBERT's CLASSIFIER_TYPE "mlm" head, final_mlp =
// [BertPredictionHeadTransform, Dropout, Linear(H→A)], applied to the hidden state at
// the [MASK] position, with loss BCEWithLogits(logits, soft target) · A.
type VQA struct {
	Transform  Transform
	Classifier Linear
}

// VQAActs are the saved activations of one VQA forward.
type VQAActs struct {
	t       TransformActs
	dropped []float32
	drop    kernels.Dropout
	Logits  []float32 // [B*A]
	n       int
}

// Forward computes Logits [B*A] from h [B*H] (the [MASK]-position states).
func (v *VQA) Forward(a *VQAActs, ar Arena, h []float32, B int, drop kernels.Dropout) {
	H, A := v.Transform.Dense.Out, v.Classifier.Out
	a.n, a.drop = B, drop
	v.Transform.Forward(&a.t, ar, h, B)
	a.dropped = a.t.Out()
	if drop.P > 0 {
		a.dropped = ar.Alloc(B * H)
		kernels.DropoutForward(a.dropped, a.t.Out(), drop)
	}
	a.Logits = ar.Alloc(B * A)
	v.Classifier.Forward(a.Logits, a.dropped, B)
}

// Loss is ans_loss = mean BCEWithLogits over B×A, times A.
func (v *VQA) Loss(a *VQAActs, label []float32) float32 {
	A := v.Classifier.Out
	return kernels.BCEWithLogitsForward(a.Logits, label, a.n*A) * float32(A)
}

// Backward back-propagates dloss (the weight of ans_loss in the total) and overwrites
// dh [B*H].
func (v *VQA) Backward(a *VQAActs, ar Arena, dh, label []float32, dloss float32) {
	H, A, B := v.Transform.Dense.Out, v.Classifier.Out, a.n
	dlogits := ar.Alloc(B * A)
	kernels.BCEWithLogitsBackward(dlogits, a.Logits, label, B*A, dloss*float32(A))
	ddrop := ar.Alloc(B * H)
	v.Classifier.Backward(ddrop, dlogits, a.dropped, B)
	dt := ddrop
	if a.drop.P > 0 {
		dt = ar.Alloc(B * H)
		kernels.DropoutBackward(dt, ddrop, a.drop)
	}
	v.Transform.Backward(&a.t, ar, dh, dt)
}
