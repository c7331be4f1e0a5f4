// Package corpus reads the text-only pretraining corpus (BooksCorpus and English
// Wikipedia .doc files: UTF-8, one sentence or paragraph a line, as pretrain/data/datasets/general_corpus.py reads them) and
// builds the masked 64-wordpiece sequences of the original general_corpus.py.
//
// The original loads every line into memory. Corpus instead indexes the files
// once (offset and length of each non-blank line, 12 bytes a line) and reads
// lines on demand with ReadAt, so multi-gigabyte corpora fit and many goroutines
// can read at once.
package corpus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vlbert/vlbert/internal/data"
)

// MaxLineBytes bounds one line of a corpus file.
const MaxLineBytes = 16 << 20

type lineRef struct {
	file int32
	n    int32
	off  int64
}

// Corpus is an index of the non-blank lines of one or more text files.
type Corpus struct {
	paths []string
	files []*os.File
	lines []lineRef
}

// Open indexes annFile, a '+'-separated list of paths as DATASET.TRAIN_ANNOTATION_FILE.
// Lines end at \n, \r\n or \r (Python's universal newlines); each line is
// stripped of white space and kept if anything is left. Invalid UTF-8 is an
// error naming the file and line, as Python fails to decode such a file.
func Open(annFile string) (*Corpus, error) {
	c := &Corpus{}
	for _, p := range strings.Split(annFile, "+") {
		if err := c.index(p); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Corpus) index(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	fi := int32(len(c.files))
	c.files = append(c.files, f)
	c.paths = append(c.paths, path)
	br := bufio.NewReaderSize(f, 1<<20)
	var off int64
	lineNo := 0
	var buf []byte
	for {
		lineNo++
		buf = buf[:0]
		start := off
		atEOF := false
		for {
			b, err := br.ReadByte()
			if err == io.EOF {
				atEOF = true
				break
			}
			if err != nil {
				return fmt.Errorf("corpus: %s line %d: %w", path, lineNo, err)
			}
			off++
			if b == '\n' {
				break
			}
			if b == '\r' {
				if nb, err := br.Peek(1); err == nil && nb[0] == '\n' {
					br.ReadByte()
					off++
				}
				break
			}
			if len(buf) >= MaxLineBytes {
				return fmt.Errorf("corpus: %s line %d: longer than %d bytes", path, lineNo, MaxLineBytes)
			}
			buf = append(buf, b)
		}
		if !utf8.Valid(buf) {
			return fmt.Errorf("corpus: %s line %d: invalid UTF-8", path, lineNo)
		}
		lo, hi := stripBounds(buf)
		if hi > lo {
			c.lines = append(c.lines, lineRef{file: fi, off: start + int64(lo), n: int32(hi - lo)})
		}
		if atEOF {
			return nil
		}
	}
}

// stripBounds returns the byte range of b without leading and trailing
// Python white space.
func stripBounds(b []byte) (lo, hi int) {
	lo, hi = 0, len(b)
	for lo < hi {
		r, size := utf8.DecodeRune(b[lo:])
		if !isPySpace(r) {
			break
		}
		lo += size
	}
	for hi > lo {
		r, size := utf8.DecodeLastRune(b[lo:hi])
		if !isPySpace(r) {
			break
		}
		hi -= size
	}
	return lo, hi
}

func isPySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// Len is the number of non-blank lines.
func (c *Corpus) Len() int { return len(c.lines) }

// Line returns line i (stripped). Safe for concurrent use.
func (c *Corpus) Line(i int) (string, error) {
	if i < 0 || i >= len(c.lines) {
		return "", fmt.Errorf("corpus: line %d outside [0, %d)", i, len(c.lines))
	}
	l := c.lines[i]
	buf := make([]byte, l.n)
	if _, err := c.files[l.file].ReadAt(buf, l.off); err != nil {
		return "", fmt.Errorf("corpus: %s: reading sample %d: %w", c.paths[l.file], i, err)
	}
	return string(buf), nil
}

// Close closes the files.
func (c *Corpus) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	c.files = nil
	return errors.Join(errs...)
}

// Tokenizer is the part of the BERT tokenizer the dataset needs;
// *tokenizer.Tokenizer implements it.
type Tokenizer interface {
	data.Vocab
	BasicTokenize(text string) []string
}

// Dataset builds text-only examples.
type Dataset struct {
	Corpus    *Corpus
	Tok       Tokenizer
	SeqLen    int // wordpieces kept, 64
	MinSeqLen int // words gathered before masking, 64
	MLM       data.MLM
}

// NewDataset returns a dataset with the shipped SEQ_LEN = MIN_SEQ_LEN = 64 and
// 15% / 80-10-10 whole-word masking.
func NewDataset(c *Corpus, tok Tokenizer) *Dataset {
	return &Dataset{Corpus: c, Tok: tok, SeqLen: 64, MinSeqLen: 64, MLM: data.DefaultMLM()}
}

// Len is the number of samples (lines).
func (d *Dataset) Len() int { return d.Corpus.Len() }

// Example builds sample i: line i basic-tokenized, followed by the next lines
// (wrapping around) until it has at least MinSeqLen words; then whole-word
// masking, ids, and truncation to SeqLen wordpieces. No [CLS]/[SEP].
func (d *Dataset) Example(i int, rng *rand.Rand) (*data.TextExample, error) {
	n := d.Corpus.Len()
	if i < 0 || i >= n {
		return nil, fmt.Errorf("corpus: sample %d outside [0, %d)", i, n)
	}
	line, err := d.Corpus.Line(i)
	if err != nil {
		return nil, err
	}
	words := d.Tok.BasicTokenize(line)
	cur := (i + 1) % n
	for visited := 1; len(words) < d.MinSeqLen; visited++ {
		// The original loops forever on a corpus without a single word.
		if visited > n && len(words) == 0 {
			return nil, fmt.Errorf("corpus: sample %d: no line of the corpus has a word", i)
		}
		l, err := d.Corpus.Line(cur)
		if err != nil {
			return nil, err
		}
		words = append(words, d.Tok.BasicTokenize(l)...)
		cur = (cur + 1) % n
	}
	ids, labels, err := data.MaskWords(rng, words, d.Tok, d.MLM)
	if err != nil {
		return nil, fmt.Errorf("corpus: sample %d: %w", i, err)
	}
	if d.SeqLen > 0 && len(ids) > d.SeqLen {
		ids, labels = ids[:d.SeqLen], labels[:d.SeqLen]
	}
	return &data.TextExample{Index: i, Text: ids, MLMLabels: labels}, nil
}
