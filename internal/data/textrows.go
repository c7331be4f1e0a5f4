package data

import "fmt"

// Special wordpiece ids of the bert-*-uncased vocabularies.
const (
	ClsID  = 101
	SepID  = 102
	MaskID = 103
)

// TextRows is the text half of an encoder input: N rows of L tokens with their
// token types, attention mask and, for VCR, grounding tags. The rows are built by
// the functions below from a collated batch's 0-padded question, expression or
// answer ids, as the original modules' prepare_text_from_qa does; the buffers are
// reused by the next build with the same RowBuffers.
type TextRows struct {
	N, L   int
	IDs    []int32 // [N*L] wordpiece ids, 0 = padding
	Types  []int32 // [N*L] token types (0 question, 1 answer)
	Mask   []bool  // [N*L] real tokens
	Tags   []int32 // [N*L] box feeding each token's visual feature (VCR; nil otherwise)
	AnsPos []int32 // [N] VQA: position of the [MASK] the answer head reads
}

// RowBuffers holds the storage of TextRows across batches (no allocation once the
// batch shape stops growing). The zero value is ready.
type RowBuffers struct {
	ids, types, tags, pos []int32
	mask                  []bool
}

// Zeroed returns b resized to n zero elements, reusing its storage when it is
// large enough (buffers kept across batches).
func Zeroed[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	b = b[:n]
	clear(b)
	return b
}

func (rb *RowBuffers) rows(n, l int, tags, pos bool) TextRows {
	rb.ids, rb.types, rb.mask = Zeroed(rb.ids, n*l), Zeroed(rb.types, n*l), Zeroed(rb.mask, n*l)
	r := TextRows{N: n, L: l, IDs: rb.ids, Types: rb.types, Mask: rb.mask}
	if tags {
		rb.tags = Zeroed(rb.tags, n*l)
		r.Tags = rb.tags
	}
	if pos {
		rb.pos = Zeroed(rb.pos, n)
		r.AnsPos = rb.pos
	}
	return r
}

// nonZero counts the real (> 0) ids of a 0-padded row.
func nonZero(ids []int32) int {
	n := 0
	for _, id := range ids {
		if id > 0 {
			n++
		}
	}
	return n
}

// VQARows builds [CLS] q [SEP] [MASK] [SEP] for each of the n questions of
// question [n*lq] (0-padded): types 0 for the question, 1 for [MASK] [SEP], L =
// longest question + 4 (vqa/modules/resnet_vlbert_for_vqa.py,
// prepare_text_from_qa with a one-token [MASK] answer).
func (rb *RowBuffers) VQARows(question []int32, n, lq int) TextRows {
	maxQ := 0
	for b := 0; b < n; b++ {
		maxQ = max(maxQ, nonZero(question[b*lq:(b+1)*lq]))
	}
	L := maxQ + 4
	r := rb.rows(n, L, false, true)
	for b := 0; b < n; b++ {
		ids := r.IDs[b*L : (b+1)*L]
		ids[0] = ClsID
		k := 1
		for _, id := range question[b*lq : (b+1)*lq] {
			if id > 0 {
				ids[k] = id
				k++
			}
		}
		qEnd := k
		ids[qEnd], ids[qEnd+1], ids[qEnd+2] = SepID, MaskID, SepID
		r.Types[b*L+qEnd+1], r.Types[b*L+qEnd+2] = 1, 1
		for j := 0; j <= qEnd+2; j++ {
			r.Mask[b*L+j] = true
		}
		r.AnsPos[b] = int32(qEnd + 1)
	}
	return r
}

// ExpressionRows builds [CLS] expression [SEP] for each of the n expressions of
// expr [n*le] (0-padded), all type 0, L = le + 2
// (refcoco/modules/resnet_vlbert_for_refcoco.py, train_forward).
func (rb *RowBuffers) ExpressionRows(expr []int32, n, le int) TextRows {
	L := le + 2
	r := rb.rows(n, L, false, false)
	for b := 0; b < n; b++ {
		row := r.IDs[b*L : (b+1)*L]
		row[0] = ClsID
		copy(row[1:L-1], expr[b*le:(b+1)*le])
		row[nonZero(row)] = SepID // at most L-1 ids are set: the last slot is free
		for t, id := range row {
			r.Mask[b*L+t] = id > 0
		}
	}
	return r
}

