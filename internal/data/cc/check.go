package cc

import (
	"context"
	"fmt"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
)

// Check checks the captions and features of the Conceptual Captions data set
// ds of cfg (split c.Mode) and builds its first examples as training does
// ("vlbert data check").
func Check(ctx context.Context, c *data.Check, cfg *config.Config, ds *config.Dataset) error {
	tok, fs := c.Tok, c.FS
	d, err := FromConfig(cfg, ds, c.Mode, tok, fs)
	if err != nil {
		return err
	}
	n := c.Limit(d.Len())
	fmt.Fprintf(c.Out, "conceptual_captions %s: %d captions; checking %d\n", c.Mode, d.Len(), n)
	var text data.Stat
	var cov data.Coverage
	for i := 0; i < n; i++ {
		p := tok.Tokenize(strings.Join(d.Records[i].Caption, " "))
		text.Add(len(p))
		cov.Tokens(p)
	}
	fmt.Fprintf(c.Out, "conceptual_captions %s: caption wordpieces: %v; vocabulary: %v\n", c.Mode, text, cov)
	exs := data.CheckExamples(ctx, c, n, d.Example)
	if len(exs) > 0 {
		var boxes data.Stat
		for _, e := range exs {
			boxes.Add(e.NumBoxes)
			if e.ImagePath != "" && !cfg.Network.ImageFeatPrecomputed {
				if err := data.CheckImage(fs, e.ImagePath); err != nil {
					c.Problem("conceptual_captions: record %d: %v", e.Index, err)
				}
			}
		}
		fmt.Fprintf(c.Out, "conceptual_captions %s: boxes per image (image box included): %v\n", c.Mode, boxes)
		b, err := data.CollatePretrain(exs)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Out, "pretrain batch of %d: boxes [%d,%d,%d], text [%d,%d], mvrc_labels [%d,%d,%d], im_info [%d,%d]\n",
			b.B, b.B, b.R, b.BoxDim, b.B, b.T, b.B, b.R, b.C, b.B, b.I)
	}
	return nil
}
