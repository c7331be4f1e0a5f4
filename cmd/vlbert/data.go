package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/cc"
	"github.com/vlbert/vlbert/internal/data/corpus"
	"github.com/vlbert/vlbert/internal/data/refcoco"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/vcr"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/demo"
	"github.com/vlbert/vlbert/internal/train"
)

// dataCheckOptions are the flags of "vlbert data check".
type dataCheckOptions struct {
	Cfg     string // YAML config in the original schema
	Mode    string // train, val or test
	N       int    // examples checked per dataset (0: all)
	Seed    uint64 // RNG seed for flips and masking
	Workers int    // decoding goroutines
}

func init() {
	register(&command{name: "data", summary: "check a config's datasets before a run (vlbert data check --cfg CFG.yaml); write the demo's world (vlbert data world)",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			if len(args) > 0 && args[0] == "world" {
				return dataWorldCommand(args[1:], stdout, stderr)
			}
			if len(args) == 0 || args[0] != "check" {
				return usagef("usage: vlbert data check --cfg CFG.yaml [--mode train|val|test] [--n N]\n       vlbert data world [--out DIR] [--quick]")
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
				fmt.Fprintln(stderr, "\nValidates the datasets of a config (pretraining, VQA, VCR, RefCOCO+) against it: counts,")
				fmt.Fprintln(stderr, "boxes per image, text lengths in wordpieces, vocabulary coverage, missing or unreadable")
				fmt.Fprintln(stderr, "files; the first N examples are built as training would build them. The first problems")
				fmt.Fprintln(stderr, "are printed with their file and record. Exit status 1 if there is any problem (warnings")
				fmt.Fprintln(stderr, "alone do not fail the check).")
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

// runDataCheck checks the datasets of opts.Cfg and reports on out. It
// returns an error when the config or a dataset cannot be read at all, or
// when any problem was found.
func runDataCheck(ctx context.Context, opts dataCheckOptions, out io.Writer) error {
	switch opts.Mode {
	case "train", "val", "test":
	default:
		return usagef("data check: --mode %q is not train, val or test", opts.Mode)
	}
	cfg, err := config.Load(opts.Cfg, "")
	if err != nil {
		return err
	}
	if err := train.CheckDataPaths(cfg); err != nil {
		return fmt.Errorf("data check: %w", err)
	}
	tok, err := train.Tokenizer(cfg)
	if err != nil {
		return err
	}
	fs := zipfs.New()
	defer fs.Close()
	c := &data.Check{Out: out, Mode: opts.Mode, N: opts.N, Seed: opts.Seed, Workers: opts.Workers, Tok: tok, FS: fs}
	switch cfg.Task {
	case config.TaskVQA:
		err = vqa.Check(ctx, c, cfg)
	case config.TaskPretrain:
		err = checkPretrain(ctx, c, cfg)
	case config.TaskVCR:
		err = checkVCR(ctx, c, cfg)
	case config.TaskRefCOCO:
		err = checkRefCOCO(ctx, c, cfg)
	default:
		err = fmt.Errorf("data check: task %q is not supported", cfg.Task)
	}
	if err != nil {
		return err
	}
	if c.Problems > 0 {
		fmt.Fprintf(out, "%s, %s\n", plural(c.Problems, "problem"), plural(c.Warnings, "warning"))
		if c.Problems > data.MaxReported {
			return fmt.Errorf("data check: %s (the first %d are listed above)", plural(c.Problems, "problem"), data.MaxReported)
		}
		return fmt.Errorf("data check: %s (listed above)", plural(c.Problems, "problem"))
	}
	fmt.Fprintf(out, "ok (%s)\n", plural(c.Warnings, "warning"))
	return nil
}

// dataWorldCommand is `vlbert data world`: it writes the demo's synthetic
// world (images, captions, corpus, VQA, RefCOCO+, VCR and the detector's
// training set) without running the demo. The region features are the
// detector's to write: `vlbert train --cfg configs/synth/detector.yaml`,
// then `vlbert detect`, or `vlbert demo`, which does both.
func dataWorldCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("data world", stderr)
	out := fs.String("out", filepath.Join("demo-out", "data"), "output directory")
	quick := fs.Bool("quick", false, "the quick demo's smaller world")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vlbert data world [--out DIR] [--quick]")
		fmt.Fprintln(stderr, "\nWrites the demo's synthetic world to DIR (default demo-out/data), the detector's training set in")
		fmt.Fprintln(stderr, "DIR/detection (configs/synth/detector.yaml reads it). Region features are not written: a detector")
		fmt.Fprintln(stderr, "extracts them (vlbert demo trains one and runs it).")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("data world: unexpected argument %q", fs.Arg(0))
	}
	cfg := demo.FullPlan().World
	if *quick {
		cfg = demo.QuickPlan().World
	}
	if synth.IsComplete(*out, cfg) {
		fmt.Fprintf(stdout, "%s already holds this world\n", *out)
		return nil
	}
	// Only a world (of another config) is replaced: DIR may be anything.
	if entries, err := os.ReadDir(*out); err == nil && len(entries) > 0 {
		if !synth.IsWorld(*out) {
			return fmt.Errorf("data world: %s exists and holds no finished world; remove it or pick another --out", *out)
		}
		if err := os.RemoveAll(*out); err != nil {
			return fmt.Errorf("data world: %w", err)
		}
	}
	w, err := synth.Generate(cfg)
	if err != nil {
		return err
	}
	if err := synth.Write(w, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d train + %d val scenes to %s (detector training set: %s)\n", cfg.TrainScenes, cfg.ValScenes, *out, filepath.Join(*out, synth.Layout.Detection))
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// checkPretrain checks each data set of a pretraining config with its
// reader's Check.
func checkPretrain(ctx context.Context, c *data.Check, cfg *config.Config) error {
	for k := range cfg.Datasets {
		ds := &cfg.Datasets[k]
		var err error
		switch ds.Dataset {
		case "conceptual_captions":
			err = cc.Check(ctx, c, cfg, ds)
		case "general_corpus":
			err = corpus.Check(ctx, c, ds)
		default:
			return fmt.Errorf("data check: dataset %q is not supported", ds.Dataset)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkLoader builds the first examples of opts.Mode through the training
// task's own loader (train.NewTask), one example per batch so that each
// failure names its record; after a failure it resumes with the next example.
// When the trainer cannot build the task, that is a problem if required (the
// trainer supports this data), else a note (the checks above cover its files).
func checkLoader(ctx context.Context, c *data.Check, cfg *config.Config, required bool) {
	t, err := train.NewTask(cfg, c.Mode)
	if err != nil {
		if required {
			c.Problem("training loader: %v", err)
		} else {
			fmt.Fprintf(c.Out, "training loader: not run: %v\n", err)
		}
		return
	}
	defer t.Close()
	s, err := t.Sampler(c.Mode)
	if err != nil {
		fmt.Fprintf(c.Out, "training loader: not run: %v\n", err)
		return
	}
	n := c.Limit(s.N)
	built, failed := 0, 0
	for next := 0; next < n; {
		batches := make([][]int, n-next)
		for k := range batches {
			batches[k] = []int{next + k}
		}
		p := t.Load(ctx, c.Mode, batches, 0, 0, 0)
		k := 0
		for ; k < len(batches); k++ {
			_, err := p.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if ctx.Err() != nil {
					p.Close()
					c.Problem("training loader stopped: %v", ctx.Err())
					return
				}
				c.Problem("training loader: example %d: %v", next+k, err)
				failed++
				break
			}
			built++
		}
		p.Close()
		next += k + 1
	}
	fmt.Fprintf(c.Out, "training loader: built %d of %d examples, %d failed\n", built, n, failed)
}

// checkVCR runs vcr.Check, then the trainer's loader once per task (Q2AR:
// Q2A and QA2R) unless the check found problems.
func checkVCR(ctx context.Context, c *data.Check, cfg *config.Config) error {
	tasks, err := vcr.Check(ctx, c, cfg)
	if err != nil || tasks == nil {
		return err
	}
	ds := cfg.Dataset()
	required := !ds.ZipMode // the trainer reads no VCR zip archives
	for _, t := range tasks {
		tc := *cfg
		tc.Datasets = append([]config.Dataset(nil), cfg.Datasets...)
		tc.Dataset().TaskName = t.String()
		if len(tasks) > 1 {
			fmt.Fprintf(c.Out, "vcr %s: %s:\n", c.Mode, t)
		}
		checkLoader(ctx, c, &tc, required)
	}
	return nil
}

// checkRefCOCO runs refcoco.Check, then the trainer's loader.
func checkRefCOCO(ctx context.Context, c *data.Check, cfg *config.Config) error {
	required, err := refcoco.Check(ctx, c, cfg)
	if err != nil {
		return err
	}
	checkLoader(ctx, c, cfg, required)
	return nil
}
