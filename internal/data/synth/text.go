package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

var plural = map[string]string{"circle": "circles", "square": "squares", "triangle": "triangles", "diamond": "diamonds"}

// sideOf says which half of the image o's centre is in: -1 left, +1 right, 0
// within a margin of the centre line (an eighth of the width wide).
func sideOf(s Scene, o Object) int {
	mid, m := float32(s.Width)/2, float32(s.Width)/16
	switch c := o.CenterX(); {
	case c < mid-m:
		return -1
	case c > mid+m:
		return 1
	}
	return 0
}

// clearRelation names where a lies relative to b when that is plain to see:
// "left of"/"right of" when they are on opposite halves of the image (so one
// object's position alone gives the answer), "above"/"below" when they are
// apart vertically by more than an eighth of the height and more than
// horizontally; "" otherwise. A small model does not learn to compare two
// nearby centres in a few epochs (relation questions stayed at chance).
func clearRelation(s Scene, a, b Object) string {
	if sa, sb := sideOf(s, a), sideOf(s, b); sa != 0 && sb != 0 && sa != sb {
		if sa < 0 {
			return "left of"
		}
		return "right of"
	}
	dx := a.CenterX() - b.CenterX()
	dy := (a.Box[1] + a.Box[3] - b.Box[1] - b.Box[3]) / 2
	if abs32(dy) > abs32(dx) && abs32(dy) >= float32(s.Height)/8 {
		if dy < 0 {
			return "above"
		}
		return "below"
	}
	return ""
}

