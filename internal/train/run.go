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
	CfgPath  string // the config file (its base name names the output directory)
	ModelDir string // --model-dir: prefixed to OUTPUT_PATH
	Resume   bool   // --resume: continue from the latest checkpoint, which must exist
	// ResumeAnyway resumes even when the config changes settings that change
	// the arithmetic (each difference is logged); without it they are an error.
	ResumeAnyway bool
	Log          io.Writer // speedometer lines and messages (nil: discard)
	Terminal     bool      // draw a progress bar on Log

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
	// original hard-codes (see model.Encoder.NoDropout): for equivalence checks.
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
	if err := CheckDataPaths(cfg); err != nil { // before anything is written
		return nil, err
	}
	r := newRun(ctx, cfg, opts, start)
	closeOutput, err := r.openOutput()
	if err != nil {
		return nil, err
	}
	defer closeOutput()

	task, err := NewTask(cfg, "train", "val")
	if err != nil {
		return nil, err
	}
	defer task.Close()
	if err := r.prepare(task); err != nil {
		return nil, err
	}

	closeLogs, err := r.openLogs()
	if err != nil {
		return nil, err
	}
	defer closeLogs()
	return r.epochs()
}

// trainRun is one training run: what Run builds once and its epochs share.
type trainRun struct {
	ctx      context.Context // cancelled: stop at the next batch boundary
	loadCtx  context.Context // the loaders' context (see newRun)
	cfg      *config.Config
	opts     Options
	comm     dist.Comm
	rank0    bool // writes checkpoints and logs
	parallel bool // one rank of several
	start    time.Time
	outDir   string
	prefix   string    // checkpoint path prefix
	log      io.Writer // io.Discard off rank 0

	task     Task
	sampler  *data.Sampler // the train split
	perEpoch int           // batches per epoch
	tr       *Trainer
	lg       *runLogger
	res      *Result
	metrics  *Metrics // training metrics of the current epoch
	// restoreRunning holds the running averages of the checkpoint resumed
	// from, until the resumed epoch starts (logresume.go).
	restoreRunning *runningMetrics
	purgeAll       bool // a fresh start found an earlier run's logs
}

func newRun(ctx context.Context, cfg *config.Config, opts Options, start time.Time) *trainRun {
	comm := opts.Comm
	if comm == nil {
		comm = dist.Single{}
	}
	r := &trainRun{
		ctx: ctx, loadCtx: ctx, cfg: cfg, opts: opts, comm: comm,
		rank0: comm.Rank() == 0, parallel: comm.Size() > 1, start: start,
		outDir: cfg.OutputDir(opts.ModelDir, opts.CfgPath),
		prefix: cfg.ModelPrefixPath(opts.ModelDir, opts.CfgPath),
		log:    io.Discard,
	}
	r.res = &Result{OutputDir: r.outDir}
	if r.parallel {
		// In a job, stopping is decided collectively (anyRank), so loaders
		// must not see the cancellation on their own.
		r.loadCtx = context.WithoutCancel(ctx)
	}
	return r
}

