package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/vlbert/vlbert/internal/detect/dettrain"
	"github.com/vlbert/vlbert/internal/logging"
)

// runTrainDetector is `vlbert train` for a detector config
// (MODULE: BottomUpAttentionDetector): the bottom-up-attention end-to-end
// training (internal/detect/dettrain).
func runTrainDetector(ctx context.Context, o trainOptions, stdout io.Writer) error {
	if len(o.sets) > 0 || o.checkpointEvery > 0 || o.valEvery > 0 {
		return usagef("train: --set, --checkpoint-every and --val-every are not supported for detector configs; edit the YAML (CHECKPOINT_FREQUENT)")
	}
	cfg, err := dettrain.LoadConfig(o.cfg)
	if err != nil {
		return err
	}
	if o.modelDir != "" {
		cfg.OutputPath = filepath.Join(o.modelDir, cfg.OutputPath)
	}
	if _, err := os.Stat(cfg.Dataset.TrainAnnotations); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("train: %s does not exist; the synthetic world's detection set is written by `vlbert data world --out DIR` (DIR/detection) or `vlbert demo` (demo-out/data/detection)", cfg.Dataset.TrainAnnotations)
	}
	terminal := false
	if f, ok := stdout.(*os.File); ok {
		terminal = logging.IsTerminal(f)
	}
	res, err := dettrain.Run(ctx, cfg, o.cfg, dettrain.Options{Resume: o.resume, StopAfter: o.stopAfter, Log: stdout, Terminal: terminal})
	if err != nil {
		if res != nil && errors.Is(err, context.Canceled) {
			fmt.Fprintf(stdout, "stopped at iteration %d; continue with: vlbert train --cfg %s --resume\n", res.Iter, o.cfg)
			if sc, ok := stoppedBy(ctx); ok {
				return exitError{code: sc.exitCode(), msg: sc.Error()}
			}
		}
		return err
	}
	fmt.Fprintf(stdout, "done: %d iterations in %.1f s (last losses: total %.4f, rpn_cls %.4f, rpn_bbox %.4f, cls %.4f, bbox %.4f, attr %.4f)\n",
		res.Iter, res.Seconds, res.Last.Total, res.Last.RPNCls, res.Last.RPNBox, res.Last.Cls, res.Last.Box, res.Last.Attr)
	if res.Final != "" {
		fmt.Fprintf(stdout, "detector: %s\n", res.Final)
	}
	if e := res.Eval; e != nil {
		fmt.Fprintf(stdout, "val: %d images, %d objects: mAP@0.5 %.4f, recall@0.5 %.4f, attributes exact %.4f\n", e.Images, e.Objects, e.MAP50, e.Recall50, e.AttrExact)
		names := make([]string, 0, len(e.APPerClass))
		for n := range e.APPerClass {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stdout, "  AP@0.5 %-12s %.4f\n", n, e.APPerClass[n])
		}
	} else if res.Final == "" {
		fmt.Fprintf(stdout, "stopped at iteration %d; continue with: vlbert train --cfg %s --resume\n", res.Iter, o.cfg)
	}
	return nil
}
