package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

func smallConfig() Config {
	c := DefaultConfig()
	c.TrainScenes, c.ValScenes = 12, 4
	return c
}

func hashDir(t *testing.T, dir string) string {
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %d\n", rel, len(b))
		h.Write(b)
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestWriteIsDeterministicAndComplete(t *testing.T) {
	cfg := smallConfig()
	var hashes []string
	for i := 0; i < 2; i++ {
		w, err := Generate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if IsComplete(dir, cfg) {
			t.Fatal("empty dir reported complete")
		}
		if err := Write(w, dir); err != nil {
			t.Fatal(err)
		}
		if !IsComplete(dir, cfg) {
			t.Fatal("written dir not complete")
		}
		other := cfg
		other.Seed++
		if IsComplete(dir, other) {
			t.Fatal("complete for a different seed")
		}
		if i == 1 { // a world of the first layout (its marker was the bare config) is written again
			old, _ := json.Marshal(cfg)
			marker := filepath.Join(dir, Layout.Complete)
			good, _ := os.ReadFile(marker)
			if err := os.WriteFile(marker, old, 0o644); err != nil {
				t.Fatal(err)
			}
			if IsComplete(dir, cfg) {
				t.Fatal("a layout-1 world reported complete")
			}
			os.WriteFile(marker, good, 0o644)
		}
		hashes = append(hashes, hashDir(t, dir))
	}
	if hashes[0] != hashes[1] {
		t.Fatal("same seed wrote different data")
	}
}

func TestScenesAreValid(t *testing.T) {
	w, err := Generate(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(w.Train, w.Val...) {
		if len(s.Objects) < 1 {
			t.Fatalf("scene %d is empty", s.ID)
		}
		for _, o := range s.Objects {
			if o.Box[0] < 0 || o.Box[1] < 0 || int(o.Box[2]) >= s.Width || int(o.Box[3]) >= s.Height || o.Box[2] <= o.Box[0] {
				t.Fatalf("scene %d: bad box %v", s.ID, o.Box)
			}
		}
	}
	if _, err := Generate(Config{}); err == nil {
		t.Fatal("zero config accepted")
	}
}

// Every object must stay visible: its own colour covers a good part of its box.
func TestRenderKeepsObjectsVisible(t *testing.T) {
	w, _ := Generate(smallConfig())
	for _, s := range w.Train {
		img := Render(s)
		for _, o := range s.Objects {
			want := colorRGB[o.Color]
			n := 0
			for y := int(o.Box[1]); y <= int(o.Box[3]); y++ {
				for x := int(o.Box[0]); x <= int(o.Box[2]); x++ {
					c := img.RGBAAt(x, y)
					if c.R == want[0] && c.G == want[1] && c.B == want[2] {
						n++
					}
				}
			}
			if frac := float32(n) / area(o.Box); frac < 0.2 {
				t.Errorf("scene %d: %s covers only %.2f of its box", s.ID, o.Name(), frac)
			}
		}
	}
}

func TestQuestionsAreAnsweredCorrectly(t *testing.T) {
	w, _ := Generate(DefaultConfig())
	rng := rand.New(rand.NewPCG(3, 4))
	types := map[string]int{}
	yes, left := 0, 0
	for _, s := range w.Train[:300] {
		for _, q := range Questions(rng, s, QuestionsPerScene) {
			types[q.Type]++
			words := strings.Fields(q.Text)
			switch q.Type {
			case "count":
				sh := strings.TrimSuffix(words[2], "s")
				n := countWhere(s.Objects, func(p Object) bool { return Shapes[p.Shape] == sh })
				if q.Answer != fmt.Sprint(n) {
					t.Fatalf("%q answered %s, want %d", q.Text, q.Answer, n)
				}
			case "color":
				for _, o := range s.Objects {
					if Shapes[o.Shape] == words[4] && Colors[o.Color] != q.Answer {
						t.Fatalf("%q answered %s", q.Text, q.Answer)
					}
				}
			case "exist":
				if q.Answer == "yes" {
					yes++
				}
			case "relation": // is the <c> <s> on the left or the right ?
				if q.Answer == "left" {
					left++
				}
				var a *Object
				for i, o := range s.Objects {
					if Colors[o.Color] == words[2] && Shapes[o.Shape] == words[3] {
						if a != nil {
							t.Fatalf("%q: two %s %s in scene %d", q.Text, words[2], words[3], s.ID)
						}
						a = &s.Objects[i]
					}
				}
				if a == nil {
					t.Fatalf("%q: no %s %s in scene %d", q.Text, words[2], words[3], s.ID)
				}
				// Clear of the centre line, on the side the answer names.
				mid, m := float32(s.Width)/2, float32(s.Width)/16
				if aLeft, aRight := a.CenterX() < mid-m, a.CenterX() > mid+m; !(aLeft || aRight) || (q.Answer == "left") != aLeft {
					t.Fatalf("%q answered %s: centre %.1f of width %d", q.Text, q.Answer, a.CenterX(), s.Width)
				}
			case "absent": // what color is the <s> ? / what shape is the <c> object ?
				if q.Answer != NoneAnswer {
					t.Fatalf("%q answered %s, want %s", q.Text, q.Answer, NoneAnswer)
				}
				n := countWhere(s.Objects, func(p Object) bool { return Shapes[p.Shape] == words[4] })
				if words[1] == "shape" {
					n = countWhere(s.Objects, func(p Object) bool { return Colors[p.Color] == words[4] })
				}
				if n != 0 {
					t.Fatalf("%q: scene %d has %d of them", q.Text, s.ID, n)
				}
			}
		}
	}
	for _, typ := range []string{"color", "shape", "count", "exist", "relation", "absent"} {
		if types[typ] < 50 {
			t.Errorf("only %d %s questions", types[typ], typ)
		}
	}
	if yn := types["exist"]; yes < yn*3/10 || yes > yn*7/10 {
		t.Errorf("yes/no unbalanced: %d yes of %d", yes, yn)
	}
	if n := types["relation"]; left < n*3/10 || left > n*7/10 {
		t.Errorf("left/right unbalanced: %d left of %d", left, n)
	}
}

func TestReferringExpressionsAreUnique(t *testing.T) {
	w, _ := Generate(DefaultConfig())
	rng := rand.New(rand.NewPCG(5, 6))
	found := 0
	for _, s := range w.Train[:200] {
		for i := range s.Objects {
			expr, ok := ReferringExpression(rng, s, i)
			if !ok {
				continue
			}
			found++
			words := strings.Fields(expr)
			matches := 0
			for _, o := range s.Objects {
				if describes(words, o, s) {
					matches++
				}
			}
			if matches != 1 && !strings.Contains(expr, " on the ") {
				t.Fatalf("scene %d: %q matches %d objects", s.ID, expr, matches)
			}
		}
	}
	if found < 400 {
		t.Fatalf("only %d expressions", found)
	}
}

func describes(words []string, o Object, s Scene) bool {
	for _, w := range words[1:] {
		switch w {
		case "one":
		case Shapes[o.Shape], Colors[o.Color], Sizes[o.Size]:
		default:
			return false
		}
	}
	return true
}

func TestRefsPickleDecodes(t *testing.T) {
	w, _ := Generate(smallConfig())
	dir := t.TempDir()
	if err := Write(w, dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, Layout.RefCOCO, "refs(unc).p"))
	if err != nil {
		t.Fatal(err)
	}
	u := pickle.NewUnpickler(bytes.NewReader(b))
	v, err := u.Load()
	if err != nil {
		t.Fatal(err)
	}
	refs, ok := v.(*types.List)
	if !ok || refs.Len() == 0 {
		t.Fatalf("refs pickle holds %T", v)
	}
	first := refs.Get(0).(*types.Dict)
	for _, key := range []string{"ref_id", "ann_id", "image_id", "split", "sentences"} {
		if _, ok := first.Get(key); !ok {
			t.Errorf("ref lacks %q", key)
		}
	}
	var inst struct {
		Annotations []struct {
			ID   int       `json:"id"`
			BBox []float64 `json:"bbox"`
		} `json:"annotations"`
	}
	raw, _ := os.ReadFile(filepath.Join(dir, Layout.RefCOCO, "instances.json"))
	if err := json.Unmarshal(raw, &inst); err != nil || len(inst.Annotations) == 0 {
		t.Fatalf("instances.json: %v", err)
	}
}

func TestVCRChoicesHoldOneTruth(t *testing.T) {
	w, _ := Generate(smallConfig())
	rng := rand.New(rand.NewPCG(7, 8))
	kinds := map[string]int{}
	for k := range 4 * len(w.Train) {
		s := w.Train[k%len(w.Train)]
		item := VCRQuestion(rng, s)
		var idx int
		switch {
		case item.Question[0] == "what": // what color is [o] ?
			idx = item.Question[3].([]int)[0]
		case item.Question[0] == "where": // where is [o] ?
			idx = item.Question[2].([]int)[0]
		default:
			t.Fatalf("question %v", item.Question)
		}
		o := s.Objects[idx]
		text := func(a []any) string { // the words, without the object references
			var ws []string
			for _, x := range a {
				if w, ok := x.(string); ok {
					ws = append(ws, w)
				}
			}
			return strings.Join(ws, " ")
		}
		truth := text(item.Answers[item.AnswerLabel])
		kinds[item.Question[0].(string)]++
		if item.Question[0] == "what" {
			if truth != "is "+Colors[o.Color] {
				t.Fatalf("answer %q does not describe %s", truth, o.Name())
			}
		} else {
			// The quarter its centre is in, clear of the centre lines.
			cx, cy := o.CenterX(), (o.Box[1]+o.Box[3])/2
			mid, m := float32(s.Width)/2, float32(s.Width)/16
			want := "is at the "
			switch {
			case cy < mid-m:
				want += "top"
			case cy > mid+m:
				want += "bottom"
			default:
				t.Fatalf("scene %d: position question about an object at y %.1f", s.ID, cy)
			}
			switch {
			case cx < mid-m:
				want += " left"
			case cx > mid+m:
				want += " right"
			default:
				t.Fatalf("scene %d: position question about an object at x %.1f", s.ID, cx)
			}
			if truth != want {
				t.Fatalf("scene %d: answer %q, want %q (centre %.1f, %.1f)", s.ID, truth, want, cx, cy)
			}
		}
		seen := map[string]bool{}
		for _, a := range item.Answers {
			seen[text(a)] = true
		}
		if len(seen) != 4 {
			t.Fatalf("answers not distinct: %v", item.Answers)
		}
		if r := item.Rationales[item.RationaleLabel]; !strings.Contains(text(r)+" ", strings.TrimPrefix(strings.TrimPrefix(truth, "is at the "), "is ")+" ") {
			t.Fatalf("rationale %v does not restate %q", r, truth)
		}
	}
	if kinds["what"] < 10 || kinds["where"] < 10 {
		t.Errorf("question kinds %v", kinds)
	}
}

// TestCaptionsAreTrue checks every kind of caption against its scene: the
// grounded words pre-training masks must be what the image shows.
func TestCaptionsAreTrue(t *testing.T) {
	w, _ := Generate(DefaultConfig())
	rng := rand.New(rand.NewPCG(7, 8))
	kinds := map[string]int{}
	shapeOf := func(word string) int {
		for i, s := range Shapes {
			if word == s || word == plural[s] {
				return i
			}
		}
		return -1
	}
	colorOf := func(word string) int {
		for i, c := range Colors {
			if word == c {
				return i
			}
		}
		return -1
	}
	has := func(s Scene, c, sh int) int {
		return countWhere(s.Objects, func(p Object) bool { return (c < 0 || p.Color == c) && (sh < 0 || p.Shape == sh) })
	}
	for _, s := range w.Train[:300] {
		for k := 0; k < 6; k++ {
			words := Caption(rng, s)
			text := strings.Join(words, " ")
			if len(words) > 12 {
				t.Fatalf("caption %q longer than 12 words", text)
			}
			switch {
			case words[0] == "there": // there is a|no <colour> <shape>
				kinds["exist"]++
				n := has(s, colorOf(words[3]), shapeOf(words[4]))
				if (words[2] == "no") != (n == 0) {
					t.Fatalf("scene %d: %q, %d such objects", s.ID, text, n)
				}
			case words[0] == "the" && words[2] == "is": // the <shape> is <colour>
				kinds["attribute"]++
				if sh := shapeOf(words[1]); has(s, -1, sh) != 1 || has(s, colorOf(words[3]), sh) != 1 {
					t.Fatalf("scene %d: %q", s.ID, text)
				}
			case words[0] == "the": // the <colour> one is a <shape>
				kinds["attribute"]++
				if c := colorOf(words[1]); has(s, c, -1) != 1 || has(s, c, shapeOf(words[5])) != 1 {
					t.Fatalf("scene %d: %q", s.ID, text)
				}
			case words[0] >= "0" && words[0] <= "9": // <n> <shapes> and <m> <shapes>
				kinds["count"]++
				for _, i := range []int{0, 3} {
					if fmt.Sprint(has(s, -1, shapeOf(words[i+1]))) != words[i] {
						t.Fatalf("scene %d: %q", s.ID, text)
					}
				}
			case strings.Contains(text, " on the ") || strings.Contains(text, "above") || strings.Contains(text, "below"):
				kinds["relation"]++
				if len(words) != 11 || words[2] != "on" {
					break
				}
				// <colour> <shape> on the left|right and <colour> <shape> on the
				// right|left: objects on opposite halves of the image, each on its
				// side (names may repeat: some matching pair must fit).
				mid, m := float32(s.Width)/2, float32(s.Width)/16
				side := func(o Object, w string) bool {
					return w == "left" && o.CenterX() < mid-m || w == "right" && o.CenterX() > mid+m
				}
				ok := words[4] != words[10]
				found := false
				for _, a := range s.Objects {
					for _, b := range s.Objects {
						if Colors[a.Color] == words[0] && Shapes[a.Shape] == words[1] && Colors[b.Color] == words[6] && Shapes[b.Shape] == words[7] {
							found = found || side(a, words[4]) && side(b, words[10])
						}
					}
				}
				ok = ok && found
				if !ok {
					t.Fatalf("scene %d: %q", s.ID, text)
				}
			default:
				kinds["objects"]++
			}
		}
	}
	for _, k := range []string{"exist", "attribute", "count", "relation", "objects"} {
		if kinds[k] < 100 {
			t.Errorf("only %d %s captions: %v", kinds[k], k, kinds)
		}
	}
}
