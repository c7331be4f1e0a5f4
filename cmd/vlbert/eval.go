package main

import (
	"context"
	"fmt"
	"io"

	"github.com/vlbert/vlbert/internal/train"
)

// evalOptions are the flags of `vlbert eval`.
type evalOptions struct {
	cfg, ckpt, split string
	sets             setFlags
	int8             bool // encoder Linear layers in int8
}

func init() {
	register(&command{name: "eval", summary: "validation metrics of a checkpoint: vlbert eval --cfg CFG --ckpt FILE",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o evalOptions
			fs := newFlagSet("eval", stderr)
			fs.StringVar(&o.cfg, "cfg", "", "YAML config in the original schema")
			fs.StringVar(&o.ckpt, "ckpt", "", "checkpoint: vlbert .safetensors or original .model")
			fs.StringVar(&o.split, "split", "val", "split with labels: val or train")
			fs.Var(&o.sets, "set", "override a config key, KEY=VALUE (repeatable)")
			int8Flag(fs, &o.int8)
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if o.cfg == "" || o.ckpt == "" {
				return usagef("eval: --cfg and --ckpt are required")
			}
			if o.split != "val" && o.split != "train" {
				return usagef("eval: --split %q: want val or train (test has no labels; use vlbert test)", o.split)
			}
			return runEval(ctx, o, stdout)
		}})
}

func runEval(ctx context.Context, o evalOptions, stdout io.Writer) error {
	cfg, err := loadConfig(o.cfg, o.sets)
	if err != nil {
		return err
	}
	m, names, err := train.Evaluate(ctx, cfg, o.ckpt, o.split, train.InferenceOptions{Int8: o.int8})
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintf(stdout, "Val-%s=%f\n", n, m[n])
	}
	return nil
}
