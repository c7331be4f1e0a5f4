package train

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/dist"
	"github.com/vlbert/vlbert/internal/logging"
	"github.com/vlbert/vlbert/internal/model"
)

// Options are the run settings that are not in the config.
type Options struct {
	CfgPath  string    // the config file (its base name names the output directory)
	ModelDir string    // --model-dir: prefixed to OUTPUT_PATH
	Resume   bool      // --resume: continue from the latest checkpoint, which must exist
	Log      io.Writer // speedometer lines and messages (nil: discard)
	Terminal bool      // draw a progress bar on Log

	StopAfter       int // stop (with a checkpoint) once this many batches of the run are done; 0: END_EPOCH
	CheckpointEvery int // also write {prefix}-latest every this many batches; 0: only at epoch ends and stops
	ValEvery        int // also validate every this many batches; 0: only at epoch ends

	// OnBatch, if set, is called after every training batch with the
	// position reached (progress displays, tests).
	OnBatch func(State)

	// Comm makes the run one rank of a data-parallel job (nil: alone). Each
	// rank reads its shard of every epoch with a batch of BATCH_IMAGES,
	// gradients are averaged before clipping, metrics summed over ranks;
	// rank 0 alone writes checkpoints and logs. Every rank gets the same
	// Result.
	Comm dist.Comm

	// NoDropout trains with every dropout site off, even the ones the
	// original hard-codes (see model.Model.NoDropout): for equivalence checks.
	NoDropout bool
}

// Result is what a run produced.
type Result struct {
	OutputDir   string
	Checkpoint  string             // the last checkpoint written ("" if none)
	Best        string             // {prefix}-best ("" if none written)
	State       State              // final position, best metric
	Train       map[string]float64 // training metrics of the last epoch
	Val         map[string]float64 // last validation metrics
	Interrupted bool               // stopped by the context or StopAfter, with a checkpoint to resume from
	Elapsed     time.Duration
}

