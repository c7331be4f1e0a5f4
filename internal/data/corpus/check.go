package corpus

import (
	"context"
	"fmt"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
)

// Check checks the text-only corpus ds (split c.Mode) and builds its first
// samples as training does ("vlbert data check").
func Check(ctx context.Context, c *data.Check, ds *config.Dataset) error {
	tok := c.Tok
	unk, _ := tok.ID("[UNK]")
	d, err := FromConfig(ds, c.Mode, tok)
	if err != nil {
		return err
	}
	n := c.Limit(d.Len())
	fmt.Fprintf(c.Out, "general_corpus %s: %d lines; checking %d\n", c.Mode, d.Len(), n)
	exs := data.CheckExamples(ctx, c, n, d.Example)
	d.Corpus.Close()
	if len(exs) > 0 {
		var text data.Stat
		var cov data.Coverage
		for _, e := range exs {
			text.Add(len(e.Text))
			cov.Pieces += len(e.Text)
			for _, id := range e.Text {
				if int(id) == unk {
					cov.UNK++
				}
			}
		}
		fmt.Fprintf(c.Out, "general_corpus %s: sample wordpieces ([CLS]/[SEP] included): %v; vocabulary: %v\n", c.Mode, text, cov)
		b, err := data.CollateText(exs)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Out, "text batch of %d: text [%d,%d]\n", b.B, b.B, b.T)
	}
	return nil
}
