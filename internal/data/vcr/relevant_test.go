package vcr

import (
	"slices"
	"testing"
)

// TestKeepOnlyRelevantDets: detections are kept in order of first reference
// (question, answers, then rationales unless Q2A) and references renumbered, as
// keep_only_relevant_dets does.
func TestKeepOnlyRelevantDets(t *testing.T) {
	w := func(s string) Token { return Token{Word: s} }
	o := func(ids ...int) Token { return Token{Objects: ids} }
	a := &Annotation{AnnotID: "x", Objects: []string{"person", "dog", "car", "cup", "person"},
		Question:         []Token{w("is"), o(3, 1), w("ok")},
		AnswerChoices:    [][]Token{{o(1)}, {o(4)}, {w("no")}, {w("yes")}},
		RationaleChoices: [][]Token{{o(2)}, {w("a")}, {w("b")}, {o(0)}}}
	m := &Metadata{Boxes: [][5]float64{{0}, {1}, {2}, {3}, {4}}, Segms: make([][][]Point, 5)}
	for _, tc := range []struct {
		task Task
		keep []int
	}{{Q2A, []int{3, 1, 4}}, {QA2R, []int{3, 1, 4, 2, 0}}} {
		keep, na, nm, err := KeepOnlyRelevantDets(a, m, tc.task)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keep, tc.keep) {
			t.Errorf("%v: keep %v, want %v", tc.task, keep, tc.keep)
		}
		if !slices.Equal(na.Question[1].Objects, []int{0, 1}) || !slices.Equal(na.AnswerChoices[1][0].Objects, []int{2}) {
			t.Errorf("%v: question refs %v, answer 1 refs %v", tc.task, na.Question[1].Objects, na.AnswerChoices[1][0].Objects)
		}
		if na.Objects[0] != "cup" || nm.Boxes[2][0] != 4 || len(nm.Boxes) != len(tc.keep) {
			t.Errorf("%v: objects %v boxes %v", tc.task, na.Objects, nm.Boxes)
		}
		if tc.task == QA2R && !slices.Equal(na.RationaleChoices[3][0].Objects, []int{4}) {
			t.Errorf("rationale 3 refs %v, want [4]", na.RationaleChoices[3][0].Objects)
		}
	}
	if a.Question[1].Objects[0] != 3 || len(a.Objects) != 5 {
		t.Error("the input annotation was changed")
	}
	bad := *a
	bad.Question = []Token{o(7)}
	if _, _, _, err := KeepOnlyRelevantDets(&bad, m, Q2A); err == nil {
		t.Error("a reference past the detections was accepted")
	}
}
