package synth

import (
	"fmt"
	"math/rand/v2"
)

// VCRCategories is the object class list of the world's VCR data: the background,
// then the shapes (an annotation's "objects" name each detection's shape).
func VCRCategories() []string {
	return append([]string{"__background__"}, Shapes...)
}

// VCRItem is a four-choice question about a scene in the VCR annotation style: token
// lists mix words (string) and object references ([]int of detection indices).
type VCRItem struct {
	Question       []any
	Answers        [4][]any
	Rationales     [4][]any
	AnswerLabel    int
	RationaleLabel int
}

// VCRQuestion asks about one object of s by reference: its colour or its shape. The
// three wrong answers use other colours (shapes); the rationales restate the evidence.
func VCRQuestion(rng *rand.Rand, s Scene) VCRItem {
	idx := rng.IntN(len(s.Objects))
	o := s.Objects[idx]
	ref := []int{idx}
	var item VCRItem
	askColor := rng.IntN(2) == 0
	var truth int
	var options []string
	if askColor {
		item.Question = []any{"what", "color", "is", ref, "?"}
		truth, options = o.Color, Colors
	} else {
		item.Question = []any{"what", "shape", "is", ref, "?"}
		truth, options = o.Shape, Shapes
	}
	choices := pickChoices(rng, truth, len(options))
	for k, c := range choices {
		if c == truth {
			item.AnswerLabel = k
		}
		if askColor {
			item.Answers[k] = []any{ref, "is", options[c]}
		} else {
			item.Answers[k] = []any{ref, "is", "a", options[c]}
		}
	}
	// Rationales: one true statement about the object, three false ones.
	rchoices := pickChoices(rng, truth, len(options))
	for k, c := range rchoices {
		if c == truth {
			item.RationaleLabel = k
		}
		if askColor {
			item.Rationales[k] = []any{"the", "paint", "on", ref, "looks", options[c]}
		} else {
			item.Rationales[k] = []any{ref, "has", "the", "outline", "of", "a", options[c]}
		}
	}
	return item
}

// pickChoices returns four distinct option indices in random order, one of them truth.
func pickChoices(rng *rand.Rand, truth, n int) [4]int {
	if n < 4 {
		panic(fmt.Sprintf("synth: %d options cannot fill four choices", n))
	}
	perm := rng.Perm(n)
	var out [4]int
	out[0] = truth
	k := 1
	for _, p := range perm {
		if k == 4 {
			break
		}
		if p != truth {
			out[k] = p
			k++
		}
	}
	rng.Shuffle(4, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
