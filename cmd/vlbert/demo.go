package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/vlbert/vlbert/internal/demo"
	"github.com/vlbert/vlbert/internal/logging"
)

// demoOptions are the flags of `vlbert demo`.
type demoOptions struct {
	out   string
	quick bool
}

func init() {
	register(&command{name: "demo", summary: "generate a synthetic world, train a detector on it, pre-train, fine-tune VQA, grounding and VCR, write report.html",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o demoOptions
			fs := newFlagSet("demo", stderr)
			fs.StringVar(&o.out, "out", "demo-out", "output directory (data/, checkpoints/, configs/, runs/, report.html, report.json)")
			fs.BoolVar(&o.quick, "quick", false, "small world and model: about a minute, weaker results")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert demo [--out DIR] [--quick]")
				fmt.Fprintln(stderr, "\nGenerates the synthetic world (kept in DIR/data, reused when complete), trains the bottom-up-attention")
				fmt.Fprintln(stderr, "detector on its images and extracts every image's regions with it, pre-trains a small VL-BERT (MLM +")
				fmt.Fprintln(stderr, "MVRC) on them, fine-tunes VQA, grounding and VCR from it and from scratch, evaluates on the held-out")
				fmt.Fprintln(stderr, "scenes and writes DIR/report.html, DIR/report.json and DIR/checkpoints/.")
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if fs.NArg() > 0 {
				return usagef("demo: unexpected argument %q", fs.Arg(0))
			}
			return runDemo(ctx, o, stdout)
		}})
}

func runDemo(ctx context.Context, o demoOptions, stdout io.Writer) error {
	terminal := false
	if f, ok := stdout.(*os.File); ok {
		terminal = logging.IsTerminal(f)
	}
	_, err := demo.Run(ctx, demo.Options{Out: o.out, Quick: o.quick, Log: stdout, Terminal: terminal})
	return err
}
