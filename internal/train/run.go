package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/logging"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/weights"
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
	if cfg.Train.FP16 {
		return nil, fmt.Errorf("train: TRAIN.FP16 is not supported (vlbert trains in float32); set TRAIN.FP16 false")
	}
	outDir := cfg.OutputDir(opts.ModelDir, opts.CfgPath)
	prefix := cfg.ModelPrefixPath(opts.ModelDir, opts.CfgPath)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	log, closeLog, err := openLog(outDir, opts)
	if err != nil {
		return nil, err
	}
	defer closeLog()
	if err := saveConfigCopy(cfg, outDir, opts.CfgPath); err != nil {
		return nil, err
	}

	// Data.
	task, err := NewTask(cfg, "train", "val")
	if err != nil {
		return nil, err
	}
	defer task.Close()
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

	// Optimizer, schedule, resume.
	tr, err := NewTrainer(cfg, task, m, perEpoch)
	if err != nil {
		return nil, err
	}
	if err := tr.resume(prefix, opts.Resume, log); err != nil {
		return nil, err
	}

	// Logs.
	tb, err := newEventWriter(logging.TensorBoardDir(filepath.Join(outDir, "tensorboard_logs"), -1))
	if err != nil {
		return nil, err
	}
	defer tb.Close()
	metrics, err := logging.OpenMetrics(filepath.Join(outDir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	defer metrics.Close()
	progress := logging.NewProgress(log, opts.Terminal, cfg.LogFrequent, sampler.BatchSize, perEpoch, cfg.Train.EndEpoch-tr.State.Epoch)
	lg := &runLogger{tb: tb, metrics: metrics, progress: progress}

	res := &Result{OutputDir: outDir}
	trainMetrics := NewMetrics(task.MetricNames())
	stop := func(why string) (*Result, error) {
		path := latestCheckpoint(prefix)
		if err := tr.SaveCheckpoint(path); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "%s at epoch %d batch %d (global batch %d); saved %s\n", why, tr.State.Epoch, tr.State.Batch, tr.State.Global, path)
		res.Checkpoint, res.Interrupted = path, true
		return res.finish(tr, trainMetrics, start), nil
	}

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
		loader := task.Load(ctx, "train", batches, epoch, tr.State.Batch, tr.State.Global)
		for range batches {
			if ctx.Err() != nil {
				loader.Close()
				return stop("interrupted")
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
				val, err := tr.validate(ctx)
				if err != nil {
					loader.Close()
					if ctx.Err() != nil {
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
				if err := tr.SaveCheckpoint(latestCheckpoint(prefix)); err != nil {
					loader.Close()
					return nil, err
				}
				res.Checkpoint = latestCheckpoint(prefix)
			}
			if opts.StopAfter > 0 && tr.State.Global >= opts.StopAfter && tr.State.Batch < perEpoch {
				loader.Close()
				return stop("stopped after the requested batches")
			}
		}
		loader.Close()
		progress.Done()

		// Epoch end: validate, then checkpoint (ValidationMonitor, Checkpoint).
		val, err := tr.validate(ctx)
		if err != nil {
			if ctx.Err() != nil {
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
			if err := tr.SaveCheckpoint(path); err != nil {
				return nil, err
			}
			res.Checkpoint = path
			os.Remove(latestCheckpoint(prefix)) // superseded
		}
		if isBest {
			if err := tr.saveBest(res.Checkpoint, bestCheckpoint(prefix)); err != nil {
				return nil, err
			}
			res.Best = bestCheckpoint(prefix)
			fmt.Fprintf(log, "best %s %.6f at epoch %d\n", task.HostMetric(), host, epoch)
		}
		stopNow := opts.StopAfter > 0 && tr.State.Global >= opts.StopAfter
		if (stopNow || ctx.Err() != nil) && tr.State.Epoch < cfg.Train.EndEpoch {
			if !saved {
				return stop("stopped")
			}
			fmt.Fprintf(log, "stopped at the end of epoch %d; resume from %s\n", epoch, res.Checkpoint)
			res.Interrupted = true
			return res.finish(tr, trainMetrics, start), nil
		}
	}
	if res.Best == "" {
		if _, err := os.Stat(bestCheckpoint(prefix)); err == nil {
			res.Best = bestCheckpoint(prefix)
		}
	}
	return res.finish(tr, trainMetrics, start), nil
}

func (r *Result) finish(tr *Trainer, mt *Metrics, start time.Time) *Result {
	r.State, r.Train, r.Elapsed = tr.State, mt.Map(), time.Since(start)
	return r
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

// buildModel creates the network of cfg with weights drawn from RNG_SEED,
// then the NETWORK.PARTIAL_PRETRAIN checkpoint (non-strict, with
// PARTIAL_PRETRAIN_PREFIX_CHANGES; unmatched keys are reported) and the
// task's own initialisation (VQA CLASSIFIER_PRETRAINED).
func buildModel(cfg *config.Config, task Task, log io.Writer) (*model.Model, error) {
	mc, err := model.FromConfig(cfg)
	if err != nil {
		return nil, err
	}
	m, err := model.New(mc)
	if err != nil {
		return nil, err
	}
	m.InitWeights(uint64(cfg.RNGSeed))
	if path := cfg.Network.PartialPretrain; path != "" {
		rep, err := LoadPartial(m, path, cfg.Network.PartialPretrainPrefixChanges)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "partial pretrain %s: %d keys loaded\n", path, len(rep.Loaded))
		if len(rep.Unexpected) > 0 {
			fmt.Fprintf(log, "[Warning] not matched keys in the pretrained checkpoint: %s\n", strings.Join(rep.Unexpected, ", "))
		}
		if len(rep.Missing) > 0 {
			fmt.Fprintf(log, "[Warning] model keys not pretrained: %s\n", strings.Join(rep.Missing, ", "))
		}
	}
	if in, ok := task.(interface{ initModel(*model.Model) error }); ok {
		if err := in.initModel(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// LoadPartial loads the state_dict of an original .model (or one of vlbert's
// checkpoints) into m after the "old->new" prefix rules, keeping every
// parameter the file does not have, as the original's
// smart_partial_load_model_state_dict.
func LoadPartial(m *model.Model, path string, rules []string) (model.LoadReport, error) {
	var sd map[string]*weights.Tensor
	if isSafetensors(path) {
		t, _, err := weights.ReadSafetensors(path)
		if err != nil {
			return model.LoadReport{}, err
		}
		sd = map[string]*weights.Tensor{}
		for k, v := range t {
			if !strings.HasPrefix(k, "optimizer.") && !strings.HasPrefix(k, "trainer.") {
				sd[k] = v
			}
		}
	} else {
		ck, err := weights.ReadTorch(path)
		if err != nil {
			return model.LoadReport{}, err
		}
		sd = ck.StateDict
	}
	sd, err := weights.ApplyPrefixChanges(rules, sd)
	if err != nil {
		return model.LoadReport{}, err
	}
	return m.LoadTorchStateDict(sd, path, false)
}

// resume continues from the latest checkpoint when --resume, TRAIN.RESUME
// or TRAIN.AUTO_RESUME asks for it.
func (tr *Trainer) resume(prefix string, force bool, log io.Writer) error {
	t := &tr.Cfg.Train
	if !force && !t.Resume && !t.AutoResume {
		return nil
	}
	var c candidate
	var err error
	if t.Resume && !force {
		// TRAIN.RESUME: the checkpoint of epoch BEGIN_EPOCH-1, ours or the original's.
		e := t.BeginEpoch - 1
		c = candidate{path: epochCheckpoint(prefix, e)}
		if _, serr := os.Stat(c.path); serr != nil {
			c = candidate{path: fmt.Sprintf("%s-%04d.model", prefix, e), torch: true, epoch: e}
		}
	} else if c, err = findResume(prefix, tr.batchesPerEpoch); err != nil {
		return err
	}
	if c.path == "" {
		if force {
			return fmt.Errorf("train: --resume: no checkpoint %s-*.safetensors or -NNNN.model to resume from", prefix)
		}
		return nil
	}
	if c.torch {
		err = tr.loadTorchResume(c, tr.batchesPerEpoch)
	} else {
		err = tr.loadOwnCheckpoint(c.path)
	}
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if tr.State.Seed != int64(tr.Cfg.RNGSeed) {
		return fmt.Errorf("train: resume: %s was trained with RNG_SEED %d, the config has %d", c.path, tr.State.Seed, tr.Cfg.RNGSeed)
	}
	tr.resumedFrom = c.path
	fmt.Fprintf(log, "resumed from %s at epoch %d batch %d (global batch %d, %d updates)\n", c.path, tr.State.Epoch, tr.State.Batch, tr.State.Global, tr.State.Updates)
	return tr.resetSchedule()
}

// validate runs the val split without dropout and returns its metrics (the
// original ValidationMonitor's evaluation).
func (tr *Trainer) validate(ctx context.Context) (map[string]float64, error) {
	defer func() { tr.Model.Train = true }()
	return evaluate(ctx, tr.Cfg, tr.Task, tr.Model, "val")
}

// evaluate runs split through m (labels needed) and returns the metrics.
func evaluate(ctx context.Context, cfg *config.Config, task Task, m *model.Model, split string) (map[string]float64, error) {
	m.Train = false
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
	return mt.Map(), nil
}

// runLogger writes the per-batch and validation logs.
type runLogger struct {
	tb       *logging.EventWriter
	metrics  *logging.MetricsWriter
	progress *logging.Progress
}

func (l *runLogger) batch(tr *Trainer, epoch, nbatch int, s StepResult, mt *Metrics, ph logging.Phases) error {
	groups := tr.Opt.Groups()
	initial, lrs := make([]float64, len(groups)), make([]float64, len(groups))
	for i, g := range groups {
		initial[i], lrs[i] = g.InitialLR, g.LR
	}
	list := mt.List()
	scalars := logging.TrainStepScalars(initial, lrs, s.Loss, list)
	if s.Updated && tr.Cfg.Train.ClipGradNorm > 0 {
		scalars = append(scalars, logging.Scalar{Tag: "grad-para/Total-Norm", Value: float32(s.GradNorm)})
	}
	step := int64(tr.State.Global - 1)
	if err := l.tb.AddScalars(step, scalars...); err != nil {
		return err
	}
	rec := logging.Record{Step: step, Epoch: epoch, Time: float64(time.Now().UnixNano()) / 1e9, Metrics: map[string]float64{}}
	for _, sc := range scalars {
		rec.Metrics[sc.Tag] = float64(sc.Value)
	}
	rec.Metrics["Train-Loss"] = s.Loss
	if err := l.metrics.Write(rec); err != nil {
		return err
	}
	l.progress.Batch(epoch, nbatch, ph, list)
	return nil
}

func (l *runLogger) val(step int64, epoch int, val map[string]float64, names []string) error {
	rec := logging.Record{Step: step, Epoch: epoch, Time: float64(time.Now().UnixNano()) / 1e9, Metrics: map[string]float64{}}
	var scalars []logging.Scalar
	for _, n := range names {
		scalars = append(scalars, logging.Scalar{Tag: logging.ValTag(n), Value: float32(val[n])})
		rec.Metrics[logging.ValTag(n)] = val[n]
	}
	if err := l.tb.AddScalars(step, scalars...); err != nil {
		return err
	}
	if err := l.tb.Flush(); err != nil {
		return err
	}
	return l.metrics.Write(rec)
}

func formatMetrics(prefix string, m map[string]float64, names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString("\t")
		}
		fmt.Fprintf(&b, "%s-%s=%f", prefix, n, m[n])
	}
	return b.String()
}

// openLog tees messages to opts.Log and {outDir}/{cfg name}_{time}.log.
func openLog(outDir string, opts Options) (io.Writer, func(), error) {
	w := opts.Log
	if w == nil {
		w = io.Discard
	}
	name := strings.TrimSuffix(filepath.Base(opts.CfgPath), filepath.Ext(opts.CfgPath))
	if name == "" || name == "." {
		name = "train"
	}
	path := filepath.Join(outDir, fmt.Sprintf("%s_%s.log", name, time.Now().UTC().Format("2006-01-02-15-04")))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	return io.MultiWriter(w, f), func() { f.Close() }, nil
}

// saveConfigCopy writes the resolved config next to the checkpoints, as the
// original copies the YAML into the output directory.
func saveConfigCopy(cfg *config.Config, outDir, cfgPath string) error {
	b, err := cfg.Marshal()
	if err != nil {
		return fmt.Errorf("train: config: %w", err)
	}
	name := filepath.Base(cfgPath)
	if cfgPath == "" {
		name = "config.yaml"
	}
	return os.WriteFile(filepath.Join(outDir, name), b, 0o644)
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

// newEventWriter opens a new TensorBoard event file. Its name holds the
// time in seconds, so a run resumed within the second of the previous one
// waits for the next second rather than fail.
func newEventWriter(dir string) (*logging.EventWriter, error) {
	for try := 0; ; try++ {
		w, err := logging.NewEventWriter(dir)
		if err == nil || !errors.Is(err, fs.ErrExist) || try == 2 {
			return w, err
		}
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	}
}
