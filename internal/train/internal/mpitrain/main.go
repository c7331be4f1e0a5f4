// Command mpitrain is a test helper for internal/train: it trains the tiny
// synthetic VQA model through train.Run for a few epochs as one rank of the
// job dist.Init finds (alone without mpirun) and, on rank 0, writes the path
// of the final checkpoint to -result. internal/train's MPI test compares a
// 1-rank run at batch 2b with a 2-rank run at batch b.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/dist"
	"github.com/vlbert/vlbert/internal/train"
)

func main() {
	cfgPath := flag.String("cfg", "", "configs/synth/vqa.yaml")
	world := flag.String("world", "", "synthetic world directory")
	out := flag.String("out", "", "output directory")
	batch := flag.Int("batch", 0, "per-rank batch (TRAIN.BATCH_IMAGES)")
	epochs := flag.Int("epochs", 3, "epochs to train")
	result := flag.String("result", "", "rank 0 writes the final checkpoint path here")
	opt := flag.String("optimizer", "SGD", "TRAIN.OPTIMIZER")
	var extra sets
	flag.Var(&extra, "set", "an extra KEY=VALUE config override (repeatable)")
	flag.Parse()
	if err := run(*cfgPath, *world, *out, *result, *opt, *batch, *epochs, extra); err != nil {
		fmt.Fprintln(os.Stderr, "mpitrain:", err)
		os.Exit(1)
	}
}

func run(cfgPath, world, out, result, opt string, batch, epochs int, extra []string) error {
	c, err := dist.Init()
	if err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath, "")
	if err != nil {
		return err
	}
	// The tiny model of internal/train's tests, deterministic: no shuffling,
	// flipping or dropout, so that only the batch split differs between runs.
	err = cfg.SetAll(append([]string{
		"OUTPUT_PATH=" + out, "NUM_WORKERS_PER_GPU=1", "LOG_FREQUENT=5",
		"NETWORK.VLBERT.hidden_size=32", "NETWORK.VLBERT.visual_size=32", "NETWORK.IMAGE_FINAL_DIM=32",
		"NETWORK.VLBERT.num_hidden_layers=1", "NETWORK.VLBERT.num_attention_heads=2", "NETWORK.VLBERT.intermediate_size=64",
		"NETWORK.VLBERT.hidden_dropout_prob=0", "NETWORK.VLBERT.attention_probs_dropout_prob=0", "NETWORK.CLASSIFIER_DROPOUT=0",
		"DATASET.DATASET_PATH=" + world, "DATASET.ANSWER_VOCAB_FILE=" + filepath.Join(world, synth.Layout.Answers), "TRAIN.SHUFFLE=false", "TRAIN.FLIP_PROB=0",
		fmt.Sprintf("TRAIN.BATCH_IMAGES=%d", batch), "VAL.BATCH_IMAGES=8", "TEST.BATCH_IMAGES=8",
		fmt.Sprintf("TRAIN.END_EPOCH=%d", epochs), "TRAIN.WARMUP_STEPS=2", "TRAIN.LR=2.5e-4", "TRAIN.OPTIMIZER=" + opt,
	}, extra...))
	if err != nil {
		return err
	}
	res, err := train.Run(context.Background(), cfg, train.Options{CfgPath: "vqa.yaml", Comm: c, NoDropout: true})
	if err != nil {
		return err
	}
	if c.Rank() == 0 {
		if err := os.WriteFile(result, []byte(res.Checkpoint), 0o644); err != nil {
			return err
		}
	}
	return c.Close()
}

// sets collects repeated -set flags.
type sets []string

func (s *sets) String() string     { return fmt.Sprint(*s) }
func (s *sets) Set(v string) error { *s = append(*s, v); return nil }