// openOutput makes the output directory, opens the text log and saves a copy
// of the config (rank 0 only). The returned function closes the log.
func (r *trainRun) openOutput() (closeLog func(), err error) {
	if !r.rank0 {
		return func() {}, nil
	}
	if err := os.MkdirAll(r.outDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	w, closeFile, err := openLog(r.outDir, r.opts)
	if err != nil {
		return nil, err
	}
	unlock, err := prepareOutputDir(r.outDir, r.prefix, w)
	if err != nil {
		closeFile()
		return nil, err
	}
	closeLog = func() { unlock(); closeFile() }
	if err := saveConfigCopy(r.cfg, r.outDir, r.opts.CfgPath); err != nil {
		closeLog()
		return nil, err
	}
	r.log = w
	if r.parallel {
		fmt.Fprintf(w, "data-parallel: %s\n", dist.Describe(r.comm))
	}
	if r.cfg.Train.FP16 {
		// The original's FP16 is apex O2 on GPUs: a memory and speed device whose
		// loss scale only guards half-precision gradients. On a CPU float32 is the
		// fast path, so the original configs run as they are, in float32.
		fmt.Fprintf(w, "TRAIN.FP16 is true: training in float32 (apex mixed precision is a GPU feature; FP16_LOSS_SCALE is not used)\n")
	}
	return closeLog, nil
}

// prepare builds the training sampler, the model with its starting weights
// (the same on every rank), the optimizer and schedule, and resumes when asked.
func (r *trainRun) prepare(task Task) error {
	r.task = task
	if r.parallel {
		task.setShard(r.comm.Rank(), r.comm.Size())
	}
	var err error
	if r.sampler, err = task.Sampler("train"); err != nil {
		return err
	}
	if r.perEpoch, err = r.sampler.NumBatches(0); err != nil {
		return err
	}
	m, err := buildModel(r.cfg, task, r.log)
	if err != nil {
		return err
	}
	m.Base().NoDropout = r.opts.NoDropout
	if err := r.comm.BroadcastF32(m.Base().Params.Data); err != nil { // rank 0's weights everywhere
		return err
	}
	if r.tr, err = newTrainer(r.cfg, task, m, r.perEpoch, r.comm); err != nil {
		return err
	}
	r.metrics = NewMetrics(task.MetricNames())
	return r.tr.resume(r.prefix, r.opts.Resume, r.opts.ResumeAnyway, r.log)
}

// openLogs starts the progress display and, on rank 0, the TensorBoard and
// metrics.jsonl writers. The returned function closes them.
func (r *trainRun) openLogs() (closeLogs func(), err error) {
	cfg := r.cfg
	progress := logging.NewProgress(r.log, r.opts.Terminal, cfg.LogFrequent, r.sampler.BatchSize*r.comm.Size(), r.perEpoch, cfg.Train.EndEpoch-r.tr.State.Epoch)
	r.lg = &runLogger{progress: progress, comm: r.comm}
	if err := r.resumedLogs(); err != nil {
		return nil, err
	}
	if !r.rank0 {
		return func() {}, nil
	}
	if r.lg.tb, err = newEventWriter(logging.TensorBoardDir(filepath.Join(r.outDir, "tensorboard_logs"), -1)); err != nil {
		return nil, err
	}
	if err := r.purgeTensorBoard(); err != nil {
		r.lg.tb.Close()
		return nil, err
	}
	if r.lg.metrics, err = logging.OpenMetrics(filepath.Join(r.outDir, "metrics.jsonl")); err != nil {
		r.lg.tb.Close()
		return nil, err
	}
	return func() {
		r.lg.metrics.Close()
		r.lg.tb.Close()
	}, nil
}

// epochs trains from the resumed position to END_EPOCH: each epoch's
// batches, then validation and checkpoints, stopping early (with a
// checkpoint) when interrupted or after StopAfter batches.
func (r *trainRun) epochs() (*Result, error) {
	tr, task := r.tr, r.task
	for tr.State.Epoch < r.cfg.Train.EndEpoch {
		epoch := tr.State.Epoch
		if tr.plateau != nil && r.res.Val != nil {
			tr.plateau.Step(r.res.Val[task.HostMetric()], tr.Opt.Groups())
		}
		if why, err := r.trainEpoch(epoch); why != "" || err != nil {
			return r.stopOrFail(why, err)
		}
		r.lg.progress.Done()

		// Epoch end: validate, then checkpoint (ValidationMonitor, Checkpoint).
		val, why, err := r.validate()
		if why != "" || err != nil {
			return r.stopOrFail(why, err)
		}
		r.res.Val = val
		if err := r.lg.val(int64(epoch+1), epoch, val, task.MetricNames()); err != nil {
			return nil, err
		}
		fmt.Fprintf(r.log, "Epoch[%d] %s\n", epoch, formatMetrics("Val", val, task.MetricNames()))
		saved, err := r.epochCheckpoints(epoch, val[task.HostMetric()])
		if err != nil {
			return nil, err
		}

		stopNow, err := r.interrupted()
		if err != nil {
			return nil, err
		}
		stopNow = stopNow || r.stopAfterReached()
		if stopNow && tr.State.Epoch < r.cfg.Train.EndEpoch {
			if !saved {
				return r.stop("stopped")
			}
			fmt.Fprintf(r.log, "stopped at the end of epoch %d; resume from %s\n", epoch, r.res.Checkpoint)
			r.res.Interrupted = true
			return r.finish()
		}
	}
	if r.res.Best == "" {
		if _, err := os.Stat(bestCheckpoint(r.prefix)); err == nil {
			r.res.Best = bestCheckpoint(r.prefix)
		}
	}
	return r.finish()
}

// trainEpoch trains the epoch's remaining batches. A non-empty why means the
// run stops here (interrupted, or StopAfter reached).
func (r *trainRun) trainEpoch(epoch int) (why string, err error) {
	batches, err := r.sampler.Remaining(data.Position{Epoch: epoch, Batch: r.tr.State.Batch})
	if err != nil {
		return "", err
	}
	r.resetEpochMetrics()
	loader := r.task.Load(r.loadCtx, "train", batches, epoch, r.tr.State.Batch, r.tr.State.Global)
	defer loader.Close()
	for range batches {
		stopNow, err := r.interrupted()
		switch {
		case err != nil:
			return "", err
		case stopNow:
			return "interrupted", nil
		case r.stopAfterReached():
			return "stopped after the requested batches", nil
		}
		if why, err := r.trainBatch(loader, epoch); why != "" || err != nil {
			return why, err
		}
	}
	return "", nil
}

// trainBatch trains the loader's next batch, logs it, and validates or
// writes {prefix}-latest when ValEvery or CheckpointEvery says so.
func (r *trainRun) trainBatch(loader *data.Prefetcher[Batch], epoch int) (why string, err error) {
	tr := r.tr
	t0 := time.Now()
	b, err := loader.Next()
	if err != nil {
		if r.ctx.Err() != nil {
			return "interrupted", nil
		}
		return "", fmt.Errorf("train: epoch %d batch %d: %w", epoch, tr.State.Batch, err)
	}
	t1 := time.Now()
	nbatch := tr.State.Batch
	step, err := tr.Step(b, r.metrics)
	if err != nil {
		return "", tr.failure(err, r.res)
	}
	ph := logging.Phases{Data: t1.Sub(t0), Forward: step.Forward, Backward: step.Backward, Optimizer: step.Optimizer}
	if err := r.lg.batch(tr, epoch, nbatch, step, r.metrics, ph); err != nil {
		return "", err
	}
	if r.opts.OnBatch != nil {
		r.opts.OnBatch(tr.State)
	}
	if r.opts.ValEvery > 0 && tr.State.Global%r.opts.ValEvery == 0 {
		val, why, err := r.validate()
		if why != "" || err != nil {
			return why, err
		}
		if err := r.lg.val(int64(tr.State.Global), epoch, val, r.task.MetricNames()); err != nil {
			return "", err
		}
	}
	if r.opts.CheckpointEvery > 0 && tr.State.Global%r.opts.CheckpointEvery == 0 && tr.State.Batch < r.perEpoch {
		if err := r.save(latestCheckpoint(r.prefix)); err != nil {
			return "", err
		}
		r.res.Checkpoint = latestCheckpoint(r.prefix)
	}
	return "", nil
}

// epochCheckpoints records the finished epoch's host metric, advances the
// position to the next epoch and writes the epoch checkpoint (every
// CHECKPOINT_FREQUENT epochs, the last, and a new best) and {prefix}-best.
func (r *trainRun) epochCheckpoints(epoch int, host float64) (saved bool, err error) {
	tr := r.tr
	isBest := host > tr.State.BestVal
	if isBest {
		tr.State.BestVal, tr.State.BestEpoch = host, epoch
	}
	tr.State.Epoch, tr.State.Batch = epoch+1, 0
	freq := max(1, r.cfg.CheckpointFrequent)
	saved = (epoch+1)%freq == 0 || tr.State.Epoch == r.cfg.Train.EndEpoch || isBest
	if saved {
		path := epochCheckpoint(r.prefix, epoch)
		if err := r.save(path); err != nil {
			return false, err
		}
		r.res.Checkpoint = path
		if r.rank0 {
			os.Remove(latestCheckpoint(r.prefix)) // superseded
		}
	}
	if isBest {
		if r.rank0 {
			if err := tr.saveBest(r.res.Checkpoint, bestCheckpoint(r.prefix)); err != nil {
				return saved, err
			}
		}
		r.res.Best = bestCheckpoint(r.prefix)
		fmt.Fprintf(r.log, "best %s %.6f at epoch %d\n", r.task.HostMetric(), host, epoch)
	}
	return saved, nil
}

// validate runs the val split. Cancelled while running alone, it reports
// why = "interrupted" instead of the error.
func (r *trainRun) validate() (val map[string]float64, why string, err error) {
	val, err = r.tr.validate(r.loadCtx)
	if err != nil && r.ctx.Err() != nil && !r.parallel {
		return nil, "interrupted", nil
	}
	return val, "", err
}

// interrupted says whether any rank's context is cancelled (a collective in a job).
func (r *trainRun) interrupted() (bool, error) { return anyRank(r.comm, r.ctx.Err() != nil) }

func (r *trainRun) stopAfterReached() bool {
	return r.opts.StopAfter > 0 && r.tr.State.Global >= r.opts.StopAfter
}

// save writes a checkpoint on rank 0 (the others have the same state).
func (r *trainRun) save(path string) error {
	if !r.rank0 {
		return nil
	}
	if err := r.syncLogs(); err != nil {
		return err
	}
	return r.tr.saveCheckpoint(path, r.metrics)
}

// stopOrFail returns err if set, else stops the run for why.
func (r *trainRun) stopOrFail(why string, err error) (*Result, error) {
	if err != nil {
		return nil, err
	}
	return r.stop(why)
}

// stop writes {prefix}-latest and returns an interrupted Result.
func (r *trainRun) stop(why string) (*Result, error) {
	path := latestCheckpoint(r.prefix)
	if err := r.save(path); err != nil {
		return nil, err
	}
	st := r.tr.State
	fmt.Fprintf(r.log, "%s at epoch %d batch %d (global batch %d); saved %s\n", why, st.Epoch, st.Batch, st.Global, path)
	r.res.Checkpoint, r.res.Interrupted = path, true
	return r.finish()
}

func (r *trainRun) finish() (*Result, error) { return r.res.finish(r.tr, r.metrics, r.start) }

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
	return evaluate(ctx, tr.Cfg, tr.Task, tr.Module, "val", tr.comm)
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
func evaluate(ctx context.Context, cfg *config.Config, task Task, m model.Module, split string, comm dist.Comm) (map[string]float64, error) {
	m.Base().Train = false
	defer inferenceMode(m.Base())()
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
