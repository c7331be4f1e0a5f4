package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/train"
)

// testOptions are the flags of `vlbert test`.
type testOptions struct {
	cfg, ckpt, split, out string
	sets                  setFlags
}

func init() {
	register(&command{name: "test", summary: "write leaderboard files for a split: vlbert test --cfg CFG --ckpt FILE",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o testOptions
			fs := newFlagSet("test", stderr)
			fs.StringVar(&o.cfg, "cfg", "", "YAML config in the original schema (TEST_IMAGE_SET is the split read)")
			fs.StringVar(&o.ckpt, "ckpt", "", "checkpoint: vlbert .safetensors or original .model")
			fs.StringVar(&o.split, "split", "test", "\"test\": the config's TEST_IMAGE_SET; another name replaces it (e.g. test-dev2015); also names the result file")
			fs.StringVar(&o.out, "out", "", "result directory (default: the checkpoint's directory)")
			fs.Var(&o.sets, "set", "override a config key, KEY=VALUE (repeatable)")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if o.cfg == "" || o.ckpt == "" {
				return usagef("test: --cfg and --ckpt are required")
			}
			return runTest(ctx, o, stdout)
		}})
}

func runTest(ctx context.Context, o testOptions, stdout io.Writer) error {
	cfg, err := loadConfig(o.cfg, o.sets)
	if err != nil {
		return err
	}
	if o.split != "test" {
		// --split names the image set read (the original's test-dev2015 choice).
		for i := range cfg.Datasets {
			cfg.Datasets[i].TestImageSet = o.split
		}
	}
	out := o.out
	if out == "" {
		out = filepath.Dir(o.ckpt)
	}
	files, err := train.Predict(ctx, cfg, o.cfg, o.ckpt, o.split, out)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return nil
}
