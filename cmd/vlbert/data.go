package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/cc"
	"github.com/vlbert/vlbert/internal/data/corpus"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/tokenizer"
)

// dataCheckOptions are the flags of "vlbert data check".
type dataCheckOptions struct {
	Cfg     string // YAML config in the original schema
	Mode    string // train, val or test
	N       int    // examples checked per dataset (0: all)
	Seed    uint64 // RNG seed for flips and masking
	Workers int    // decoding goroutines
}

// maxReportedErrors bounds the per-example errors printed.
const maxReportedErrors = 10

func init() {
	register(&command{name: "data", summary: "check that a config's datasets load: vlbert data check --cfg CFG.yaml",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			if len(args) == 0 || args[0] != "check" {
				return usagef("usage: vlbert data check --cfg CFG.yaml [--mode train|val|test] [--n N]")
			}
			var opts dataCheckOptions
			fs := newFlagSet("data check", stderr)
			fs.StringVar(&opts.Cfg, "cfg", "", "config `file` (original YAML schema)")
			fs.StringVar(&opts.Mode, "mode", "train", "split to check: train, val or test")
			fs.IntVar(&opts.N, "n", 64, "examples to build per dataset (0: all)")
			fs.Uint64Var(&opts.Seed, "seed", 0, "seed for flips and masking")
			fs.IntVar(&opts.Workers, "workers", 2, "decoding goroutines")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert data check --cfg CFG.yaml [--mode train|val|test] [--n N] [--seed S] [--workers W]")
				fmt.Fprintln(stderr, "\nBuilds the first N examples of every dataset of the config (VQA, or Conceptual Captions")
				fmt.Fprintln(stderr, "and the text corpus for pretraining), collates them and prints sizes; each bad record")
				fmt.Fprintln(stderr, "is reported with its file. Exit status 1 if any record fails.")
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args[1:]); err != nil {
				return err
			}
			if opts.Cfg == "" {
				return usagef("data check: --cfg is required")
			}
			return runDataCheck(ctx, opts, stdout)
		}})
}

// runDataCheck loads the datasets of opts.Cfg and reports on stdout.
func runDataCheck(ctx context.Context, opts dataCheckOptions, out io.Writer) error {
	cfg, err := config.Load(opts.Cfg, "")
	if err != nil {
		return err
	}
	tok, err := dataTokenizer(cfg.Network.BertModelName)
	if err != nil {
		return err
	}
	fs := zipfs.New()
	defer fs.Close()
	bad := 0
	switch cfg.Task {
	case config.TaskVQA:
		d, err := vqa.FromConfig(cfg, opts.Mode, tok, fs)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "vqa %s: %d questions, %d answers\n", opts.Mode, d.Len(), vocabLen(d.Vocab))
		exs, nbad := checkExamples(ctx, out, d.Len(), opts, d.Example)
		bad += nbad
		if len(exs) > 0 {
			b, err := data.CollateVQA(exs)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "vqa batch of %d: boxes [%d,%d,%d], question [%d,%d], label [%d,%d]\n", b.B, b.B, b.R, b.BoxDim, b.B, b.Q, b.B, b.A)
		}
	case config.TaskPretrain:
		for k := range cfg.Datasets {
			ds := &cfg.Datasets[k]
			switch ds.Dataset {
			case "conceptual_captions":
				d, err := cc.FromConfig(cfg, ds, opts.Mode, tok, fs)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "conceptual_captions %s: %d captions\n", opts.Mode, d.Len())
				exs, nbad := checkExamples(ctx, out, d.Len(), opts, d.Example)
				bad += nbad
				if len(exs) > 0 {
					b, err := data.CollatePretrain(exs)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "pretrain batch of %d: boxes [%d,%d,%d], text [%d,%d], mvrc_labels [%d,%d,%d], im_info [%d,%d]\n",
						b.B, b.B, b.R, b.BoxDim, b.B, b.T, b.B, b.R, b.C, b.B, b.I)
				}
			case "general_corpus":
				d, err := corpus.FromConfig(ds, opts.Mode, tok)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "general_corpus %s: %d lines\n", opts.Mode, d.Len())
				exs, nbad := checkExamples(ctx, out, d.Len(), opts, d.Example)
				d.Corpus.Close()
				bad += nbad
				if len(exs) > 0 {
					b, err := data.CollateText(exs)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "text batch of %d: text [%d,%d]\n", b.B, b.B, b.T)
				}
			default:
				return fmt.Errorf("data check: dataset %q is not supported", ds.Dataset)
			}
		}
	default:
		return fmt.Errorf("data check: %s configs are not supported yet (vqa and pretrain are)", cfg.Task)
	}
	if bad > 0 {
		return fmt.Errorf("data check: %d examples failed", bad)
	}
	fmt.Fprintln(out, "ok")
	return nil
}

// checkExamples builds the first opts.N examples on worker goroutines, prints
// the first errors and returns the good examples and the number of bad ones.
func checkExamples[E any](ctx context.Context, out io.Writer, n int, opts dataCheckOptions, build func(int, *rand.Rand) (E, error)) ([]E, int) {
	if opts.N > 0 {
		n = min(n, opts.N)
	}
	type res struct {
		e   E
		err error
	}
	p := data.Prefetch(ctx, n, opts.Workers, 2*max(opts.Workers, 1), func(ctx context.Context, i int) (res, error) {
		e, err := build(i, data.BatchRNG(opts.Seed, 0, i))
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
			fmt.Fprintf(out, "stopped: %v\n", err)
			bad++
			break
		}
		if r.err != nil {
			if bad < maxReportedErrors {
				fmt.Fprintf(out, "error: %v\n", r.err)
			}
			bad++
			continue
		}
		good = append(good, r.e)
	}
	fmt.Fprintf(out, "built %d of %d examples, %d failed\n", len(good), n, bad)
	return good, bad
}

// dataTokenizer uses {BERT_MODEL_NAME}/vocab.txt when it exists (the original
// from_pretrained directory), else the embedded bert-base-uncased vocabulary.
func dataTokenizer(modelName string) (*tokenizer.Tokenizer, error) {
	path := filepath.Join(modelName, "vocab.txt")
	f, err := os.Open(path)
	if err != nil {
		return tokenizer.Default(true), nil
	}
	defer f.Close()
	tok, err := tokenizer.New(f, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tok, nil
}

func vocabLen(v *vqa.AnswerVocab) int {
	if v == nil {
		return 0
	}
	return v.Len()
}
