package vcr

import "fmt"

// KeepOnlyRelevantDets is DATASET.ONLY_USE_RELEVANT_DETS (vcr/data/datasets/vcr.py,
// keep_only_relevant_dets): the detections referenced by the question, the answer
// choices and, unless the task is Q2A, the rationale choices are kept in order of
// first reference, every reference is renumbered to its kept position, and the
// objects, boxes and segms are narrowed to them. It returns the kept indices
// (into the original detections) and new copies of a and m; a and m are not
// changed. A reference outside the detections is an error naming the annotation.
func KeepOnlyRelevantDets(a *Annotation, m *Metadata, task Task) ([]int, *Annotation, *Metadata, error) {
	if len(m.Boxes) != len(a.Objects) || len(m.Segms) != len(a.Objects) {
		return nil, nil, nil, fmt.Errorf("vcr: annot_id %s: metadata has %d boxes and %d segms for %d objects", a.AnnotID, len(m.Boxes), len(m.Segms), len(a.Objects))
	}
	var keep []int
	pos := map[int]int{}
	remap := func(toks []Token) ([]Token, error) {
		out := make([]Token, len(toks))
		for i, tok := range toks {
			out[i] = tok
			if tok.Objects == nil {
				continue
			}
			objs := make([]int, len(tok.Objects))
			for j, o := range tok.Objects {
				if o < 0 || o >= len(a.Objects) {
					return nil, fmt.Errorf("vcr: annot_id %s: token references detection %d of %d", a.AnnotID, o, len(a.Objects))
				}
				p, ok := pos[o]
				if !ok {
					p = len(keep)
					pos[o] = p
					keep = append(keep, o)
				}
				objs[j] = p
			}
			out[i].Objects = objs
		}
		return out, nil
	}
	na := *a
	var err error
	if na.Question, err = remap(a.Question); err != nil {
		return nil, nil, nil, err
	}
	na.AnswerChoices = make([][]Token, len(a.AnswerChoices))
	for k, c := range a.AnswerChoices {
		if na.AnswerChoices[k], err = remap(c); err != nil {
			return nil, nil, nil, err
		}
	}
	if task != Q2A {
		na.RationaleChoices = make([][]Token, len(a.RationaleChoices))
		for k, c := range a.RationaleChoices {
			if na.RationaleChoices[k], err = remap(c); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	nm := *m
	na.Objects = make([]string, len(keep))
	nm.Boxes = make([][5]float64, len(keep))
	nm.Segms = make([][][]Point, len(keep))
	for p, o := range keep {
		na.Objects[p], nm.Boxes[p], nm.Segms[p] = a.Objects[o], m.Boxes[o], m.Segms[o]
	}
	return keep, &na, &nm, nil
}
