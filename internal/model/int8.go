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
//
// On error (a NaN or infinite weight) the model is left as it was.
func (m *Encoder) QuantizeInt8() error {
	lins := m.encoderLinears()
	qs := make([]*quant.Linear, len(lins))
	for i, lin := range lins {
		q, err := quant.NewLinear(lin.w.w, lin.b.w, lin.out, lin.in)
		if err != nil {
			return fmt.Errorf("model: int8 weights of encoder layer %d: %w", i/linearsPerLayer, err)
		}
		qs[i] = q
	}
	for i, lin := range lins {
		lin.int8 = qs[i]
	}
	return nil
}

// ShareInt8 makes m use src's int8 weights (QuantizeInt8 of src), for replicas
// that hold the same float32 weights: quant.Linear.Forward is safe to call
// concurrently. Both models must have the same configuration.
func (m *Encoder) ShareInt8(src *Encoder) error {
	dst, from := m.encoderLinears(), src.encoderLinears()
	if len(dst) != len(from) {
		return fmt.Errorf("model: ShareInt8 between models of %d and %d encoder layers", len(dst)/linearsPerLayer, len(from)/linearsPerLayer)
	}
	for i, lin := range dst {
		lin.int8 = from[i].int8
	}
	return nil
}

// DropInt8 frees the int8 weights; Inference forwards are float32 again.
func (m *Encoder) DropInt8() {
	for _, lin := range m.encoderLinears() {
		lin.int8 = nil
	}
}

// Int8 says whether QuantizeInt8 is in effect.
func (m *Encoder) Int8() bool { return len(m.core.layers) > 0 && m.core.layers[0].q.int8 != nil }

// linearsPerLayer is the number of Linear layers of one encoder layer.
const linearsPerLayer = 6

// encoderLinears lists every encoder layer's Linear layers, layer by layer.
func (m *Encoder) encoderLinears() []*linearView {
	lins := make([]*linearView, 0, linearsPerLayer*len(m.core.layers))
	for l := range m.core.layers {
		w := &m.core.layers[l]
		lins = append(lins, &w.q, &w.k, &w.v, &w.attnOut, &w.inter, &w.out)
	}
	return lins
}

// encoderLinear runs an encoder Linear: int8 in an Inference forward after
// QuantizeInt8, float32 otherwise.
func (m *Encoder) encoderLinear(l *linearView, out, inp []float32, n int) {
	if l.int8 != nil && m.Inference {
		l.int8.Forward(out, inp, n)
		return
	}
	l.forward(out, inp, n)
}