// Run trains the task of cfg.MODULE as the original train_net: build data,
// model, weights, optimizer and schedule; resume when asked; then for every
// epoch train all batches, validate, checkpoint. Cancelling ctx (SIGINT,
// SIGTERM) stops at the next batch boundary and writes {prefix}-latest; the
// Result then has Interrupted set and the error is nil.
func Run(ctx context.Context, cfg *config.Config, opts Options) (*Result, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	comm := opts.Comm
	if comm == nil {
		comm = dist.Single{}
	}
	rank0, parallel := comm.Rank() == 0, comm.Size() > 1
	// In a job, stopping is decided collectively (anyRank), so loaders must
	// not see the cancellation on their own.
	loadCtx := ctx
	if parallel {
		loadCtx = context.WithoutCancel(ctx)
	}
	outDir := cfg.OutputDir(opts.ModelDir, opts.CfgPath)
	prefix := cfg.ModelPrefixPath(opts.ModelDir, opts.CfgPath)
	log := io.Discard
	if rank0 {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		w, closeLog, err := openLog(outDir, opts)
		if err != nil {
			return nil, err
		}
		defer closeLog()
		log = w
		if err := saveConfigCopy(cfg, outDir, opts.CfgPath); err != nil {
			return nil, err
		}
		if parallel {
			fmt.Fprintf(log, "data-parallel: %s\n", dist.Describe(comm))
		}
		if cfg.Train.FP16 {
			// The original's FP16 is apex O2 on GPUs: a memory and speed device whose
			// loss scale only guards half-precision gradients. On a CPU float32 is the
			// fast path, so the original configs run as they are, in float32.
			fmt.Fprintf(log, "TRAIN.FP16 is true: training in float32 (apex mixed precision is a GPU feature; FP16_LOSS_SCALE is not used)\n")
		}
	}

	// Data.
	task, err := NewTask(cfg, "train", "val")
	if err != nil {
		return nil, err
	}
	defer task.Close()
	if parallel {
		task.setShard(comm.Rank(), comm.Size())
	}
	sampler, err := task.Sampler("train")
	if err != nil {
		return nil, err
	}
	perEpoch, err := sampler.NumBatches(0)
	if err != nil {
		return nil, err
	}

	// Model and its starting weights.
	m, err := buildModel(cfg, task, log)
	if err != nil {
		return nil, err
	}
	m.NoDropout = opts.NoDropout
	if err := comm.BroadcastF32(m.Params.Data); err != nil { // rank 0's weights everywhere
		return nil, err
	}

	// Optimizer, schedule, resume.
	tr, err := newTrainer(cfg, task, m, perEpoch, comm)
	if err != nil {
		return nil, err
	}
	if err := tr.resume(prefix, opts.Resume, log); err != nil {
		return nil, err
	}

	// Logs (rank 0).
	progress := logging.NewProgress(log, opts.Terminal, cfg.LogFrequent, sampler.BatchSize*comm.Size(), perEpoch, cfg.Train.EndEpoch-tr.State.Epoch)
	lg := &runLogger{progress: progress, comm: comm}
	if rank0 {
		if lg.tb, err = newEventWriter(logging.TensorBoardDir(filepath.Join(outDir, "tensorboard_logs"), -1)); err != nil {
			return nil, err
		}
		defer lg.tb.Close()
		if lg.metrics, err = logging.OpenMetrics(filepath.Join(outDir, "metrics.jsonl")); err != nil {
			return nil, err
		}
		defer lg.metrics.Close()
	}

	res := &Result{OutputDir: outDir}
	trainMetrics := NewMetrics(task.MetricNames())
	save := func(path string) error {
		if !rank0 {
			return nil
		}
		return tr.SaveCheckpoint(path)
	}
	stop := func(why string) (*Result, error) {
		path := latestCheckpoint(prefix)
		if err := save(path); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "%s at epoch %d batch %d (global batch %d); saved %s\n", why, tr.State.Epoch, tr.State.Batch, tr.State.Global, path)
		res.Checkpoint, res.Interrupted = path, true
		return res.finish(tr, trainMetrics, start)
	}
	interrupted := func() (bool, error) { return anyRank(comm, ctx.Err() != nil) }

	for tr.State.Epoch < cfg.Train.EndEpoch {
		epoch := tr.State.Epoch
		if tr.plateau != nil && res.Val != nil {
			tr.plateau.Step(res.Val[task.HostMetric()], tr.Opt.Groups())
		}
		batches, err := sampler.Remaining(data.Position{Epoch: epoch, Batch: tr.State.Batch})
		if err != nil {
			return nil, err
		}
		trainMetrics.Reset()
		loader := task.Load(loadCtx, "train", batches, epoch, tr.State.Batch, tr.State.Global)
		for range batches {
			if stopNow, err := interrupted(); err != nil || stopNow {
				loader.Close()
				if err != nil {
					return nil, err
				}
				return stop("interrupted")
			}
			if opts.StopAfter > 0 && tr.State.Global >= opts.StopAfter {
				loader.Close()
				return stop("stopped after the requested batches")
			}
			t0 := time.Now()
			b, err := loader.Next()
			if err != nil {
				loader.Close()
				if ctx.Err() != nil {
					return stop("interrupted")
				}
				return nil, fmt.Errorf("train: epoch %d batch %d: %w", epoch, tr.State.Batch, err)
			}
			t1 := time.Now()
			nbatch := tr.State.Batch
			step, err := tr.Step(b, trainMetrics)
			if err != nil {
				loader.Close()
				return nil, tr.failure(err, res)
			}
			ph := logging.Phases{Data: t1.Sub(t0), Forward: step.Forward, Backward: step.Backward, Optimizer: step.Optimizer}
			if err := lg.batch(tr, epoch, nbatch, step, trainMetrics, ph); err != nil {
				loader.Close()
				return nil, err
			}
			if opts.OnBatch != nil {
				opts.OnBatch(tr.State)
			}
			if opts.ValEvery > 0 && tr.State.Global%opts.ValEvery == 0 {
				val, err := tr.validate(loadCtx)
				if err != nil {
					loader.Close()
					if ctx.Err() != nil && !parallel {
						return stop("interrupted")
					}
					return nil, err
				}
				if err := lg.val(int64(tr.State.Global), epoch, val, task.MetricNames()); err != nil {
					loader.Close()
					return nil, err
				}
			}
			if opts.CheckpointEvery > 0 && tr.State.Global%opts.CheckpointEvery == 0 && tr.State.Batch < perEpoch {
				if err := save(latestCheckpoint(prefix)); err != nil {
					loader.Close()
					return nil, err
				}
				res.Checkpoint = latestCheckpoint(prefix)
			}
		}
		loader.Close()
		progress.Done()

		// Epoch end: validate, then checkpoint (ValidationMonitor, Checkpoint).
		val, err := tr.validate(loadCtx)
		if err != nil {
			if ctx.Err() != nil && !parallel {
				return stop("interrupted")
			}
			return nil, err
		}
		res.Val = val
		if err := lg.val(int64(epoch+1), epoch, val, task.MetricNames()); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "Epoch[%d] %s\n", epoch, formatMetrics("Val", val, task.MetricNames()))
		host := val[task.HostMetric()]
		isBest := host > tr.State.BestVal
		if isBest {
			tr.State.BestVal, tr.State.BestEpoch = host, epoch
		}
		tr.State.Epoch, tr.State.Batch = epoch+1, 0
		freq := max(1, cfg.CheckpointFrequent)
		saved := (epoch+1)%freq == 0 || tr.State.Epoch == cfg.Train.EndEpoch || isBest
		if saved {
			path := epochCheckpoint(prefix, epoch)
			if err := save(path); err != nil {
				return nil, err
			}
			res.Checkpoint = path
			if rank0 {
				os.Remove(latestCheckpoint(prefix)) // superseded
			}
		}
		if isBest {
			if rank0 {
				if err := tr.saveBest(res.Checkpoint, bestCheckpoint(prefix)); err != nil {
					return nil, err
				}
			}
			res.Best = bestCheckpoint(prefix)
			fmt.Fprintf(log, "best %s %.6f at epoch %d\n", task.HostMetric(), host, epoch)
		}
		stopNow, err := interrupted()
		if err != nil {
			return nil, err
		}
		stopNow = stopNow || opts.StopAfter > 0 && tr.State.Global >= opts.StopAfter
		if stopNow && tr.State.Epoch < cfg.Train.EndEpoch {
			if !saved {
				return stop("stopped")
			}
			fmt.Fprintf(log, "stopped at the end of epoch %d; resume from %s\n", epoch, res.Checkpoint)
			res.Interrupted = true
			return res.finish(tr, trainMetrics, start)
		}
	}
	if res.Best == "" {
		if _, err := os.Stat(bestCheckpoint(prefix)); err == nil {
			res.Best = bestCheckpoint(prefix)
		}
	}
	return res.finish(tr, trainMetrics, start)
}

