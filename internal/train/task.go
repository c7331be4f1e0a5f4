package train

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/model"
)

// Batch is one collated batch of a task, ready for the model.
type Batch interface {
	// Size is the number of samples (image rows; text-only rows excluded).
	Size() int
}

// Task is one training objective: its datasets, batches, forward/backward and
// metrics. Splits are "train", "val" and "test".
type Task interface {
	// HostMetric names the validation metric that selects -best checkpoints
	// (higher is better).
	HostMetric() string
	// MetricNames lists the task's metrics in the original order (accuracies,
	// then the config's loss loggers).
	MetricNames() []string
	// Sampler returns the sampler of split (batch size, shuffling, seed).
	Sampler(split string) (*data.Sampler, error)
	// Load prefetches batches (index lists of Sampler(split) for epoch,
	// starting at batch first). global is the run-wide number of the first
	// batch; multitask pretraining derives its text-only position from it.
	Load(ctx context.Context, split string, batches [][]int, epoch, first, global int) *data.Prefetcher[Batch]
	// Forward runs the model with labels and returns the loss whose gradient
	// Backward propagates (the original's outputs mean) and the named loss
	// outputs for the loss loggers; it adds the batch to mt.
	Forward(m model.Module, b Batch, mt *Metrics) (loss float32, outputs map[string]float32, err error)
	// Backward back-propagates dloss·loss through the last Forward.
	Backward(m model.Module, dloss float32)
	// Close releases open files.
	Close() error

	// setShard makes the samplers this rank's part of a data-parallel job.
	setShard(rank, world int)
}

// shard is a task's place in a data-parallel job (world 1: alone).
type shard struct{ rank, world int }

func (s *shard) setShard(rank, world int) { s.rank, s.world = rank, world }

// Predictor is a task that writes leaderboard files from test batches.
type Predictor interface {
	// Predict runs inference on b (test split, no labels) and keeps the
	// results.
	Predict(m model.Module, b Batch) error
	// WriteResults writes the kept results under dir, named after name
	// (the config file's base name) and split, and returns the files.
	WriteResults(dir, name, split string) ([]string, error)
}

// NewTask builds the task of cfg.MODULE with the datasets of splits
// (e.g. "train", "val").
func NewTask(cfg *config.Config, splits ...string) (Task, error) {
	mc, err := modelConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := CheckDataPaths(cfg); err != nil {
		return nil, err
	}
	if isE2E(cfg) {
		if _, err := visualConfig(cfg); err != nil {
			return nil, err
		}
	}
	fs := zipfs.New()
	var rd features.Reader = fs
	if wrapFeatures != nil {
		rd = wrapFeatures(fs)
	}
	var t Task
	switch mc.Task {
	case model.TaskVQA:
		t, err = newVQATask(cfg, fs, rd, splits)
	case model.TaskRefCOCO:
		t, err = newRefCOCOTask(cfg, fs, rd, splits)
	case model.TaskVCR:
		t, err = newVCRTask(cfg, fs, rd, splits)
	case model.TaskPretrain, model.TaskPretrainMultitask:
		t, err = newPretrainTask(cfg, mc.Task == model.TaskPretrainMultitask, fs, rd, splits)
	default:
		err = fmt.Errorf("train: MODULE %s has no training task yet", cfg.Module)
	}
	if err != nil {
		fs.Close()
		return nil, err
	}
	if isE2E(cfg) {
		t = wrapE2E(t)
	}
	return t, nil
}

// modelConfig is model.FromConfig, or FromConfigE2E for an e2e config.
func modelConfig(cfg *config.Config) (model.Config, error) {
	if isE2E(cfg) {
		return model.FromConfigE2E(cfg)
	}
	return model.FromConfig(cfg)
}

// wrapFeatures, when set (tests), wraps the reader of per-image feature
// files.
var wrapFeatures func(features.Reader) features.Reader

// sampler is the sampler of split over n samples for dataset k. The batch
// is BATCH_IMAGES of the split: per process in a data-parallel job (the
// original's distributed mode), times the GPU count otherwise (the
// original's DataParallel loader, which this single process emulates).
func (s *shard) sampler(cfg *config.Config, split string, n, k int) *data.Sampler {
	var b config.IntOrList
	shuffle := cfg.Train.Shuffle
	switch split {
	case "train":
		b = cfg.Train.BatchImages
	case "val":
		b, shuffle = cfg.Val.BatchImages, cfg.Val.Shuffle
	default:
		b, shuffle = cfg.Test.BatchImages, cfg.Test.Shuffle
	}
	batch, rank, world := b.At(k)*cfg.NumGPUs(), 0, 1
	if s.world > 1 {
		batch, rank, world = b.At(k), s.rank, s.world
	}
	return &data.Sampler{N: n, Rank: rank, World: world, BatchSize: batch, Shuffle: shuffle, Seed: uint64(cfg.RNGSeed)}
}

// aspectGrouping reports whether split's batches are formed within aspect
// groups (data.Sampler.Groups): TRAIN.ASPECT_GROUPING, for the train split
// only, as the original's make_dataloader, which passes False for val and
// test.
func aspectGrouping(cfg *config.Config, split string) bool {
	return split == "train" && cfg.Train.AspectGrouping
}

// replicas is the number of model replicas the global batch spreads over:
// the ranks of a data-parallel job, else the GPUS of the config.
func replicas(cfg *config.Config, world int) int {
	if world > 1 {
		return world
	}
	return cfg.NumGPUs()
}

// parallelFor runs f(0..n-1) on up to workers goroutines and returns the
// error of the lowest index that failed.
func parallelFor(n, workers int, f func(i int) error) error {
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				errs[i] = f(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func workers(cfg *config.Config) int {
	return max(1, min(cfg.NumWorkersPerGPU*cfg.NumGPUs(), 4))
}

// CheckDataPaths reports a DATASET.DATASET_PATH that does not exist before any
// reader names the first file it misses there. The shipped configs/synth
// configs read the synthetic world that "vlbert demo" writes, so the message
// says how to get it.
func CheckDataPaths(cfg *config.Config) error {
	for _, ds := range cfg.Datasets {
		if ds.DatasetPath == "" {
			continue // a text corpus names its file alone
		}
		if _, err := os.Stat(ds.DatasetPath); err != nil {
			return fmt.Errorf("train: DATASET.DATASET_PATH %s does not exist (%w); the configs in configs/synth read the synthetic world that `vlbert demo` writes to demo-out/data: run `vlbert demo` first (--quick for a small one), or set DATASET.DATASET_PATH to your data (--set DATASET.DATASET_PATH=DIR)", ds.DatasetPath, errors.Unwrap(err))
		}
	}
	return nil
}
