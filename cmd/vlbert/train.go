package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/vlbert/vlbert/internal/detect/dettrain"
	"github.com/vlbert/vlbert/internal/dist"
	"github.com/vlbert/vlbert/internal/logging"
	"github.com/vlbert/vlbert/internal/train"
)

// trainOptions are the flags of `vlbert train`.
type trainOptions struct {
	cfg, modelDir   string
	sets            setFlags
	resume          bool
	resumeAnyway    bool
	stopAfter       int
	checkpointEvery int
	valEvery        int
}

func init() {
	register(&command{name: "train", summary: "pre-train or fine-tune from a config (pretraining, VQA, VCR, RefCOCO+), with resume",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o trainOptions
			fs := newFlagSet("train", stderr)
			fs.StringVar(&o.cfg, "cfg", "", "YAML config in the original schema (MODULE selects the task)")
			fs.StringVar(&o.modelDir, "model-dir", "", "directory prefixed to OUTPUT_PATH")
			fs.Var(&o.sets, "set", "override a config key, KEY=VALUE (repeatable), e.g. --set TRAIN.LR=1e-4")
			fs.BoolVar(&o.resume, "resume", false, "continue from the latest checkpoint in the output directory (must exist)")
			fs.BoolVar(&o.resumeAnyway, "resume-anyway", false, "resume even when the config changes settings that change the arithmetic (batch, learning rates, schedule, seeds, model); logs each difference")
			fs.IntVar(&o.stopAfter, "stop-after", 0, "stop with a checkpoint after this many batches of the run (0: END_EPOCH)")
			fs.IntVar(&o.checkpointEvery, "checkpoint-every", 0, "also write {prefix}-latest every N batches")
			fs.IntVar(&o.valEvery, "val-every", 0, "also validate every N batches")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert train --cfg FILE.yaml [--model-dir DIR] [--set KEY=VALUE ...] [--resume]")
				fmt.Fprintln(stderr, "\nTrains the config's MODULE as the original train_end2end.py: output in")
				fmt.Fprintln(stderr, "[DIR/]OUTPUT_PATH/<cfg name>/<TRAIN_IMAGE_SET>_train/ ({prefix}-NNNN.safetensors,")
				fmt.Fprintln(stderr, "{prefix}-best.safetensors, metrics.jsonl, tensorboard_logs/). TRAIN.AUTO_RESUME continues")
				fmt.Fprintln(stderr, "from the latest checkpoint there; Ctrl-C writes {prefix}-latest and exits. Under Open MPI's")
				fmt.Fprintln(stderr, "mpirun -np N, each process is one data-parallel rank (BATCH_IMAGES per rank; rank 0 writes).")
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if o.cfg == "" {
				return usagef("train: --cfg is required")
			}
			return runTrain(ctx, o, stdout)
		}})
}

func runTrain(ctx context.Context, o trainOptions, stdout io.Writer) error {
	if dettrain.IsDetectorConfig(o.cfg) {
		return runTrainDetector(ctx, o, stdout)
	}
	cfg, err := loadConfig(o.cfg, o.sets)
	if err != nil {
		return err
	}
	// Under mpirun this process is one rank of a data-parallel job; otherwise
	// the communicator is the single process.
	comm, err := dist.Init()
	if err != nil {
		return err
	}
	// mpirun hands every rank a pseudo-terminal even when its own output goes to
	// a file, so a job logs plain speedometer lines instead of a progress bar.
	terminal := false
	if f, ok := stdout.(*os.File); ok && comm.Size() == 1 {
		terminal = logging.IsTerminal(f)
	}
	res, err := train.Run(ctx, cfg, train.Options{CfgPath: o.cfg, ModelDir: o.modelDir, Resume: o.resume, ResumeAnyway: o.resumeAnyway, Log: stdout,
		Terminal: terminal, StopAfter: o.stopAfter, CheckpointEvery: o.checkpointEvery, ValEvery: o.valEvery, Comm: comm})
	if err != nil {
		return err // without Close: mpirun ends the other ranks (dist package doc)
	}
	if err := comm.Close(); err != nil {
		return err
	}
	if comm.Rank() != 0 {
		return nil
	}
	if res.Interrupted {
		fmt.Fprintf(stdout, "stopped at epoch %d batch %d; continue with: %s\n", res.State.Epoch, res.State.Batch, resumeCommand(o))
	} else {
		fmt.Fprintf(stdout, "done: %d epochs, %d batches, %d updates in %s\n", res.State.Epoch, res.State.Global, res.State.Updates, res.Elapsed.Round(1e6))
	}
	printMetrics(stdout, "val", res.Val)
	if res.Checkpoint != "" {
		fmt.Fprintf(stdout, "checkpoint: %s\n", res.Checkpoint)
	}
	if res.Best != "" {
		fmt.Fprintf(stdout, "best: %s (epoch %d, %f)\n", res.Best, res.State.BestEpoch, res.State.BestVal)
	}
	// Stopped by a signal, after the checkpoint: exit 128+signal, so that a
	// scheduler does not take the run for finished.
	if sc, ok := stoppedBy(ctx); ok && res.Interrupted {
		return exitError{code: sc.exitCode(), msg: sc.Error()}
	}
	return nil
}

// printMetrics writes "prefix name=value ..." in name order.
func printMetrics(w io.Writer, prefix string, m map[string]float64) {
	if len(m) == 0 {
		return
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprint(w, prefix)
	for _, n := range names {
		fmt.Fprintf(w, " %s=%.6f", n, m[n])
	}
	fmt.Fprintln(w)
}
