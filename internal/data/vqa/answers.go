package vqa

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// UNK is the out-of-vocabulary answer that every answer vocabulary must contain.
const UNK = "<unk>"

// AnswerVocab is the answer list (answers_vqa.txt: 3129 answers for VQA v2).
type AnswerVocab struct {
	Answers []string
	index   map[string]int // first index of each entry, as Python's list.index
	unk     int
}

// MaxAnswerFileBytes bounds the answer file (the real one is about 30 KB).
const MaxAnswerFileBytes = 64 << 20

// LoadAnswerVocab reads an answer file: one answer a line (\n, \r\n or \r),
// lower-cased and stripped, empty lines dropped; with normalize (the original's
// USE_IMDB=false) each entry goes through NormalizeVocabEntry. It must contain
// "<unk>".
func LoadAnswerVocab(path string, normalize bool) (*AnswerVocab, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vqa: %w", err)
	}
	if st.Size() > MaxAnswerFileBytes {
		return nil, fmt.Errorf("vqa: %s: %d bytes, over the %d-byte limit for an answer file", path, st.Size(), MaxAnswerFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vqa: %w", err)
	}
	v, err := ParseAnswerVocab(data, normalize)
	if err != nil {
		return nil, fmt.Errorf("vqa: %s: %w", path, err)
	}
	return v, nil
}

// ParseAnswerVocab parses the contents of an answer file (see LoadAnswerVocab).
func ParseAnswerVocab(data []byte, normalize bool) (*AnswerVocab, error) {
	v := &AnswerVocab{index: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), len(data)+1)
	sc.Split(scanUniversalLines)
	for sc.Scan() {
		a := strings.TrimFunc(strings.ToLower(sc.Text()), isPySpace)
		if a == "" {
			continue
		}
		if normalize {
			a = NormalizeVocabEntry(a)
		}
		if _, dup := v.index[a]; !dup {
			v.index[a] = len(v.Answers)
		}
		v.Answers = append(v.Answers, a)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	unk, ok := v.index[UNK]
	if !ok {
		return nil, fmt.Errorf("answer vocabulary of %d entries has no %s", len(v.Answers), UNK)
	}
	v.unk = unk
	return v, nil
}

// Len is the number of answers (the classifier width).
func (v *AnswerVocab) Len() int { return len(v.Answers) }

// UNKIndex is the index of "<unk>".
func (v *AnswerVocab) UNKIndex() int { return v.unk }

// Index returns the first index of answer, or UNKIndex if it is absent. As in the
// original, the answer itself is not normalised.
func (v *AnswerVocab) Index(answer string) int {
	if i, ok := v.index[answer]; ok {
		return i
	}
	return v.unk
}

// SoftTarget writes the soft answer target of the human answers into dst [Len()]
// (overwritten): for each distinct vocabulary index a ≠ <unk> among the answers,
// dst[a] = mean over answers g of min(1, #{answers other than g with index a}/3),
// the VQA accuracy of predicting a averaged over the leave-one-out subsets. Every
// other entry is 0. Out-of-vocabulary answers count as <unk> and so only lower the
// targets of the others' matches (vqa/data/datasets/vqa.py, __getitem__: out-of-vocabulary answers are dropped).
func (v *AnswerVocab) SoftTarget(dst []float32, answers []string) {
	if len(dst) != v.Len() {
		panic("vqa: SoftTarget: dst length differs from the vocabulary size")
	}
	clear(dst)
	if len(answers) == 0 {
		return
	}
	idx := make([]int, len(answers))
	count := map[int]int{}
	for i, a := range answers {
		idx[i] = v.Index(a)
		count[idx[i]]++
	}
	for a, n := range count {
		if a == v.unk {
			continue
		}
		// Answers g with index a see n−1 matching others; the rest see n.
		var sum float64
		for _, g := range idx {
			m := n
			if g == a {
				m = n - 1
			}
			sum += min(1, float64(m)/3)
		}
		dst[a] = float32(sum / float64(len(idx)))
	}
}

// scanUniversalLines splits on \n, \r\n and \r, as Python's text-mode readlines.
func scanUniversalLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		switch c {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // need the next byte to tell \r from \r\n
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