// clearPair picks an ordered pair of objects with a clear relation (one random
// draw), or returns nil without drawing.
func clearPair(rng *rand.Rand, s Scene) []int {
	var pairs [][]int
	for i := range s.Objects {
		for j := range s.Objects {
			if i != j && clearRelation(s, s.Objects[i], s.Objects[j]) != "" {
				pairs = append(pairs, []int{i, j})
			}
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	return pairs[rng.IntN(len(pairs))]
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// Caption describes a scene in a few words, as a list of words (the Conceptual
// Captions annotation stores captions split on spaces). Captions are short and
// dense in grounded words (colours, shapes, sizes, counts, relations): masked
// language modelling on them can only be solved by looking at the regions,
// which is what pre-training is meant to teach. Five kinds:
//
//	small red circle and large blue square        (the objects)
//	red circle on the left and blue square on the right (sides)
//	small red circle above large blue square      (a relation)
//	the circle is red / the red one is a circle   (an attribute of a unique object)
//	2 circles and 0 triangles                     (counts, digits as VQA answers)
//	there is a red circle / there is no green square (existence)
func Caption(rng *rand.Rand, s Scene) []string {
	objs := s.Objects
	var text string
	switch k := rng.IntN(5); {
	case k == 4: // existence, half of them false
		o := objs[rng.IntN(len(objs))]
		c, sh := o.Color, o.Shape
		if rng.IntN(2) == 0 {
			c, sh = rng.IntN(len(Colors)), rng.IntN(len(Shapes))
		}
		article := "no"
		if countWhere(objs, func(p Object) bool { return p.Color == c && p.Shape == sh }) > 0 {
			article = "a"
		}
		text = "there is " + article + " " + Colors[c] + " " + Shapes[sh]
	case k == 1 && len(objs) >= 2 && clearPair(rng, s) != nil:
		// Only pairs whose relation is plain (see clearRelation). (The pair
		// is drawn again; the second draw is the one used.)
		ij := clearPair(rng, s)
		a, b := objs[ij[0]], objs[ij[1]]
		switch rel := clearRelation(s, a, b); rel {
		case "left of", "right of":
			// Each object with its own side, as the relation questions ask:
			// a masked "left" in "a left of b" flips with the order of the
			// names, which a small model does not learn to track (see
			// question).
			sa, sb := "left", "right"
			if rel == "right of" {
				sa, sb = sb, sa
			}
			// (Without sizes: captions stay within 12 words.)
			text = Colors[a.Color] + " " + Shapes[a.Shape] + " on the " + sa + " and " + Colors[b.Color] + " " + Shapes[b.Shape] + " on the " + sb
		default:
			text = a.Name() + " " + rel + " " + b.Name()
		}
	case k == 2:
		o := objs[rng.IntN(len(objs))]
		switch {
		case countWhere(objs, func(p Object) bool { return p.Shape == o.Shape }) == 1 && rng.IntN(2) == 0:
			text = "the " + Shapes[o.Shape] + " is " + Colors[o.Color]
		case countWhere(objs, func(p Object) bool { return p.Color == o.Color }) == 1:
			text = "the " + Colors[o.Color] + " one is a " + Shapes[o.Shape]
		default:
			text = "a " + o.Name()
		}
	case k == 3:
		a := rng.IntN(len(Shapes))
		b := (a + 1 + rng.IntN(len(Shapes)-1)) % len(Shapes)
		text = countPhrase(objs, a) + " and " + countPhrase(objs, b)
	default:
		names := make([]string, len(objs))
		for i, o := range objs {
			names[i] = o.Name()
		}
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		text = joinAnd(names)
	}
	return strings.Fields(text)
}

// countPhrase is "0 circles", "1 circle" or "2 circles" (digits, as the VQA
// count answers).
func countPhrase(objs []Object, shape int) string {
	n := countWhere(objs, func(p Object) bool { return p.Shape == shape })
	switch n {
	case 1:
		return "1 " + Shapes[shape]
	}
	return fmt.Sprint(n) + " " + plural[Shapes[shape]]
}

func joinAnd(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], " , ") + " and " + items[len(items)-1]
}

func countWord(n int) string {
	return []string{"no", "one", "two", "three", "four", "five", "six", "seven", "eight"}[n]
}

// CorpusLine is one line of the text-only corpus: statements about the world that
// need no image.
func CorpusLine(rng *rand.Rand) string {
	var parts []string
	for len(parts) < 3 {
		c, sh := Colors[rng.IntN(len(Colors))], Shapes[rng.IntN(len(Shapes))]
		switch rng.IntN(4) {
		case 0:
			parts = append(parts, fmt.Sprintf("a %s %s is a %s shape", c, sh, c))
		case 1:
			parts = append(parts, fmt.Sprintf("%s %s can be small or large", c, plural[sh]))
		case 2:
			parts = append(parts, fmt.Sprintf("a large %s is bigger than a small %s", sh, Shapes[rng.IntN(len(Shapes))]))
		default:
			parts = append(parts, fmt.Sprintf("the %s %s is %s of the %s %s", c, sh, []string{"left", "right"}[rng.IntN(2)], Colors[rng.IntN(len(Colors))], Shapes[rng.IntN(len(Shapes))]))
		}
	}
	return strings.Join(parts, " . ") + " ."
}

// Question is a VQA question with its answer and type.
type Question struct {
	Text, Answer, Type string
}

// AnswerVocab lists every answer the world can give, plus "<unk>" as the VQA answer
// vocabulary requires.
func AnswerVocab() []string {
	v := append([]string{}, Colors...)
	v = append(v, Shapes...)
	v = append(v, "yes", "no", "left", "right", NoneAnswer, "0", "1", "2", "3", "4", "5", "<unk>")
	return v
}

// Questions asks n questions about s, of mixed types with balanced yes/no answers:
// color, shape, count, exist, relation (which side of the image an object is
// on) and absent (the colour or shape of an object the scene lacks: "none").
func Questions(rng *rand.Rand, s Scene, n int) []Question {
	// Distinct questions first; a scene too small for n of them repeats some.
	var qs []Question
	seen := map[string]bool{}
	for tries := 0; len(qs) < n && tries < 100; tries++ {
		if q, ok := question(rng, s); ok && !seen[q.Text] {
			seen[q.Text] = true
			qs = append(qs, q)
		}
	}
	for tries := 0; len(qs) < n && tries < 50; tries++ {
		if q, ok := question(rng, s); ok {
			qs = append(qs, q)
		}
	}
	return qs
}

func question(rng *rand.Rand, s Scene) (Question, bool) {
	objs := s.Objects
	o := objs[rng.IntN(len(objs))]
	switch rng.IntN(6) {
	case 0: // colour of a uniquely shaped object
		if countWhere(objs, func(p Object) bool { return p.Shape == o.Shape }) != 1 {
			return Question{}, false
		}
		return Question{"what color is the " + Shapes[o.Shape] + " ?", Colors[o.Color], "color"}, true
	case 1: // shape of a uniquely coloured object
		if countWhere(objs, func(p Object) bool { return p.Color == o.Color }) != 1 {
			return Question{}, false
		}
		return Question{"what shape is the " + Colors[o.Color] + " object ?", Shapes[o.Shape], "shape"}, true
	case 2:
		sh := rng.IntN(len(Shapes))
		n := countWhere(objs, func(p Object) bool { return p.Shape == sh })
		return Question{"how many " + plural[Shapes[sh]] + " are there ?", fmt.Sprint(n), "count"}, true
	case 3: // existence, half of them true
		c, sh := o.Color, o.Shape
		if rng.IntN(2) == 0 {
			c, sh = rng.IntN(len(Colors)), rng.IntN(len(Shapes))
		}
		exists := countWhere(objs, func(p Object) bool { return p.Color == c && p.Shape == sh }) > 0
		return Question{"is there a " + Colors[c] + " " + Shapes[sh] + " ?", yesNo(exists), "exist"}, true
	case 4: // relation: which side of the image a uniquely described object is on
		// One object, not "is A left or right of B": that answer flips when
		// the two names swap places while the image and the set of named
		// objects stay the same, so a reader that finds both named regions
		// and their sides but not which name is the subject is at chance.
		// The demo model was (0.50 on a relation-only fine-tune, train
		// accuracy too), while this form reached 0.99 in the same steps.
		// Objects within a margin of the centre line are not asked about.
		var cands []Object
		for _, p := range objs {
			if sideOf(s, p) != 0 && uniqueColorShape(objs, p) {
				cands = append(cands, p)
			}
		}
		if len(cands) == 0 {
			return Question{}, false
		}
		a := cands[rng.IntN(len(cands))]
		side := "right"
		if sideOf(s, a) < 0 {
			side = "left"
		}
		return Question{fmt.Sprintf("is the %s %s on the left or the right ?", Colors[a.Color], Shapes[a.Shape]), side, "relation"}, true
	default:
		// A third as often as the others: where "none" answers most
		// "what color is the circle ?" questions, the model settles on it
		// for all of them (colour and absent questions alone, from scratch:
		// colour 0.15, absent 0.92 after 10 epochs; with a third of the
		// absent questions, 0.92 and 0.79 in fewer steps).
		if rng.IntN(3) != 0 {
			return Question{}, false
		}
		return absentQuestion(rng, s), true
	}
}

// absentQuestion asks the colour of a shape, or the shape of a colour, that
// the scene does not have, in the words of the colour and shape questions;
// the answer is NoneAnswer. With at most three objects of four shapes some
// shape is always missing.
func absentQuestion(rng *rand.Rand, s Scene) Question {
	var shapes, colors []int
	for sh := range Shapes {
		if countWhere(s.Objects, func(p Object) bool { return p.Shape == sh }) == 0 {
			shapes = append(shapes, sh)
		}
	}
	for c := range Colors {
		if countWhere(s.Objects, func(p Object) bool { return p.Color == c }) == 0 {
			colors = append(colors, c)
		}
	}
	switch {
	case len(colors) > 0 && (len(shapes) == 0 || rng.IntN(2) == 0):
		return Question{"what shape is the " + Colors[colors[rng.IntN(len(colors))]] + " object ?", NoneAnswer, "absent"}
	case len(shapes) > 0:
		return Question{"what color is the " + Shapes[shapes[rng.IntN(len(shapes))]] + " ?", NoneAnswer, "absent"}
	}
	// Every shape and colour present (more than four objects): a count instead.
	sh := rng.IntN(len(Shapes))
	n := countWhere(s.Objects, func(p Object) bool { return p.Shape == sh })
	return Question{"how many " + plural[Shapes[sh]] + " are there ?", fmt.Sprint(n), "count"}
}

// NoneAnswer answers a question about an object the scene does not have.
const NoneAnswer = "none"

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func countWhere(objs []Object, pred func(Object) bool) int {
	n := 0
	for _, o := range objs {
		if pred(o) {
			n++
		}
	}
	return n
}

func uniqueColorShape(objs []Object, o Object) bool {
	return countWhere(objs, func(p Object) bool { return p.Color == o.Color && p.Shape == o.Shape }) == 1
}

// ReferringExpression describes object idx of s so that it is the only match, or
// returns false when no description in the grammar singles it out.
func ReferringExpression(rng *rand.Rand, s Scene, idx int) (string, bool) {
	o := s.Objects[idx]
	candidates := []struct {
		text  string
		match func(Object) bool
	}{
		{"the " + Shapes[o.Shape], func(p Object) bool { return p.Shape == o.Shape }},
		{"the " + Colors[o.Color] + " " + Shapes[o.Shape], func(p Object) bool { return p.Shape == o.Shape && p.Color == o.Color }},
		{"the " + Colors[o.Color] + " one", func(p Object) bool { return p.Color == o.Color }},
		{"the " + o.Name(), func(p Object) bool { return p.Shape == o.Shape && p.Color == o.Color && p.Size == o.Size }},
	}
	start := rng.IntN(len(candidates))
	for k := range candidates {
		c := candidates[(start+k)%len(candidates)]
		if countWhere(s.Objects, c.match) == 1 {
			return c.text, true
		}
	}
	// Fall back to position among objects of the same shape.
	same := 0
	leftmost, rightmost := true, true
	for i, p := range s.Objects {
		if i == idx || p.Shape != o.Shape {
			continue
		}
		same++
		leftmost = leftmost && o.CenterX() < p.CenterX()-2
		rightmost = rightmost && o.CenterX() > p.CenterX()+2
	}
	if same > 0 && leftmost {
		return "the " + Shapes[o.Shape] + " on the left", true
	}
	if same > 0 && rightmost {
		return "the " + Shapes[o.Shape] + " on the right", true
	}
	return "", false
}
