package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/tokenizer"
)

func within(t *testing.T, name string, got, want float64, n int) {
	t.Helper()
	// 5 binomial standard deviations.
	tol := 5 * math.Sqrt(want*(1-want)/float64(n))
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.4f, want %.4f ± %.4f (n=%d)", name, got, want, tol, n)
	} else {
		t.Logf("%s = %.4f (want %.4f ± %.4f, n=%d)", name, got, want, tol, n)
	}
}

// TestMaskWordsRates checks the 15% selection and the 80/10/10 split over many
// one-piece words, and that labels are set exactly on selected words.
func TestMaskWordsRates(t *testing.T) {
	tok := tokenizer.Default(true)
	maskID, _ := tok.ID(TokenMASK)
	words := []string{"the", "dog", "runs", "on", "a", "beach", "with", "red", "ball", "today"}
	rng := rand.New(rand.NewPCG(1, 2))
	var total, selected, masked, kept, random int
	for range 20000 {
		ids, labels, err := MaskWords(rng, words, tok, DefaultMLM())
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != len(words) || len(labels) != len(words) {
			t.Fatalf("lengths %d %d", len(ids), len(labels))
		}
		for i, w := range words {
			orig, _ := tok.ID(w)
			total++
			if labels[i] == -1 {
				if ids[i] != int64(orig) {
					t.Fatalf("unselected word %q changed to %d", w, ids[i])
				}
				continue
			}
			if labels[i] != int64(orig) {
				t.Fatalf("label of %q is %d, want %d", w, labels[i], orig)
			}
			selected++
			switch ids[i] {
			case int64(maskID):
				masked++
			case int64(orig):
				kept++
			default:
				random++
			}
		}
	}
	within(t, "selected", float64(selected)/float64(total), 0.15, total)
	// A random token equals the original or [MASK] with probability ~1/30522: ignore.
	within(t, "masked|selected", float64(masked)/float64(selected), 0.8, selected)
	within(t, "random|selected", float64(random)/float64(selected), 0.1, selected)
	within(t, "kept|selected", float64(kept)/float64(selected), 0.1, selected)
}

// TestMaskWordsWholeWord: every piece of a multi-piece word shares the decision.
func TestMaskWordsWholeWord(t *testing.T) {
	tok := tokenizer.Default(true)
	pieces := tok.WordPiece("surfboarding")
	if len(pieces) < 2 {
		t.Fatalf("want a multi-piece word, got %v", pieces)
	}
	maskID, _ := tok.ID(TokenMASK)
	rng := rand.New(rand.NewPCG(3, 4))
	seenMasked, seenRandom := false, false
	for range 3000 {
		ids, labels, err := MaskWords(rng, []string{"surfboarding"}, tok, DefaultMLM())
		if err != nil {
			t.Fatal(err)
		}
		nLabelled, nMask := 0, 0
		for i := range ids {
			if labels[i] != -1 {
				nLabelled++
			}
			if ids[i] == int64(maskID) {
				nMask++
			}
		}
		if nLabelled != 0 && nLabelled != len(pieces) {
			t.Fatalf("partially labelled word: %v", labels)
		}
		if nMask != 0 && nMask != len(pieces) {
			t.Fatalf("partially masked word: %v", ids)
		}
		seenMasked = seenMasked || nMask == len(pieces)
		if nLabelled > 0 && nMask == 0 {
			orig, _ := tok.ConvertTokensToIDs(pieces)
			for i := range ids {
				if ids[i] != int64(orig[i]) {
					seenRandom = true
				}
			}
		}
	}
	if !seenMasked || !seenRandom {
		t.Errorf("masked %v random %v: both branches should occur in 3000 draws", seenMasked, seenRandom)
	}
}

