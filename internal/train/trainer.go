package train

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/dist"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/optim"
)

// Trainer owns one model's optimisation: optimizer, schedule, accumulation
// and the run position. Step is the original trainer's per-batch body.
type Trainer struct {
	Cfg   *config.Config
	Model *model.Model // Module's shared encoder and parameters
	// Module is the task module that Task's Forward and Backward run.
	Module model.Module
	Task   Task
	Opt    optim.Optimizer
	State  State

	// BeforeUpdate, if set, sees the gradient arena after clipping, just
	// before the optimizer step (tests compare it with post-clip goldens).
	BeforeUpdate func(grads []float32)

	params          []optim.Param
	sched           *optim.Scheduler // nil with the plateau schedule
	plateau         *optim.Plateau
	accum           int
	batchesPerEpoch int
	touched         []bool // parameters that ever had a gradient (PyTorch: p.grad is not None)
	// gradAlways marks parameters every backward reaches, even with an
	// all-zero gradient (the e2e CNN's trainable stages: PyTorch then has a
	// zero p.grad, not None, and still decays and counts the step).
	gradAlways  []bool
	skip        []bool
	noDropout   bool   // eval-mode forward in training steps (the goldens ran so)
	resumedFrom string // the checkpoint the run continued from
	comm        dist.Comm
	reducer     *dist.Reducer // gradient averaging over comm's ranks (nil until the first update)
}

// StepResult describes one batch.
type StepResult struct {
	Loss     float64            // the logged Train-Loss: loss / GRAD_ACCUMULATE_STEPS
	Outputs  map[string]float32 // named losses (for the loss loggers)
	Updated  bool               // an optimizer update happened
	LR       []float64          // group learning rates used by the update
	GradNorm float64            // total norm before clipping (updates with CLIP_GRAD_NORM > 0)
	// Forward (with the metrics), Backward and Optimizer (schedule, clip,
	// step) times, for the speedometer.
	Forward, Backward, Optimizer time.Duration
}

// NewTrainer builds the optimizer (TRAIN.OPTIMIZER, groups from LR_MULT,
// lr = LR × global batch) and the schedule for a loader of batchesPerEpoch
// batches, positioned at TRAIN.BEGIN_EPOCH.
func NewTrainer(cfg *config.Config, task Task, m model.Module, batchesPerEpoch int) (*Trainer, error) {
	return newTrainer(cfg, task, m, batchesPerEpoch, dist.Single{})
}

// newTrainer is NewTrainer for one rank of a data-parallel job: gradients
// are averaged over comm's ranks before clipping (DistributedDataParallel),
// and the lr counts every rank's batch.
func newTrainer(cfg *config.Config, task Task, m model.Module, batchesPerEpoch int, comm dist.Comm) (*Trainer, error) {
	if batchesPerEpoch < 1 {
		return nil, fmt.Errorf("train: the training loader is empty")
	}
	p := m.Base().Params
	params := make([]optim.Param, len(p.List))
	for i, q := range p.List {
		params[i] = optim.Param{Name: q.Name, Offset: q.Offset, Size: q.Size}
	}
	opt, err := optim.NewFromConfig(&cfg.Train, params, len(p.Data), replicas(cfg, comm.Size()))
	if err != nil {
		return nil, err
	}
	accum := max(1, cfg.Train.GradAccumulateSteps)
	begin := cfg.Train.BeginEpoch
	tr := &Trainer{Cfg: cfg, Model: m.Base(), Module: m, Task: task, Opt: opt, params: params, accum: accum, batchesPerEpoch: batchesPerEpoch, comm: comm,
		touched: make([]bool, len(params)), skip: make([]bool, len(params)),
		State: State{Epoch: begin, Global: begin * batchesPerEpoch, Updates: begin * batchesPerEpoch / accum,
			BestVal: math.Inf(-1), BestEpoch: -1, Seed: int64(cfg.RNGSeed)}}
	if e := e2eOf(task); e != nil && e.cnn != nil {
		tr.gradAlways = make([]bool, len(params))
		for i, q := range params {
			if vp := e.cnn.net.Params.Get(strings.TrimPrefix(q.Name, cnnKeyPrefix)); vp != nil && vp.Trainable {
				tr.gradAlways[i] = true
			}
		}
	}
	if err := tr.resetSchedule(); err != nil {
		return nil, err
	}
	return tr, nil
}

