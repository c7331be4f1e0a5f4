package data

import (
	"fmt"
	"math/rand/v2"
)

// Vocab is the part of the BERT tokenizer that masking needs; *tokenizer.Tokenizer
// implements it.
type Vocab interface {
	WordPiece(word string) []string
	ID(token string) (int, bool)
	VocabSize() int
}

// Special tokens of the BERT vocabularies.
const (
	TokenCLS  = "[CLS]"
	TokenSEP  = "[SEP]"
	TokenMASK = "[MASK]"
	TokenUNK  = "[UNK]"
)

// MLM configures whole-word masked language modelling (random_word_wwm).
type MLM struct {
	Prob   float64 // a word is selected with this probability (0.15)
	Mask   float64 // a selected word becomes [MASK]... with this probability (0.8)
	Random float64 // ... or random tokens with this one (0.1); else it is kept

	// RandomLow, if > 0, draws random replacement tokens from [RandomLow, V)
	// instead of the whole vocabulary. The original draws from all of it,
	// [PAD], [unused*] and [CLS] included (conceptual_captions.py, random_word_wwm); 999 skips those.
	RandomLow int
	// ForceMask, if set, masks one uniformly chosen word with [MASK] when no
	// word was selected, so a sequence always has a target. The original has
	// this commented out, which lets a batch have no MLM target (NaN loss, §7.2.7).
	ForceMask bool
}

// DefaultMLM is the original's 15% / 80-10-10 whole-word masking.
func DefaultMLM() MLM { return MLM{Prob: 0.15, Mask: 0.8, Random: 0.1} }

// MaskWords applies whole-word masking to basic-tokenized words and returns the
// wordpiece ids and labels (same length; label -1 = not a target, else the
// original wordpiece id). For each word one uniform draw p decides: p < Prob
// selects it; then p/Prob < Mask replaces all its pieces by [MASK], < Mask+Random
// replaces each piece by an independent uniform random id, otherwise the pieces
// are kept. The labels of every piece of a selected word are set.
func MaskWords(rng *rand.Rand, words []string, v Vocab, m MLM) (ids, labels []int64, err error) {
	maskID, err := tokenID(v, TokenMASK)
	if err != nil {
		return nil, nil, err
	}
	unkID, err := tokenID(v, TokenUNK)
	if err != nil {
		return nil, nil, err
	}
	vocabSize := v.VocabSize()
	if m.RandomLow < 0 || m.RandomLow >= vocabSize {
		return nil, nil, fmt.Errorf("data: MLM.RandomLow %d outside [0, %d)", m.RandomLow, vocabSize)
	}
	type span struct{ lo, hi int }
	var unselected []span
	anySelected := false
	for _, w := range words {
		pieces := v.WordPiece(w)
		lo := len(ids)
		p := rng.Float64()
		selected := p < m.Prob
		if selected {
			p /= m.Prob
		}
		for _, piece := range pieces {
			id, ok := v.ID(piece)
			label := int64(-1)
			if selected {
				// The original labels a piece missing from the vocabulary as [UNK].
				label = int64(unkID)
				if ok {
					label = int64(id)
				}
			}
			if !ok && (!selected || p >= m.Mask+m.Random) {
				return nil, nil, fmt.Errorf("data: wordpiece %q of word %q is not in the vocabulary", piece, w)
			}
			out := int64(id)
			if selected {
				switch {
				case p < m.Mask:
					out = int64(maskID)
				case p < m.Mask+m.Random:
					out = int64(m.RandomLow + rng.IntN(vocabSize-m.RandomLow))
				}
			}
			ids = append(ids, out)
			labels = append(labels, label)
		}
		anySelected = anySelected || (selected && len(pieces) > 0)
		if !selected && len(pieces) > 0 {
			unselected = append(unselected, span{lo, len(ids)})
		}
	}
	if m.ForceMask && !anySelected && len(unselected) > 0 {
		s := unselected[rng.IntN(len(unselected))]
		for i := s.lo; i < s.hi; i++ {
			labels[i] = ids[i]
			ids[i] = int64(maskID)
		}
	}
	return ids, labels, nil
}