// VCRRows builds, for each of the n questions and each of its choices answers,
// [CLS] q [SEP] a [SEP] with types 0 then 1 (from the first answer token on) and
// every token's grounding tag (question tags qtags [n*lq], answer tags atags
// [n*choices*la]; negative tags and [CLS]/[SEP] point at box 0, the whole image).
// Row b*choices+c is choice c of question b; L = longest q+a + 3
// (vcr/modules/resnet_vlbert_for_vcr.py, prepare_text_from_qa and
// _collect_obj_reps). A tag at or past boxes is an error naming the sample.
func (rb *RowBuffers) VCRRows(question, qtags []int32, n, lq int, answers, atags []int32, choices, la, boxes int) (TextRows, error) {
	return rb.VCRRowsIn(VCRQuestionFirst, question, qtags, n, lq, answers, atags, choices, la, boxes)
}

// VCRLayout is the order of question and answer in a VCR row (NETWORK.ANSWER_FIRST,
// NETWORK.QA_ONE_SENT).
type VCRLayout int

const (
	// VCRQuestionFirst is prepare_text_from_qa: [CLS] q [SEP] a [SEP], types 0 then
	// 1 from the first answer token on.
	VCRQuestionFirst VCRLayout = iota
	// VCRAnswerFirst is prepare_text_from_aq (ANSWER_FIRST): [CLS] a [SEP] q [SEP],
	// types 0 then 1 from the first question token on.
	VCRAnswerFirst
	// VCROneSentence is prepare_text_from_qa_onesent (QA_ONE_SENT): [CLS] q a [SEP],
	// every token type 0; L = longest q+a + 2.
	VCROneSentence
)

// VCRRowsIn is VCRRows in the given layout.
func (rb *RowBuffers) VCRRowsIn(layout VCRLayout, question, qtags []int32, n, lq int, answers, atags []int32, choices, la, boxes int) (TextRows, error) {
	maxLen := 0
	for b := 0; b < n; b++ {
		ma := 0
		for c := 0; c < choices; c++ {
			ma = max(ma, nonZero(answers[(b*choices+c)*la:(b*choices+c+1)*la]))
		}
		maxLen = max(maxLen, nonZero(question[b*lq:(b+1)*lq])+ma)
	}
	L := maxLen + 3
	if layout == VCROneSentence {
		L = maxLen + 2
	}
	r := rb.rows(n*choices, L, true, false)
	for b := 0; b < n; b++ {
		for c := 0; c < choices; c++ {
			i := b*choices + c
			row, tg := r.IDs[i*L:(i+1)*L], r.Tags[i*L:(i+1)*L]
			q, qt := question[b*lq:(b+1)*lq], qtags[b*lq:(b+1)*lq]
			a, at := answers[i*la:(i+1)*la], atags[i*la:(i+1)*la]
			first, second, ft, st := q, a, qt, at
			if layout == VCRAnswerFirst {
				first, second, ft, st = a, q, at, qt
			}
			row[0] = ClsID
			mid := appendTagged(row, tg, 1, first, ft) // the [SEP] between the two (none in one sentence)
			k := mid
			if layout != VCROneSentence {
				row[mid] = SepID
				k++
			}
			end := appendTagged(row, tg, k, second, st)
			row[end] = SepID
			for j := 0; j <= end; j++ {
				r.Mask[i*L+j] = true
				if j > mid && layout != VCROneSentence {
					r.Types[i*L+j] = 1
				}
			}
			for j := range tg {
				// _collect_obj_reps clamps at 0; a tag past the boxes is bad data.
				tg[j] = max(tg[j], 0)
				if int(tg[j]) >= boxes {
					return TextRows{}, fmt.Errorf("grounding tag %d of sample %d choice %d points past the %d boxes", tg[j], b, c, boxes)
				}
			}
		}
	}
	return r, nil
}

// appendTagged writes the real (> 0) ids and their tags into row and tg from
// position k on and returns the position after them.
func appendTagged(row, tg []int32, k int, ids, tags []int32) int {
	for t, id := range ids {
		if id > 0 {
			row[k], tg[k] = id, tags[t]
			k++
		}
	}
	return k
}
