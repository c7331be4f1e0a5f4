// Package tokenizer is the BERT text tokenizer of VL-BERT: BasicTokenizer (cleaning, CJK
// spacing, optional lower-casing with accent stripping, punctuation splitting) followed by
// greedy longest-match-first WordPiece, reproducing pytorch_pretrained_bert 0.6.x
// tokenization.py as bundled with jackroos/VL-BERT (external/pytorch_pretrained_bert/tokenization.py) token for token.
//
// The bert-base-uncased vocabulary is embedded (see vocab/NOTICE), so Default works without
// any file. A Tokenizer is immutable after construction and safe for concurrent use.
//
// Known, deliberate differences from the Python original:
//   - Character classes come from Go's Unicode 15.0 tables (Python 3.11 uses 14.0), so code
//     points first assigned in Unicode 15.0 are not treated as unassigned (control).
//   - Invalid UTF-8 bytes decode to U+FFFD and are therefore dropped, as Python would after
//     decoding with errors="replace".
//   - New rejects a vocabulary without [UNK] (the Python code fails later, on lookup).
//
// This package does not add [CLS]/[SEP], truncate, or pad: that is the datasets' job.
package tokenizer

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// Special tokens of the BERT vocabulary. With bert-base-uncased their ids are
// [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103.
const (
	PadToken  = "[PAD]"
	UnkToken  = "[UNK]"
	ClsToken  = "[CLS]"
	SepToken  = "[SEP]"
	MaskToken = "[MASK]"
)

// MaxInputCharsPerWord is the WordPiece limit: a longer word (in code points) becomes [UNK].
const MaxInputCharsPerWord = 100

// maxVocabBytes bounds what New reads; the largest public BERT vocabularies are ~1 MB.
const maxVocabBytes = 64 << 20

// neverSplit are the tokens BasicTokenizer leaves alone (no lower-casing, no punctuation
// split), exactly the 0.6.x default tuple.
var neverSplit = map[string]bool{UnkToken: true, SepToken: true, PadToken: true, ClsToken: true, MaskToken: true}

//go:embed vocab/bert-base-uncased.txt
var bertBaseUncased []byte

// vocab is the immutable token table shared by tokenizers built from the same file.
type vocab struct {
	ids    map[string]int // token -> id; a duplicated line maps to its last id, as in Python
	tokens []string       // id -> token (the stripped line)
	unkID  int
}

// Tokenizer turns text into BERT wordpieces and ids.
type Tokenizer struct {
	v         *vocab
	lowerCase bool
}

// New reads a vocabulary (one token per line, id = line number from 0; surrounding
// whitespace stripped; \n, \r\n and \r all end a line, as Python's text-mode readline) and
// returns a tokenizer that lower-cases and strips accents when lowerCase is true.
func New(r io.Reader, lowerCase bool) (*Tokenizer, error) {
	v, err := readVocab(r)
	if err != nil {
		return nil, err
	}
	return &Tokenizer{v: v, lowerCase: lowerCase}, nil
}

var (
	defaultOnce  sync.Once
	defaultVocab *vocab
)

// Default returns a tokenizer over the embedded bert-base-uncased vocabulary (30522 tokens).
// lowerCase true is what VL-BERT uses; false gives the do_lower_case=False behaviour.
func Default(lowerCase bool) *Tokenizer {
	defaultOnce.Do(func() {
		v, err := readVocab(bytes.NewReader(bertBaseUncased))
		if err != nil {
			panic("tokenizer: embedded vocabulary: " + err.Error())
		}
		defaultVocab = v
	})
	return &Tokenizer{v: defaultVocab, lowerCase: lowerCase}
}

func readVocab(r io.Reader) (*vocab, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxVocabBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: reading vocabulary: %w", err)
	}
	if len(data) > maxVocabBytes {
		return nil, fmt.Errorf("tokenizer: vocabulary larger than %d bytes", maxVocabBytes)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("tokenizer: vocabulary is not valid UTF-8")
	}
	v := &vocab{ids: make(map[string]int), unkID: -1}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxVocabBytes+1)
	sc.Split(scanUniversalLines)
	for sc.Scan() {
		tok := strings.TrimFunc(sc.Text(), isPySpace)
		v.ids[tok] = len(v.tokens)
		v.tokens = append(v.tokens, tok)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: reading vocabulary: %w", err)
	}
	id, ok := v.ids[UnkToken]
	if !ok {
		return nil, fmt.Errorf("tokenizer: vocabulary (%d tokens) has no %s token", len(v.tokens), UnkToken)
	}
	v.unkID = id
	return v, nil
}

// scanUniversalLines splits on \n, \r\n or \r, like Python's universal-newline readline.
func scanUniversalLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		switch b {
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
			return 0, nil, nil // need one more byte to tell \r from \r\n
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// LowerCase reports whether the tokenizer lower-cases and strips accents.
func (t *Tokenizer) LowerCase() bool { return t.lowerCase }

// VocabSize returns the number of vocabulary lines (30522 for bert-base-uncased).
func (t *Tokenizer) VocabSize() int { return len(t.v.tokens) }

// ID returns the id of token and whether it is in the vocabulary.
func (t *Tokenizer) ID(token string) (int, bool) {
	id, ok := t.v.ids[token]
	return id, ok
}

// Token returns the vocabulary line of id. It panics if id is outside [0, VocabSize()).
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.v.tokens) {
		panic("tokenizer: id out of range")
	}
	return t.v.tokens[id]
}

// Tokenize runs BasicTokenize and then WordPiece on each basic token. Every returned
// token is a vocabulary entry (words with no WordPiece split become [UNK]).
func (t *Tokenizer) Tokenize(text string) []string {
	var out []string
	for _, word := range t.BasicTokenize(text) {
		out = t.appendWordPiece(out, word)
	}
	return out
}

// ConvertTokensToIDs maps tokens to ids; an unknown token is an error naming it (the
// Python original raises KeyError).
func (t *Tokenizer) ConvertTokensToIDs(tokens []string) ([]int, error) {
	ids := make([]int, len(tokens))
	for i, tok := range tokens {
		id, ok := t.v.ids[tok]
		if !ok {
			return nil, fmt.Errorf("tokenizer: token %d %q is not in the vocabulary", i, tok)
		}
		ids[i] = id
	}
	return ids, nil
}

// ConvertIDsToTokens maps ids back to tokens; an id outside the vocabulary is an error.
func (t *Tokenizer) ConvertIDsToTokens(ids []int) ([]string, error) {
	tokens := make([]string, len(ids))
	for i, id := range ids {
		if id < 0 || id >= len(t.v.tokens) {
			return nil, fmt.Errorf("tokenizer: id %d at position %d outside vocabulary of %d", id, i, len(t.v.tokens))
		}
		tokens[i] = t.v.tokens[id]
	}
	return tokens, nil
}

// Encode tokenizes text and returns the tokens with their ids. It cannot fail: every
// token Tokenize returns is in the vocabulary.
func (t *Tokenizer) Encode(text string) (tokens []string, ids []int) {
	tokens = t.Tokenize(text)
	ids = make([]int, len(tokens))
	for i, tok := range tokens {
		ids[i] = t.v.ids[tok]
	}
	return tokens, ids
}
