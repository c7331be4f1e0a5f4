package onnx

// Special wordpiece ids of the bert-*-uncased vocabularies.
const (
	clsID  = 101
	sepID  = 102
	maskID = 103
)

// vqa is vqa/modules/resnet_vlbert_for_vqa.py ResNetVLBERT.inference_forward
// (CLASSIFIER_TYPE mlm): text [CLS] q [SEP] [MASK] [SEP] (types 0…0 1 1), every
// token's visual feature the whole-image box (box 0), the object linguistic
// embedding for every box, and final_mlp on the [MASK] position.
func (e *exporter) vqa() {
	b, s := e.b, e.spec
	vin := e.visualInputs(false)
	question := e.input("question", Int64, []Dim{{Param: "batch"}, {Param: "question_len"}}, "question [B,T] wordpiece ids, 0 = padding (no [CLS]/[SEP])")
	vis := e.visual(vin, false)

	b.scope = "text"
	qValid := b.cast(b.bin("Greater", question, b.s64(0)), Float)
	nq := b.cast(b.sumKeep(qValid, 1), Int64) // [B,1]
	T := b.dim(question, 1)
	packed := b.op("GatherElements", []string{question, b.compactOrder(qValid, T)}, aInt("axis", 1))
	lt := b.bin("Add", b.maxAll(nq), b.s64(4))
	t := b.unsqueeze(b.arange(lt), 0) // [1,Lt]
	zerosB := b.bin("Mul", nq, b.s64(0))
	qi := b.bin("Add", b.clamp(b.bin("Sub", t, b.s64(1)), b.s64(0), b.bin("Sub", b.squeeze(T, 0), b.s64(1))), zerosB) // [B,Lt]
	q := b.op("GatherElements", []string{packed, qi}, aInt("axis", 1))
	at := func(off int64) string { return b.bin("Equal", t, b.bin("Add", nq, b.s64(off))) }
	ids := b.where(b.bin("Equal", t, b.s64(0)), b.s64(clsID),
		b.where(b.bin("LessOrEqual", t, nq), q,
			b.where(at(1), b.s64(sepID), b.where(at(2), b.s64(maskID), b.where(at(3), b.s64(sepID), b.s64(0))))))
	types := b.cast(b.op("Or", []string{at(2), at(3)}), Int64)
	mask := b.bin("LessOrEqual", t, b.bin("Add", nq, b.s64(3)))
	textVis := b.sliceC(vis.objReps, 1, 0, 1) // [B,1,H]

	out := e.core(coreInputs{textIDs: ids, textTypes: types, textMask: mask, textVis: textVis, objVis: vis.objReps, objMask: vis.boxMask}, "vlbert.")
	b.scope = "head"
	h := b.op("GatherND", []string{out.hidden, b.bin("Add", nq, b.s64(2))}, aInt("batch_dims", 1)) // [B,H] at [MASK]
	H := s.Hidden
	h = b.layerNorm(b.gelu(b.linear(h, "final_mlp.0.dense", H, H)), "final_mlp.0.LayerNorm", H)
	logits := b.linear(h, "final_mlp.2", H, s.AnswerVocab)
	e.output(logits, "label_logits", []Dim{{Param: "batch"}, {Value: int64(s.AnswerVocab)}}, "label_logits [B,A]: answer scores (sigmoid for probabilities), in answer-vocabulary order")
}

