package data

import (
	"slices"
	"strings"
	"testing"
)

// TestTextRows: the three row builders on a hand-made batch, and a buffer
// reused by a smaller batch comes back zeroed.
func TestTextRows(t *testing.T) {
	var rb RowBuffers
	r := rb.VQARows([]int32{7, 8, 0, 9, 0, 0}, 2, 3)
	if r.L != 6 || !slices.Equal(r.IDs, []int32{ClsID, 7, 8, SepID, MaskID, SepID, ClsID, 9, SepID, MaskID, SepID, 0}) ||
		!slices.Equal(r.Types, []int32{0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0}) || !slices.Equal(r.AnsPos, []int32{4, 3}) || r.Mask[11] || !r.Mask[10] {
		t.Errorf("VQARows: %+v", r)
	}
	e := rb.ExpressionRows([]int32{5, 0}, 1, 2)
	if e.L != 4 || !slices.Equal(e.IDs, []int32{ClsID, 5, SepID, 0}) || !slices.Equal(e.Mask, []bool{true, true, true, false}) {
		t.Errorf("ExpressionRows: %+v", e)
	}
	// One question (tags: token 11 -> box 2) and two choices.
	v, err := rb.VCRRows([]int32{11, 12}, []int32{2, -1}, 1, 2, []int32{21, 0, 22, 23}, []int32{1, -1, -1, 0}, 2, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if v.N != 2 || v.L != 7 ||
		!slices.Equal(v.IDs, []int32{ClsID, 11, 12, SepID, 21, SepID, 0, ClsID, 11, 12, SepID, 22, 23, SepID}) ||
		!slices.Equal(v.Types, []int32{0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1}) ||
		!slices.Equal(v.Tags, []int32{0, 2, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0}) {
		t.Errorf("VCRRows: %+v", v)
	}
	if _, err := rb.VCRRows([]int32{11}, []int32{3}, 1, 1, []int32{21, 22}, []int32{0, 0}, 2, 1, 3); err == nil || !strings.Contains(err.Error(), "grounding tag 3") {
		t.Errorf("a tag past the boxes: %v", err)
	}
}

// TestVCRRowLayouts states the three row orders of the original's VCR module for
// one question (ids 7 8, tags 1 -1) and answer (ids 20 21 22, tags 0 2 -1):
// prepare_text_from_qa, prepare_text_from_aq (ANSWER_FIRST) and
// prepare_text_from_qa_onesent (QA_ONE_SENT).
func TestVCRRowLayouts(t *testing.T) {
	q, qt := []int32{7, 8, 0}, []int32{1, -1, 0}
	a, at := []int32{20, 21, 22, 0}, []int32{0, 2, -1, 0}
	for _, tc := range []struct {
		layout VCRLayout
		ids    []int32
		types  []int32
		tags   []int32
		l      int
	}{
		{VCRQuestionFirst, []int32{ClsID, 7, 8, SepID, 20, 21, 22, SepID}, []int32{0, 0, 0, 0, 1, 1, 1, 1}, []int32{0, 1, 0, 0, 0, 2, 0, 0}, 8},
		{VCRAnswerFirst, []int32{ClsID, 20, 21, 22, SepID, 7, 8, SepID}, []int32{0, 0, 0, 0, 0, 1, 1, 1}, []int32{0, 0, 2, 0, 0, 1, 0, 0}, 8},
		{VCROneSentence, []int32{ClsID, 7, 8, 20, 21, 22, SepID}, []int32{0, 0, 0, 0, 0, 0, 0}, []int32{0, 1, 0, 0, 2, 0, 0}, 7},
	} {
		var rb RowBuffers
		r, err := rb.VCRRowsIn(tc.layout, q, qt, 1, 3, a, at, 1, 4, 3)
		if err != nil {
			t.Fatal(err)
		}
		if r.L != tc.l || !slices.Equal(r.IDs, tc.ids) || !slices.Equal(r.Types, tc.types) || !slices.Equal(r.Tags, tc.tags) {
			t.Errorf("layout %d: L %d ids %v types %v tags %v\nwant L %d ids %v types %v tags %v", tc.layout, r.L, r.IDs, r.Types, r.Tags, tc.l, tc.ids, tc.types, tc.tags)
		}
		for i, m := range r.Mask {
			if !m {
				t.Errorf("layout %d: token %d masked", tc.layout, i)
			}
		}
	}
}
