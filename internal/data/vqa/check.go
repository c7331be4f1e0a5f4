package vqa

import (
	"context"
	"fmt"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
)

// Check checks the questions, answers and features of cfg's split c.Mode
// and builds its first examples as training does ("vlbert data check").
func Check(ctx context.Context, c *data.Check, cfg *config.Config) error {
	tok, fs := c.Tok, c.FS
	ds := cfg.Dataset()
	d, err := FromConfig(cfg, c.Mode, tok, fs)
	if err != nil {
		return err
	}
	entries, vocab := d.Entries, d.Vocab
	n := c.Limit(len(entries))
	fmt.Fprintf(c.Out, "vqa %s: %d questions, %d answers in the vocabulary; checking %d\n", c.Mode, len(entries), vocabLen(vocab), n)
	if vocab != nil && vocab.Len() != ds.AnswerVocabSize {
		c.Problem("the answer vocabulary has %d answers, DATASET.ANSWER_VOCAB_SIZE is %d", vocab.Len(), ds.AnswerVocabSize)
	}
	var qlen, boxes data.Stat
	var cov data.Coverage
	images := map[int64]bool{}
	known, answered := 0, 0
	for i := 0; i < n; i++ {
		e := &entries[i]
		p := tok.Tokenize(e.Question)
		qlen.Add(len(p))
		cov.Tokens(p)
		if vocab != nil && e.Answers != nil {
			answered++
			if vocab.Index(e.MultipleChoiceAnswer) != vocab.UNKIndex() {
				known++
			}
		}
		if images[e.ImageID] {
			continue
		}
		images[e.ImageID] = true
		rec, err := features.LoadJSON(fs, d.BoxFile(e), features.Options{})
		if err != nil {
			// The example check below reports it with the question.
			continue
		}
		boxes.Add(rec.NumBoxes)
	}
	fmt.Fprintf(c.Out, "vqa %s: %d images; detected boxes per image: %v\n", c.Mode, len(images), boxes)
	fmt.Fprintf(c.Out, "vqa %s: question wordpieces: %v; vocabulary: %v\n", c.Mode, qlen, cov)
	if answered > 0 {
		fmt.Fprintf(c.Out, "vqa %s: %d of %d questions (%.1f%%) have their multiple-choice answer in the answer vocabulary\n",
			c.Mode, known, answered, 100*float64(known)/float64(answered))
	}
	exs := data.CheckExamples(ctx, c, n, d.Example)
	for _, e := range exs {
		if e.ImagePath != "" && !cfg.Network.ImageFeatPrecomputed {
			if err := data.CheckImage(fs, e.ImagePath); err != nil {
				c.Problem("vqa: question %d: %v", e.QuestionID, err)
			}
		}
	}
	if len(exs) > 0 {
		b, err := data.CollateVQA(exs)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Out, "vqa batch of %d: boxes [%d,%d,%d], question [%d,%d], label [%d,%d]\n", b.B, b.B, b.R, b.BoxDim, b.B, b.Q, b.B, b.A)
	}
	return nil
}

func vocabLen(v *AnswerVocab) int {
	if v == nil {
		return 0
	}
	return v.Len()
}