func TestMaskWordsOptions(t *testing.T) {
	tok := tokenizer.Default(true)
	words := []string{"a", "b"}
	// ForceMask: with Prob 0 nothing is selected, so exactly one word is forced.
	rng := rand.New(rand.NewPCG(5, 6))
	ids, labels, err := MaskWords(rng, words, tok, MLM{Prob: 0, Mask: 0.8, Random: 0.1, ForceMask: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range ids {
		if labels[i] != -1 {
			n++
			if ids[i] != 103 {
				t.Errorf("forced word not [MASK]: %v", ids)
			}
		}
	}
	if n != 1 {
		t.Errorf("ForceMask labelled %d words, want 1", n)
	}
	// Without ForceMask and Prob 0 nothing is a target (the original's NaN case).
	_, labels, _ = MaskWords(rng, words, tok, MLM{Prob: 0, Mask: 0.8, Random: 0.1})
	if slices.ContainsFunc(labels, func(l int64) bool { return l != -1 }) {
		t.Errorf("labels %v", labels)
	}
	// RandomLow: random replacements never fall below it.
	for range 2000 {
		ids, _, _ := MaskWords(rng, words, tok, MLM{Prob: 1, Mask: 0, Random: 1, RandomLow: 999})
		for _, id := range ids {
			if id < 999 || id >= int64(tok.VocabSize()) {
				t.Fatalf("random id %d outside [999, V)", id)
			}
		}
	}
}

func TestMaskRegionsRates(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	n := 100000
	ops, sel := MaskRegions(rng, n, DefaultMVRC())
	var nSel, nMasked int
	for i := range n {
		if ops[i] == 1 && !sel[i] {
			t.Fatal("masked but not selected")
		}
		if sel[i] {
			nSel++
			if ops[i] == 1 {
				nMasked++
			}
		}
	}
	within(t, "regions selected", float64(nSel)/float64(n), 0.15, n)
	within(t, "masked|selected", float64(nMasked)/float64(nSel), 0.9, nSel)
}

func TestRemeanImageBox(t *testing.T) {
	// 3 real boxes with 2-d features; box 2 masked.
	boxes := []float32{
		0, 0, 9, 9, 0, 0,
		0, 0, 1, 1, 1, 10,
		0, 0, 1, 1, 2, 20,
		0, 0, 1, 1, 6, 60,
	}
	MeanFeature(boxes[4:6], boxes[6:], 3, 6, 4, 2)
	if boxes[4] != 3 || boxes[5] != 30 {
		t.Fatalf("mean = %v", boxes[4:6])
	}
	RemeanImageBox(boxes, []int64{0, 0, 1, 0}, 6, 2)
	// (1+6)/(2+1e-5), (10+60)/(2+1e-5)
	want0, want1 := 7/(2+1e-5), 70/(2+1e-5)
	if math.Abs(float64(boxes[4])-want0) > 1e-5 || math.Abs(float64(boxes[5])-want1) > 1e-4 {
		t.Errorf("remean = %v, want %v %v", boxes[4:6], want0, want1)
	}
	// Nothing masked: n·mean/(n+1e-5), slightly below the mean, as the original.
	b2 := []float32{0, 0, 1, 1, 5, 0, 0, 1, 1, 5}
	RemeanImageBox(b2, []int64{0, 0}, 5, 1)
	if !(b2[4] < 5 && b2[4] > 4.9999) {
		t.Errorf("unmasked remean = %v", b2[4])
	}
}

func TestTruncateCC(t *testing.T) {
	for _, c := range []struct{ text, box, seq, wantT, wantB int }{
		{10, 20, 64, 10, 20},   // fits
		{40, 40, 64, 32, 32},   // equal: text first, alternating
		{60, 11, 64, 53, 11},   // only text is cut
		{5, 101, 64, 5, 59},    // only boxes
		{100, 1, 64, 63, 1},    // box at 1 stays
		{33, 33, 64, 32, 32},   // tie -> text first, then box
		{3, 70, 2, 2, 1},       // loop ends at text 0: floors give 2 and 1 (sum 3 > 2)
		{200, 200, 64, 32, 32}, // both long
	} {
		gt, gb := TruncateCC(c.text, c.box, c.seq)
		if gt != c.wantT || gb != c.wantB {
			t.Errorf("TruncateCC(%d,%d,%d) = %d,%d want %d,%d", c.text, c.box, c.seq, gt, gb, c.wantT, c.wantB)
		}
	}
}
