package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// vcrOptions are the flags of `vlbert vcr`.
type vcrOptions struct {
	inferFlags
	question string
	choices  multiFlag
	json     bool
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " | ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func init() {
	register(&command{name: "vcr", summary: "score the 4 answer choices of a VCR question (VCR checkpoint)",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o vcrOptions
			fs := newFlagSet("vcr", stderr)
			o.registerModel(fs)
			o.registerInt8(fs)
			o.registerInput(fs)
			fs.StringVar(&o.question, "question", "", "the question (for QA→R: the question and the chosen answer)")
			fs.Var(&o.choices, "choice", "an answer (or rationale) choice; repeat it, 4 times for VCR")
			fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert vcr --ckpt C [--cfg CFG] --question Q --choice A1 --choice A2 ... (--features F | --image I --boxes B) [--json]")
				fmt.Fprintln(stderr, "\nPrints each choice's probability with a VCR checkpoint: a softmax over the 4 choices'")
				fmt.Fprintln(stderr, "logits, as the original test does. For QA→R, put the chosen answer after the question")
				fmt.Fprintln(stderr, "and pass the rationales as choices. Tokens carry no grounding tags.")
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if err := o.check("vcr", true); err != nil {
				return err
			}
			if o.question == "" || len(o.choices) != 4 {
				return usagef("vcr: --question and exactly four --choice are required")
			}
			return runVCR(ctx, o, stdout)
		}})
}

func runVCR(ctx context.Context, o vcrOptions, stdout io.Writer) error {
	p, err := o.load(1)
	if err != nil {
		return err
	}
	r, err := o.regions(ctx, p)
	if err != nil {
		return err
	}
	res, err := p.VCR(ctx, o.question, o.choices, r)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "question: %s\nbest choice: %d\n\n", o.question, res.Best+1)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "choice\tprob\ttext")
	for _, c := range res.Choices {
		fmt.Fprintf(tw, "%d\t%.4f\t%s\n", c.Index+1, c.Prob, c.Text)
	}
	return tw.Flush()
}