// resetSchedule builds the schedule at the current update count, as the
// original constructs its scheduler with last_epoch = updates − 1.
func (tr *Trainer) resetSchedule() error {
	if tr.Cfg.Train.LRSchedule == "plateau" {
		tr.sched, tr.plateau = nil, optim.NewPlateau(tr.Cfg.Train.LRFactor)
		gs := tr.Opt.Groups()
		for i := range gs {
			gs[i].LR = gs[i].InitialLR
		}
		return nil
	}
	f, _, err := optim.ScheduleFromConfig(&tr.Cfg.Train, tr.batchesPerEpoch)
	if err != nil {
		return err
	}
	tr.sched = optim.NewScheduler(f, tr.Opt.Groups(), tr.State.Updates)
	return nil
}

// Step runs one training batch: forward, loss / accumulation, backward and,
// on an accumulation boundary, schedule step, clip, optimizer step and
// zero-grad (the original's order). Dropout masks depend on (RNG_SEED,
// global batch). A non-finite loss or gradient norm is an error and leaves
// the weights unchanged.
func (tr *Trainer) Step(b Batch, mt *Metrics) (StepResult, error) {
	m := tr.Model
	m.Train, m.Seed, m.Step = !tr.noDropout, uint64(tr.Cfg.RNGSeed), uint64(tr.State.Global)
	t0 := time.Now()
	loss, outputs, err := tr.Task.Forward(tr.Module, b, mt)
	if err != nil {
		return StepResult{}, err
	}
	bad := math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0)
	if tr.comm.Size() > 1 { // every rank stops together
		if bad, err = dist.AnyRank(tr.comm, bad); err != nil {
			return StepResult{}, err
		}
	}
	if bad {
		return StepResult{}, fmt.Errorf("train: loss is %v at epoch %d batch %d (global batch %d); stopping without an update", loss, tr.State.Epoch, tr.State.Batch, tr.State.Global)
	}
	t1 := time.Now()
	tr.Task.Backward(tr.Module, 1/float32(tr.accum))
	t2 := time.Now()
	res := StepResult{Loss: float64(loss) / float64(tr.accum), Outputs: outputs, Forward: t1.Sub(t0), Backward: t2.Sub(t1)}
	tr.State.Pending = true
	if (tr.State.Global+1)%tr.accum == 0 {
		if err := tr.update(&res); err != nil {
			return res, err
		}
		res.Optimizer = time.Since(t2)
	}
	for _, l := range lossLoggers(tr.Cfg) {
		mt.Add(l.display, float64(outputs[l.output]), 1)
	}
	tr.State.Global++
	tr.State.Batch++
	return res, nil
}

// update is one optimizer update: schedule, clip, step, zero-grad.
func (tr *Trainer) update(res *StepResult) error {
	p := tr.Model.Params
	if tr.comm.Size() > 1 {
		// 4 MB buckets: 0.30 s for a BERT-base gradient between 2 ranks here,
		// against 0.48 s for one 460 MB MPI_Allreduce.
		if tr.reducer == nil {
			tr.reducer = dist.NewReducer(tr.comm, p.Grad, dist.DefaultBucketBytes)
		}
		if err := tr.reducer.ReduceAll(); err != nil {
			return err
		}
	}
	if tr.sched != nil {
		tr.sched.Step(tr.Opt.Groups())
	}
	if clip := tr.Cfg.Train.ClipGradNorm; clip > 0 {
		res.GradNorm = optim.ClipGradNorm(p.Grad, clip)
		if math.IsNaN(res.GradNorm) || math.IsInf(res.GradNorm, 0) {
			return fmt.Errorf("train: gradient norm is %v at epoch %d batch %d (global batch %d); stopping without an update", res.GradNorm, tr.State.Epoch, tr.State.Batch, tr.State.Global)
		}
	}
	for i, q := range tr.params {
		if tr.gradAlways != nil && tr.gradAlways[i] {
			tr.touched[i] = true
		}
		if !tr.touched[i] {
			for _, g := range p.Grad[q.Offset : q.Offset+q.Size] {
				if g != 0 {
					tr.touched[i] = true
					break
				}
			}
		}
		tr.skip[i] = !tr.touched[i]
	}
	if tr.BeforeUpdate != nil {
		tr.BeforeUpdate(p.Grad)
	}
	for _, g := range tr.Opt.Groups() {
		res.LR = append(res.LR, g.LR)
	}
	tr.Opt.Step(p.Data, p.Grad, tr.skip)
	tr.Model.ZeroGrad()
	tr.State.Updates++
	tr.State.Pending = false
	res.Updated = true
	return nil
}

// Groups returns the optimizer's groups (current and initial learning rates).
func (tr *Trainer) Groups() []optim.Group { return tr.Opt.Groups() }