func tokenID(v Vocab, tok string) (int, error) {
	id, ok := v.ID(tok)
	if !ok {
		return 0, fmt.Errorf("data: vocabulary has no %s token", tok)
	}
	return id, nil
}

// MVRC configures masked visual region classification (random_mask_region).
type MVRC struct {
	Prob float64 // a region is selected with this probability (0.15)
	Mask float64 // a selected region is masked (op 1) with this probability (0.9), else kept
}

// DefaultMVRC is the original's 15% / 90-10 region masking.
func DefaultMVRC() MVRC { return MVRC{Prob: 0.15, Mask: 0.9} }

// MaskRegions draws, for each of n real regions, whether it is selected (its
// label becomes its class-score vector) and whether it is masked (op 1). One
// uniform draw per region, as the original.
func MaskRegions(rng *rand.Rand, n int, m MVRC) (ops []int64, selected []bool) {
	ops = make([]int64, n)
	selected = make([]bool, n)
	for i := range n {
		p := rng.Float64()
		if p < m.Prob {
			selected[i] = true
			if p/m.Prob < m.Mask {
				ops[i] = 1
			}
		}
	}
	return ops, selected
}

// MeanFeature writes the mean of the n rows of width dim of src (row stride
// stride, feature at column off) into dst [dim]. The sum is in float64 and
// rounded once, so the result is the correctly rounded mean (PyTorch's float32
// mean may differ in the last bit).
func MeanFeature(dst, src []float32, n, stride, off, dim int) {
	if len(dst) < dim || (n > 0 && len(src) < (n-1)*stride+off+dim) {
		panic("data: MeanFeature: slice too short")
	}
	for k := range dim {
		var s float64
		for r := range n {
			s += float64(src[r*stride+off+k])
		}
		if n > 0 {
			dst[k] = float32(s / float64(n))
		} else {
			dst[k] = 0 // the mean of no rows; torch gives NaN, but num_boxes >= 10 in real data
		}
	}
}

// RemeanImageBox recomputes the whole-image feature (row 0 of boxes, feature at
// column 4) as the mean over the non-masked real boxes, with the original's
// float32 arithmetic: f0·n − Σ_masked f, divided by (n − n_masked + 1e-5).
// boxes is [n+1, stride]; ops [n+1] with ops[0] = 0.
func RemeanImageBox(boxes []float32, ops []int64, stride, dim int) {
	n := len(ops) - 1
	if n < 0 || len(boxes) < len(ops)*stride || stride < 4+dim {
		panic("data: RemeanImageBox: bad sizes")
	}
	f0 := boxes[4 : 4+dim]
	nf := float32(n)
	for k := range f0 {
		f0[k] *= nf
	}
	masked := 0
	for r := 1; r <= n; r++ {
		if ops[r] != 1 {
			continue
		}
		masked++
		row := boxes[r*stride+4 : r*stride+4+dim]
		for k := range f0 {
			f0[k] -= row[k]
		}
	}
	den := float32(float64(n-masked) + 1e-5)
	for k := range f0 {
		f0[k] /= den
	}
}

// TruncateCC returns how many text tokens and boxes the Conceptual Captions
// sample keeps when textLen+boxLen exceeds seqLen: the longer of the two (text on
// ties) is decremented until the sum fits, then text is floored at 2 and boxes
// at 1 (conceptual_captions.py, random_mask_region; the floors are applied after the loop, so the sum may still
// exceed seqLen). When the sum already fits, nothing is cut.
func TruncateCC(textLen, boxLen, seqLen int) (textKeep, boxKeep int) {
	if textLen+boxLen <= seqLen {
		return textLen, boxLen
	}
	textKeep, boxKeep = textLen, boxLen
	for textKeep+boxKeep > seqLen && textKeep > 0 && boxKeep > 0 {
		if boxKeep > textKeep {
			boxKeep--
		} else {
			textKeep--
		}
	}
	textKeep = max(textKeep, 2)
	boxKeep = max(boxKeep, 1)
	return textKeep, boxKeep
}
