package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
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

// Quadrants are the answers of the VCR-style position questions.
var Quadrants = []string{"top left", "top right", "bottom left", "bottom right"}

// quadrantOf is o's quarter of the image (an index into Quadrants), or -1 when
// its centre is within an eighth-wide band around either centre line.
func quadrantOf(s Scene, o Object) int {
	v := (o.Box[1] + o.Box[3]) / 2
	mid, m := float32(s.Height)/2, float32(s.Height)/16
	q := 0
	switch {
	case v > mid+m:
		q = 2
	case v >= mid-m:
		return -1
	}
	switch sideOf(s, o) {
	case 1:
		return q + 1
	case 0:
		return -1
	}
	return q
}

// VCRQuestion asks about one object of s by reference: its colour, or which
// quarter of the image it is in. Both need the image: VCR text names a
// referenced object by its detection class, here its shape, so shape questions
// would be read off the text (they were, at 1.000 with or without regions).
// The three wrong answers are the other colours (quarters); the rationales
// restate the evidence.
func VCRQuestion(rng *rand.Rand, s Scene) VCRItem {
	// Position questions only about objects clear of the centre lines.
	var placed []int
	for i, o := range s.Objects {
		if quadrantOf(s, o) >= 0 {
			placed = append(placed, i)
		}
	}
	askColor := len(placed) == 0 || rng.IntN(2) == 0
	idx := rng.IntN(len(s.Objects))
	if !askColor {
		idx = placed[rng.IntN(len(placed))]
	}
	o := s.Objects[idx]
	ref := []int{idx}
	var item VCRItem
	quad := quadrantOf(s, o)
	truth, options := o.Color, Colors
	if askColor {
		item.Question = []any{"what", "color", "is", ref, "?"}
	} else {
		item.Question = []any{"where", "is", ref, "?"}
		truth, options = quad, Quadrants
	}
	choices := pickChoices(rng, truth, len(options))
	for k, c := range choices {
		if c == truth {
			item.AnswerLabel = k
		}
		if askColor {
			item.Answers[k] = []any{ref, "is", options[c]}
		} else {
			item.Answers[k] = append([]any{ref, "is", "at", "the"}, words(options[c])...)
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
			item.Rationales[k] = append(append([]any{ref, "sits", "in", "the"}, words(options[c])...), "quarter", "of", "the", "picture")
		}
	}
	return item
}

func words(s string) []any {
	var out []any
	for _, w := range strings.Fields(s) {
		out = append(out, w)
	}
	return out
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
