package data

import (
	"slices"
	"testing"
)

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
