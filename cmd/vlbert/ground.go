package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// groundOptions are the flags of `vlbert ground`.
type groundOptions struct {
	inferFlags
	expression string
	json       bool
}

func init() {
	register(&command{name: "ground", summary: "find the box a referring expression names (RefCOCO+ checkpoint)",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o groundOptions
			fs := newFlagSet("ground", stderr)
			o.registerModel(fs)
			o.registerInt8(fs)
			o.registerInput(fs)
			fs.StringVar(&o.expression, "expression", "", "the referring expression, e.g. \"the man on the left\"")
			fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert ground --ckpt C [--cfg CFG] --expression E (--features F | --image I --boxes B) [--json]")
				fmt.Fprintln(stderr, "\nPrints the best box and every box's score with a RefCOCO+ checkpoint. A score is")
				fmt.Fprintln(stderr, "sigmoid(logit) of that box: the model is trained with a binary cross-entropy per box")
				fmt.Fprintln(stderr, "(IoU > 0.5 with the referred object), so scores are independent, not a distribution.")
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if err := o.check("ground", true); err != nil {
				return err
			}
			if o.expression == "" {
				return usagef("ground: --expression is required")
			}
			return runGround(ctx, o, stdout)
		}})
}

func runGround(ctx context.Context, o groundOptions, stdout io.Writer) error {
	p, err := o.load(1)
	if err != nil {
		return err
	}
	r, err := o.regions(ctx, p)
	if err != nil {
		return err
	}
	res, err := p.Ground(ctx, o.expression, r)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "expression: %s\nbest box: %d\n\n", o.expression, res.Best+1)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "box\tscore\tx1\ty1\tx2\ty2")
	for _, b := range res.Boxes {
		fmt.Fprintf(tw, "%d\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\n", b.Index+1, b.Score, b.Box[0], b.Box[1], b.Box[2], b.Box[3])
	}
	return tw.Flush()
}