func (r *Result) finish(tr *Trainer, mt *Metrics, start time.Time) (*Result, error) {
	all, err := mt.reduced(tr.comm)
	if err != nil {
		return nil, err
	}
	r.State, r.Train, r.Elapsed = tr.State, all.Map(), time.Since(start)
	return r, nil
}

// anyRank is dist.AnyRank, without a collective when alone.
func anyRank(c dist.Comm, local bool) (bool, error) {
	if c.Size() == 1 {
		return local, nil
	}
	return dist.AnyRank(c, local)
}

// failure explains a stopped run: a NaN/Inf loss keeps the last good
// checkpoint, which the message names.
func (tr *Trainer) failure(err error, res *Result) error {
	last := res.Checkpoint
	if last == "" {
		last = tr.resumedFrom
	}
	if last != "" {
		return fmt.Errorf("%w; the last good checkpoint is %s (resume with --resume, perhaps with a lower TRAIN.LR)", err, last)
	}
	return fmt.Errorf("%w; no checkpoint was written in this run", err)
}

// validate runs the val split without dropout and returns its metrics (the
// original ValidationMonitor's evaluation).
func (tr *Trainer) validate(ctx context.Context) (map[string]float64, error) {
	defer func() { tr.Model.Train = true }()
	return evaluate(ctx, tr.Cfg, tr.Task, tr.Model, "val", tr.comm)
}

// inferenceMode sets m.Inference (no per-layer activations kept; VQA computes the
// last layer for its [MASK] rows only) until the returned function restores it:
// evaluation and prediction read outputs only.
func inferenceMode(m *model.Model) (restore func()) {
	prev := m.Inference
	m.Inference = true
	return func() { m.Inference = prev }
}

// evaluate runs split through m (labels needed) and returns the metrics.
func evaluate(ctx context.Context, cfg *config.Config, task Task, m *model.Model, split string, comm dist.Comm) (map[string]float64, error) {
	m.Train = false
	defer inferenceMode(m)()
	defer e2eInference(task)()
	s, err := task.Sampler(split)
	if err != nil {
		return nil, err
	}
	batches, err := s.Batches(0)
	if err != nil {
		return nil, err
	}
	mt := NewMetrics(task.MetricNames())
	loader := task.Load(ctx, split, batches, 0, 0, 0)
	defer loader.Close()
	loggers := lossLoggers(cfg)
	for range batches {
		b, err := loader.Next()
		if err != nil {
			return nil, fmt.Errorf("train: %s: %w", split, err)
		}
		_, outputs, err := task.Forward(m, b, mt)
		if err != nil {
			return nil, err
		}
		for _, l := range loggers {
			mt.Add(l.display, float64(outputs[l.output]), 1)
		}
	}
	all, err := mt.reduced(comm)
	if err != nil {
		return nil, err
	}
	return all.Map(), nil
}

// saveBest makes best a copy of the epoch checkpoint just written: a hard
// link renamed into place (atomic, no second write), else a fresh save.
func (tr *Trainer) saveBest(epochPath, best string) error {
	tmp := best + ".link"
	os.Remove(tmp)
	if err := os.Link(epochPath, tmp); err == nil {
		if err := os.Rename(tmp, best); err == nil {
			return nil
		}
		os.Remove(tmp)
	}
	return tr.SaveCheckpoint(best)
}
