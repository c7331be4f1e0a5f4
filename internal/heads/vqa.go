package heads

import "github.com/vlbert/vlbert/internal/kernels"

// VQA is ResNetVLBERT's answer classifier: final_mlp (any CLASSIFIER_TYPE, Out = the
// answer vocabulary A) applied to the hidden state at the [MASK] position, with loss
// BCEWithLogits(logits, soft target) · A (vqa/modules/resnet_vlbert_for_vqa.py,
// train_forward).
type VQA struct{ FinalMLP }

// VQAActs are the saved activations of one VQA forward.
type VQAActs struct{ FinalMLPActs }

// Loss is ans_loss = mean BCEWithLogits over B×A, times A.
func (v *VQA) Loss(a *VQAActs, label []float32) float32 {
	A := v.Out.Out
	return kernels.BCEWithLogitsForward(a.Logits, label, a.n*A) * float32(A)
}

// Backward back-propagates dloss (the weight of ans_loss in the total) and overwrites
// dh [B*H].
func (v *VQA) Backward(a *VQAActs, ar Arena, dh, label []float32, dloss float32) {
	A, B := v.Out.Out, a.n
	dlogits := ar.Alloc(B * A)
	kernels.BCEWithLogitsBackward(dlogits, a.Logits, label, B*A, dloss*float32(A))
	v.FinalMLP.Backward(&a.FinalMLPActs, ar, dh, dlogits)
}

// Forward computes Logits [B*A] from h [B*H] (the [MASK]-position states).
func (v *VQA) Forward(a *VQAActs, ar Arena, h []float32, B int, drop kernels.Dropout) {
	v.FinalMLP.Forward(&a.FinalMLPActs, ar, h, B, drop)
}
