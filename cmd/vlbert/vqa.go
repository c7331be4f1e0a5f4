package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/vlbert/vlbert/internal/infer"
)

// vqaOptions are the flags of `vlbert vqa`.
type vqaOptions struct {
	inferFlags
	question string
	topK     int
	json     bool
}

func init() {
	register(&command{name: "vqa", summary: "answer a question about an image with a VQA checkpoint",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o vqaOptions
			fs := newFlagSet("vqa", stderr)
			o.registerModel(fs)
			o.registerInt8(fs)
			o.registerInput(fs)
			fs.StringVar(&o.question, "question", "", "the question")
			fs.IntVar(&o.topK, "top-k", 5, "print this many answers")
			fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert vqa --ckpt C [--cfg CFG] --question Q (--features F | --image I --boxes B) [--top-k K] [--json]")
				fmt.Fprintln(stderr, "\nPrints the top-k answers with their scores. A score is sigmoid(logit) of that answer:")
				fmt.Fprintln(stderr, "the model is trained with a binary cross-entropy per answer against soft VQA-accuracy")
				fmt.Fprintln(stderr, "targets, so a score estimates that answer's VQA accuracy on its own, in [0, 1]; the")
				fmt.Fprintln(stderr, "scores of different answers are independent and do not sum to 1.")
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if err := o.check("vqa", true); err != nil {
				return err
			}
			if o.question == "" {
				return usagef("vqa: --question is required")
			}
			if o.topK < 1 {
				return usagef("vqa: --top-k %d, want >= 1", o.topK)
			}
			return runVQA(ctx, o, stdout)
		}})
}

func runVQA(ctx context.Context, o vqaOptions, stdout io.Writer) error {
	p, err := o.load(1)
	if err != nil {
		return err
	}
	r, err := o.regions(ctx, p)
	if err != nil {
		return err
	}
	res, err := p.VQA(ctx, o.question, r, o.topK)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Question string `json:"question"`
			*infer.VQAResult
		}{o.question, res})
	}
	fmt.Fprintf(stdout, "question: %s\nwordpieces: %s\nregions: %d (+ whole image)\n\n", o.question, strings.Join(res.Tokens, " "), r.N())
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "rank\tscore\tanswer")
	for i, a := range res.Answers {
		fmt.Fprintf(tw, "%d\t%.4f\t%s\n", i+1, a.Score, a.Answer)
	}
	return tw.Flush()
}