// refcoco is refcoco/modules/resnet_vlbert_for_refcoco.py ResNetVLBERT.
// inference_forward: text [CLS] expression [SEP] (type 0, box 0's feature), one
// score per box from final_mlp on the object states, padded back to the input's
// box count with -10000, and the best box in original-image coordinates.
func (e *exporter) refcoco() {
	b, s := e.b, e.spec
	vin := e.visualInputs(false)
	expr := e.input("expression", Int64, []Dim{{Param: "batch"}, {Param: "expression_len"}}, "expression [B,T] wordpiece ids, 0 = padding (no [CLS]/[SEP])")
	vis := e.visual(vin, false)

	b.scope = "text"
	zeros := b.bin("Mul", b.sliceC(expr, 1, 0, 1), b.s64(0)) // [B,1]
	row := b.op("Concat", []string{b.bin("Add", zeros, b.s64(clsID)), expr, zeros}, aInt("axis", 1))
	sepPos := b.cast(b.sumKeep(b.cast(b.bin("Greater", row, b.s64(0)), Int64), 1), Int64)
	t := b.unsqueeze(b.arange(b.dimScalar(row, 1)), 0)
	ids := b.where(b.bin("Equal", t, sepPos), b.s64(sepID), row)
	out := e.core(coreInputs{textIDs: ids, textTypes: b.bin("Mul", ids, b.s64(0)), textMask: b.bin("Greater", ids, b.s64(0)),
		textVis: b.sliceC(vis.objReps, 1, 0, 1), objVis: vis.objReps, objMask: vis.boxMask}, "vlbert.")

	// hidden_states_regions: object j's state sits at n_text + (its rank among the
	// valid objects); invalid slots are zero.
	b.scope = "head"
	rank := b.bin("Sub", b.op("CumSum", []string{b.cast(vis.boxMask, Int64), b.s64(1)}), b.s64(1))
	at := b.op("Max", []string{b.bin("Add", out.nText, rank), b.s64(0)})
	objOut := b.where(b.unsqueeze(b.bin("Greater", vis.boxMask, b.sf(0.5)), -1),
		b.op("GatherND", []string{out.hidden, b.unsqueeze(at, -1)}, aInt("batch_dims", 1)), b.sf(0))
	H := s.Hidden
	logits := b.squeeze(b.linear(b.gelu(b.linear(objOut, "final_mlp.0.dense", H, H)), "final_mlp.2", H, 1), -1) // [B,Lo]
	nb := b.dim(vin.boxes, 1)
	pads := b.op("Concat", []string{b.i64(0, 0, 0), b.bin("Sub", nb, vis.lo)}, aInt("axis", 0))
	logits = b.op("Pad", []string{logits, pads, b.sf(-10000)}, &Attribute{Name: "mode", Type: attrString, S: "constant"})
	e.output(logits, "label_logits", []Dim{{Param: "batch"}, {Param: "boxes"}}, "label_logits [B,R]: one score per box; -10000 past the last valid box")

	best := b.op("ArgMax", []string{logits}, aInt("axis", 1), aInt("keepdims", 1)) // [B,1]
	box := b.op("GatherND", []string{vis.boxes, best}, aInt("batch_dims", 1))      // [B,4]
	scale := b.sliceC(vin.imInfo, 1, 2, 4)
	pred := b.bin("Div", box, b.op("Concat", []string{scale, scale}, aInt("axis", 1)))
	e.output(pred, "pred_boxes", []Dim{{Param: "batch"}, {Value: 4}}, "pred_boxes [B,4]: the best-scoring box, x1,y1,x2,y2 in original-image pixels (divided by im_info's scales)")
}

// vcrChoices is the number of answer choices of a VCR question.
const vcrChoices = 4

