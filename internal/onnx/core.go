package onnx

import (
	"fmt"
	"math"
)

// coreInputs is what VisualLinguisticBert.forward receives (common/
// visual_linguistic_bert.py), as graph values. N is the number of sequences (B, or
// B·4 for VCR), Lt the text length, Lo the object slots.
type coreInputs struct {
	textIDs   string // int64 [N,Lt], 0 = padding
	textTypes string // int64 [N,Lt]
	textMask  string // bool [N,Lt]
	textVis   string // float [N,Lt,H] or [N,1,H] (one visual feature for every token)
	objVis    string // float [N,Lo,H] object visual part (obj_reps)
	objMask   string // float 0/1 [N,Lo]
}

// coreOutputs are the encoder's outputs and the counts the task heads need to find
// their rows in the compacted sequence.
type coreOutputs struct {
	hidden string // float [N,L,H], L = max(n_text + n_obj) + 1
	nText  string // int64 [N,1] valid text tokens
	pooled string // float [N,H]; "" without pooler
}

// core builds VisualLinguisticBert: the embedding with seamless compaction, the
// post-LN encoder layers and the optional pooler. prefix is "vlbert." (or
// "vlbert._module." under VCR's TimeDistributed).
func (e *exporter) core(in coreInputs, prefix string) coreOutputs {
	b, s := e.b, e.spec
	H := s.Hidden
	b.scope = "embedding"

	// Per-token pieces: text vl = word + visual_ln_text(v), object vl =
	// visual_ln_object(v) + object_linguistic_embeddings.
	word := b.op("Gather", []string{b.weight(prefix+"word_embeddings.weight", s.Vocab, H), in.textIDs}, aInt("axis", 0))
	textVL := b.bin("Add", word, b.layerNorm(in.textVis, prefix+"visual_ln_text", H))
	objVL := b.bin("Add", b.layerNorm(in.objVis, prefix+"visual_ln_object", H), b.weight("object_linguistic_embeddings.weight", 1, H))
	n1 := b.dim(in.textIDs, 0)
	end := b.op("Expand", []string{b.weight(prefix+"end_embedding.weight", 1, H), b.op("Concat", []string{n1, b.i64(1, int64(H))}, aInt("axis", 0))})
	all := b.op("Concat", []string{textVL, objVL, end}, aInt("axis", 1)) // [N, Lt+Lo+1, H]

	// Compaction to [valid text | valid objects | END | padding].
	textValid := b.cast(in.textMask, Float)
	ones := b.op("Expand", []string{b.f32([]int64{1, 1}, 1), b.op("Concat", []string{n1, b.i64(1)}, aInt("axis", 0))})
	valid := b.op("Concat", []string{textValid, in.objMask, ones}, aInt("axis", 1))
	nText := b.cast(b.sumKeep(textValid, 1), Int64)
	nObj := b.cast(b.sumKeep(in.objMask, 1), Int64)
	total := b.bin("Add", nText, nObj)                // [N,1]: the END slot
	L := b.bin("Add", b.maxAll(total), b.s64(1))      // 0-D
	order := b.compactOrder(valid, b.unsqueeze(L, 0)) // [N,L]
	gathered := b.op("GatherND", []string{all, b.unsqueeze(order, -1)}, aInt("batch_dims", 1))
	slot := b.unsqueeze(b.arange(L), 0) // [1,L]
	used := b.bin("LessOrEqual", slot, total)
	vl := b.where(b.unsqueeze(used, -1), gathered, b.sf(0))

	// Position ids: text k, objects n_t, END n_t+1, padding k. Token types: text
	// given, objects and END 2, padding 0.
	pos := b.where(b.bin("Less", slot, nText), slot,
		b.where(b.bin("Less", slot, total), nText,
			b.where(b.bin("Equal", slot, total), b.bin("Add", nText, b.s64(1)), slot)))
	two := b.bin("Add", b.bin("Mul", b.cast(in.objMask, Int64), b.s64(0)), b.s64(2))
	typesAll := b.op("Concat", []string{in.textTypes, two, b.bin("Mul", b.cast(ones, Int64), b.s64(2))}, aInt("axis", 1))
	types := b.where(used, b.op("GatherElements", []string{typesAll, order}, aInt("axis", 1)), b.s64(0))
	posEmb := b.op("Gather", []string{b.weight(prefix+"position_embeddings.weight", s.MaxPositions, H), pos}, aInt("axis", 0))
	typeEmb := b.op("Gather", []string{b.weight(prefix+"token_type_embeddings.weight", s.TypeVocab, H), types}, aInt("axis", 0))
	x := b.layerNorm(b.bin("Add", vl, b.bin("Add", posEmb, typeEmb)), prefix+"embedding_LayerNorm", H)
	maskAdd := b.unsqueeze(b.where(used, b.sf(0), b.sf(-10000)), 1, 2) // [N,1,1,L]

	for l := 0; l < s.Layers; l++ {
		b.scope = fmt.Sprintf("layer%d", l)
		x = e.layer(x, maskAdd, fmt.Sprintf("%sencoder.layer.%d.", prefix, l))
	}
	out := coreOutputs{hidden: x, nText: nText}
	if s.Pooler {
		b.scope = "pooler"
		first := b.op("Gather", []string{x, b.s64(0)}, aInt("axis", 1))
		out.pooled = b.op("Tanh", []string{b.linear(first, prefix+"pooler.dense", H, H)})
	}
	b.scope = ""
	return out
}

// layer is BertLayer (post-LN):
//
//	h1  = LN(Dense(softmax(Q·Kᵀ/√d + mask)·V) + x)
//	out = LN(Dense2(GELU(Dense1(h1))) + h1)
func (e *exporter) layer(x, maskAdd, p string) string {
	b, s := e.b, e.spec
	H, NH := s.Hidden, s.Heads
	d := int64(H / NH)
	heads := func(t string, perm ...int64) string {
		return b.op("Transpose", []string{b.op("Reshape", []string{t, b.i64(0, 0, int64(NH), d)})}, aInts("perm", perm...))
	}
	q := heads(e.linear(x, p+"attention.self.query", H, H), 0, 2, 1, 3) // [N,NH,L,d]
	k := heads(e.linear(x, p+"attention.self.key", H, H), 0, 2, 3, 1)   // [N,NH,d,L]
	v := heads(e.linear(x, p+"attention.self.value", H, H), 0, 2, 1, 3) // [N,NH,L,d]
	scores := b.bin("Add", b.bin("Mul", b.bin("MatMul", q, k), b.sf(float32(1/math.Sqrt(float64(d))))), maskAdd)
	probs := b.op("Softmax", []string{scores}, aInt("axis", -1))
	ctx := b.op("Reshape", []string{b.op("Transpose", []string{b.bin("MatMul", probs, v)}, aInts("perm", 0, 2, 1, 3)), b.i64(0, 0, int64(H))})
	h1 := b.layerNorm(b.bin("Add", e.linear(ctx, p+"attention.output.dense", H, H), x), p+"attention.output.LayerNorm", H)
	ff := e.linear(b.gelu(e.linear(h1, p+"intermediate.dense", H, s.Intermediate)), p+"output.dense", s.Intermediate, H)
	return b.layerNorm(b.bin("Add", ff, h1), p+"output.LayerNorm", H)
}
