package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/quant"
)

// QuantizeInt8 makes Inference forwards run the encoder's Linear layers (attention
// query, key, value and output, FFN intermediate and output, in every layer) in int8
// (package quant: per-channel int8 weights, per-token 7-bit inputs, int32 sums);
// embeddings, LayerNorms, attention scores, the visual path and the task heads stay
// float32. It snapshots the current weights: call it after loading them, and again
// after changing them. Training forwards (Inference false) always use the float32
// weights, so the quantized copies never reach a gradient. The answers differ from
// float32 by the rounding of 7/8-bit values (about 1% relative on a layer's output);
// it is opt-in for that reason.
func (m *Model) QuantizeInt8() error {
	for l := range m.core.layers {
		w := &m.core.layers[l]
		for _, lin := range []*linearView{&w.q, &w.k, &w.v, &w.attnOut, &w.inter, &w.out} {
			q, err := quant.NewLinear(lin.w.w, lin.b.w, lin.out, lin.in)
			if err != nil {
				return fmt.Errorf("model: int8 weights of encoder layer %d: %w", l, err)
			}
			lin.int8 = q
		}
	}
	return nil
}

// DropInt8 frees the int8 weights; Inference forwards are float32 again.
func (m *Model) DropInt8() {
	for l := range m.core.layers {
		w := &m.core.layers[l]
		for _, lin := range []*linearView{&w.q, &w.k, &w.v, &w.attnOut, &w.inter, &w.out} {
			lin.int8 = nil
		}
	}
}

// Int8 says whether QuantizeInt8 is in effect.
func (m *Model) Int8() bool { return len(m.core.layers) > 0 && m.core.layers[0].q.int8 != nil }

// encoderLinear runs an encoder Linear: int8 in an Inference forward after
// QuantizeInt8, float32 otherwise.
func (m *Model) encoderLinear(l *linearView, out, inp []float32, n int) {
	if l.int8 != nil && m.Inference {
		l.int8.Forward(out, inp, n)
		return
	}
	l.forward(out, inp, n)
}