// vcr is vcr/modules/resnet_vlbert_for_vcr.py ResNetVLBERT.inference_forward on
// precomputed box features (prepare_text_from_qa): for each choice, text
// [CLS] q [SEP] a [SEP] (types 0 up to the first [SEP], 1 after), each token's
// visual feature the box its grounding tag names (_collect_obj_reps, tags clamped at
// 0), VL-BERT on the four sequences, final_mlp on the pooled output.
func (e *exporter) vcr() {
	b, s := e.b, e.spec
	vin := e.visualInputs(true)
	question := e.input("question", Int64, []Dim{{Param: "batch"}, {Param: "question_len"}, {Value: 2}},
		"question [B,Tq,2]: (wordpiece id, grounding tag) per token; id 0 = padding; the tag is a box index (0 = image, <0 = none)")
	answers := e.input("answer_choices", Int64, []Dim{{Param: "batch"}, {Value: vcrChoices}, {Param: "answer_len"}, {Value: 2}},
		"answer_choices [B,4,Ta,2]: (wordpiece id, grounding tag) per token of each choice; id 0 = padding")
	vis := e.visual(vin, true)

	b.scope = "text"
	pack := func(x string, axis int64) (ids, tags, n string) {
		id := b.op("Gather", []string{x, b.s64(0)}, aInt("axis", axis))
		tag := b.op("Gather", []string{x, b.s64(1)}, aInt("axis", axis))
		valid := b.cast(b.bin("Greater", id, b.s64(0)), Float)
		order := b.compactOrder(valid, b.dim(id, -1))
		return b.op("GatherElements", []string{id, order}, aInt("axis", axis-1)),
			b.op("GatherElements", []string{tag, order}, aInt("axis", axis-1)),
			b.cast(b.sumKeep(valid, axis-1), Int64)
	}
	qID, qTag, nq := pack(question, 2)                                             // [B,Tq], [B,Tq], [B,1]
	aID, aTag, na := pack(answers, 3)                                              // [B,4,Ta], [B,4,Ta], [B,4,1]
	maxA := b.op("ReduceMax", []string{na}, aInts("axes", 1), aInt("keepdims", 0)) // [B,1]
	lt := b.bin("Add", b.maxAll(b.bin("Add", nq, maxA)), b.s64(3))
	t := b.unsqueeze(b.arange(lt), 0, 1)                   // [1,1,Lt]
	qEnd := b.unsqueeze(b.bin("Add", nq, b.s64(1)), 2)     // [B,1,1]: first [SEP]
	aEnd := b.bin("Add", b.bin("Add", qEnd, b.s64(1)), na) // [B,4,1]: second [SEP]
	tq := b.squeeze(b.dim(qID, 1), 0)
	ta := b.squeeze(b.dim(aID, 2), 0)
	qi := b.bin("Add", b.clamp(b.bin("Sub", b.squeeze(t, 0), b.s64(1)), b.s64(0), b.bin("Sub", tq, b.s64(1))), b.bin("Mul", nq, b.s64(0)))       // [B,Lt]
	ai := b.bin("Add", b.clamp(b.bin("Sub", b.bin("Sub", t, qEnd), b.s64(1)), b.s64(0), b.bin("Sub", ta, b.s64(1))), b.bin("Mul", na, b.s64(0))) // [B,4,Lt]
	gq := func(x string) string { return b.unsqueeze(b.op("GatherElements", []string{x, qi}, aInt("axis", 1)), 1) }
	ga := func(x string) string { return b.op("GatherElements", []string{x, ai}, aInt("axis", 2)) }
	inQ := b.op("And", []string{b.bin("Greater", t, b.s64(0)), b.bin("Less", t, qEnd)})
	inA := b.op("And", []string{b.bin("Greater", t, qEnd), b.bin("Less", t, aEnd)})
	ids := b.where(b.bin("Equal", t, b.s64(0)), b.s64(clsID),
		b.where(inQ, gq(qID), b.where(b.bin("Equal", t, qEnd), b.s64(sepID),
			b.where(inA, ga(aID), b.where(b.bin("Equal", t, aEnd), b.s64(sepID), b.s64(0))))))
	tags := b.op("Max", []string{b.where(inQ, gq(qTag), b.where(inA, ga(aTag), b.s64(0))), b.s64(0)})
	types := b.cast(b.op("And", []string{b.bin("Greater", t, qEnd), b.bin("LessOrEqual", t, aEnd)}), Int64)
	mask := b.bin("LessOrEqual", t, aEnd)
	textVis := b.op("GatherND", []string{vis.objReps, b.unsqueeze(tags, -1)}, aInt("batch_dims", 1)) // [B,4,Lt,H]

	// VL-BERT under TimeDistributed: the B·4 sequences as one batch.
	H := int64(s.Hidden)
	ltDim := b.dim(ids, 2)
	flat := func(x string) string {
		return b.op("Reshape", []string{x, b.op("Concat", []string{b.i64(-1), ltDim}, aInt("axis", 0))})
	}
	objVis := b.op("Reshape", []string{b.op("Tile", []string{b.unsqueeze(vis.objReps, 1), b.i64(1, vcrChoices, 1, 1)}),
		b.op("Concat", []string{b.i64(-1), vis.lo, b.i64(H)}, aInt("axis", 0))})
	objMask := b.op("Reshape", []string{b.op("Tile", []string{b.unsqueeze(vis.boxMask, 1), b.i64(1, vcrChoices, 1)}),
		b.op("Concat", []string{b.i64(-1), vis.lo}, aInt("axis", 0))})
	out := e.core(coreInputs{textIDs: flat(ids), textTypes: flat(types), textMask: flat(mask),
		textVis: b.op("Reshape", []string{textVis, b.op("Concat", []string{b.i64(-1), ltDim, b.i64(H)}, aInt("axis", 0))}),
		objVis:  objVis, objMask: objMask}, "vlbert._module.")
	b.scope = "head"
	logits := b.op("Reshape", []string{b.linear(out.pooled, "final_mlp.1", s.Hidden, 1), b.i64(-1, vcrChoices)})
	e.output(logits, "label_logits", []Dim{{Param: "batch"}, {Value: vcrChoices}}, "label_logits [B,4]: one score per answer choice")
}

// clamp is min(max(x, lo), hi) in int64 (Max and Min; Clip's integer kernels are
// newer than some runtimes).
func (b *builder) clamp(x, lo, hi string) string {
	return b.op("Min", []string{b.op("Max", []string{x, lo}), hi})
}
