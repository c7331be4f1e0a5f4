package data

import (
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // COCO and VCR images
	_ "image/png"  // synthetic-world images
	"io"
	"math/rand/v2"

	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/tokenizer"
)

// Check is one run of "vlbert data check": where it reports, how much it
// checks, and the problems (data that breaks or silently corrupts a run) and
// warnings (data that is legal but worth a look) found. Each data set's
// reader has its Check beside it (vqa.Check, cc.Check, corpus.Check,
// vcr.Check, refcoco.Check).
type Check struct {
	Out     io.Writer
	Mode    string // the split checked: train, val or test
	N       int    // records checked per data set (0: all)
	Seed    uint64 // flips and masking of the examples built
	Workers int    // decoding goroutines
	Tok     *tokenizer.Tokenizer
	FS      *zipfs.FS

	Problems, Warnings int
}

// MaxReported bounds the problems (and, separately, the warnings) printed;
// all are counted.
const MaxReported = 10

// Problem records (and prints, up to MaxReported) a problem.
func (c *Check) Problem(format string, args ...any) {
	if c.Problems < MaxReported {
		fmt.Fprintf(c.Out, "problem: "+format+"\n", args...)
	}
	c.Problems++
}

// Warn records (and prints, up to MaxReported) a warning.
func (c *Check) Warn(format string, args ...any) {
	if c.Warnings < MaxReported {
		fmt.Fprintf(c.Out, "warning: "+format+"\n", args...)
	}
	c.Warnings++
}

// Limit is the number of records checked out of n.
func (c *Check) Limit(n int) int {
	if c.N > 0 {
		return min(n, c.N)
	}
	return n
}

// CheckExamples builds the first n examples on c.Workers goroutines as the
// data set's loader would, reports each failure as a problem and returns the
// good examples.
func CheckExamples[E any](ctx context.Context, c *Check, n int, build func(int, *rand.Rand) (E, error)) []E {
	type res struct {
		e   E
		err error
	}
	p := Prefetch(ctx, n, c.Workers, 2*max(c.Workers, 1), func(ctx context.Context, i int) (res, error) {
		e, err := build(i, BatchRNG(c.Seed, 0, i))
		return res{e, err}, nil
	})
	defer p.Close()
	var good []E
	bad := 0
	for {
		r, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil { // cancelled
			c.Problem("stopped: %v", err)
			break
		}
		if r.err != nil {
			c.Problem("%v", r.err)
			bad++
			continue
		}
		good = append(good, r.e)
	}
	fmt.Fprintf(c.Out, "built %d of %d examples, %d failed\n", len(good), n, bad)
	return good
}

// CheckImage decodes an image's header.
func CheckImage(fs *zipfs.FS, path string) error {
	rc, err := fs.Open(path)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer rc.Close()
	if _, _, err := image.DecodeConfig(rc); err != nil {
		return fmt.Errorf("image %s: unreadable: %w", path, err)
	}
	return nil
}

// Stat summarises integer counts.
type Stat struct {
	N           int // values added
	sum, lo, hi int
}

// Add counts v.
func (s *Stat) Add(v int) {
	if s.N == 0 || v < s.lo {
		s.lo = v
	}
	if s.N == 0 || v > s.hi {
		s.hi = v
	}
	s.N++
	s.sum += v
}

func (s Stat) String() string {
	if s.N == 0 {
		return "none"
	}
	return fmt.Sprintf("min %d, mean %.1f, max %d", s.lo, float64(s.sum)/float64(s.N), s.hi)
}

// Coverage counts wordpieces the vocabulary lacks ([UNK]).
type Coverage struct{ Pieces, UNK int }

// Tokens counts toks.
func (v *Coverage) Tokens(toks []string) {
	for _, t := range toks {
		if t == tokenizer.UnkToken {
			v.UNK++
		}
	}
	v.Pieces += len(toks)
}

func (v Coverage) String() string {
	if v.Pieces == 0 {
		return "no wordpieces"
	}
	return fmt.Sprintf("%.2f%% of %d wordpieces in the vocabulary (%d [UNK])", 100*float64(v.Pieces-v.UNK)/float64(v.Pieces), v.Pieces, v.UNK)
}
