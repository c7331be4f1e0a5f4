package optim

import (
	"fmt"
	"math"
	"sort"

	"github.com/vlbert/vlbert/internal/config"
)

// Factor maps an update number to a multiplier of each group's InitialLR.
type Factor interface {
	Factor(step int) float64
}

// WarmupLinear is the original WarmupLinearSchedule (LR_SCHEDULE
// "triangle"): step/Warmup while step < Warmup, then
// max(0, (Total−step)/max(1, Total−Warmup)).
type WarmupLinear struct {
	Warmup int
	Total  int
}

// Factor implements Factor.
func (s WarmupLinear) Factor(step int) float64 {
	if step < s.Warmup {
		return float64(step) / float64(max(1, s.Warmup))
	}
	return math.Max(0, float64(s.Total-step)/math.Max(1, float64(s.Total-s.Warmup)))
}

// WarmupMultiStep is the original WarmupMultiStepLR (LR_SCHEDULE "step"):
// a warmup factor for step < WarmupIters — WarmupFactor when Method is
// "constant", WarmupFactor·(1−α)+α with α = step/WarmupIters when "linear" —
// times Gamma^(number of milestones ≤ step).
type WarmupMultiStep struct {
	Milestones   []int // update numbers, increasing
	Gamma        float64
	WarmupFactor float64
	WarmupIters  int
	Method       string // "linear" or "constant"
}

// Factor implements Factor.
func (s WarmupMultiStep) Factor(step int) float64 {
	w := 1.0
	if step < s.WarmupIters {
		switch s.Method {
		case "constant":
			w = s.WarmupFactor
		default:
			alpha := float64(step) / float64(s.WarmupIters)
			w = s.WarmupFactor*(1-alpha) + alpha
		}
	}
	// bisect_right: milestones <= step
	n := sort.Search(len(s.Milestones), func(i int) bool { return s.Milestones[i] > step })
	return w * math.Pow(s.Gamma, float64(n))
}

// Scheduler applies a Factor to parameter groups with the original's
// bookkeeping: Last is the number of the last update the lr was set for.
type Scheduler struct {
	F    Factor
	Last int
}

// NewScheduler mirrors constructing the PyTorch scheduler with
// last_epoch = begin−1: it sets every group's LR to InitialLR·F(begin) and
// Last = begin. begin is the number of updates already done (0 for a fresh
// run, BEGIN_EPOCH·len(loader)/accum when resuming).
func NewScheduler(f Factor, groups []Group, begin int) *Scheduler {
	s := &Scheduler{F: f, Last: begin}
	s.apply(groups)
	return s
}

// Step advances to the next update and sets each group's LR. The original
// calls it before the optimizer step, so update k (1-based) uses F(k).
func (s *Scheduler) Step(groups []Group) {
	s.Last++
	s.apply(groups)
}

func (s *Scheduler) apply(groups []Group) {
	f := s.F.Factor(s.Last)
	for i := range groups {
		groups[i].LR = groups[i].InitialLR * f
	}
}

// Plateau is torch.optim.lr_scheduler.ReduceLROnPlateau as the original
// builds it for LR_SCHEDULE "plateau": mode max, factor LR_FACTOR,
// patience 1, relative threshold 1e-4, cooldown 2, min_lr 0, eps 1e-8. The
// original calls Step at the start of every epoch with the host validation
// metric; it cannot resume.
type Plateau struct {
	Factor    float64
	Patience  int
	Threshold float64
	Cooldown  int
	MinLR     float64
	Eps       float64

	best            float64
	numBad          int
	cooldownCounter int
}

// NewPlateau returns the original's plateau settings with the given factor.
func NewPlateau(factor float64) *Plateau {
	return &Plateau{Factor: factor, Patience: 1, Threshold: 1e-4, Cooldown: 2, Eps: 1e-8, best: math.Inf(-1)}
}

// Step records one metric value (higher is better) and reduces every
// group's LR by Factor after more than Patience epochs without a relative
// improvement of Threshold, then waits Cooldown epochs.
func (p *Plateau) Step(metric float64, groups []Group) {
	if metric > p.best*(1+p.Threshold) { // torch: mode max, threshold_mode rel
		p.best = metric
		p.numBad = 0
	} else {
		p.numBad++
	}
	if p.cooldownCounter > 0 {
		p.cooldownCounter--
		p.numBad = 0
	}
	if p.numBad > p.Patience {
		for i := range groups {
			old := groups[i].LR
			nw := math.Max(old*p.Factor, p.MinLR)
			if old-nw > p.Eps {
				groups[i].LR = nw
			}
		}
		p.cooldownCounter = p.Cooldown
		p.numBad = 0
	}
}

// ScheduleFromConfig builds the "triangle" or "step" schedule of TRAIN as
// the original train.py does, for a loader of batchesPerEpoch batches per
// epoch (per rank). Update counts use Python's int() truncation:
// total = int(END_EPOCH·len/accum), milestones int(e·len/accum) for e in
// LR_STEP, begin = int(BEGIN_EPOCH·len/accum). Warmup is WARMUP_STEPS when
// WARMUP is set, else 0. "plateau" is not a per-update schedule: use
// NewPlateau(TRAIN.LR_FACTOR); this returns an error for it.
func ScheduleFromConfig(t *config.Train, batchesPerEpoch int) (f Factor, begin int, err error) {
	accum := max(1, t.GradAccumulateSteps)
	updates := func(epochs float64) int {
		return int(epochs * float64(batchesPerEpoch) / float64(accum))
	}
	warmup := 0
	if t.Warmup {
		warmup = t.WarmupSteps
	}
	begin = updates(float64(t.BeginEpoch))
	switch t.LRSchedule {
	case "triangle":
		return WarmupLinear{Warmup: warmup, Total: updates(float64(t.EndEpoch))}, begin, nil
	case "step":
		if t.WarmupMethod != "linear" && t.WarmupMethod != "constant" {
			return nil, 0, fmt.Errorf("optim: WARMUP_METHOD %q, want linear or constant", t.WarmupMethod)
		}
		ms := make([]int, len(t.LRStep))
		for i, e := range t.LRStep {
			ms[i] = updates(e)
			if i > 0 && ms[i] < ms[i-1] {
				return nil, 0, fmt.Errorf("optim: LR_STEP %v is not increasing", []float64(t.LRStep))
			}
		}
		return WarmupMultiStep{Milestones: ms, Gamma: t.LRFactor, WarmupFactor: t.WarmupFactor,
			WarmupIters: warmup, Method: t.WarmupMethod}, begin, nil
	case "plateau":
		return nil, 0, fmt.Errorf("optim: LR_SCHEDULE plateau is stepped per epoch; use NewPlateau")
	}
	return nil, 0, fmt.Errorf("optim: unsupported LR_SCHEDULE %q (want triangle, step or plateau)", t.LRSchedule)
}

// NewFromConfig builds the optimizer named by TRAIN.OPTIMIZER (AdamW, SGD
// or Adam) over params, with groups from TRAIN.LR_MULT and lr BaseLR(worldSize).
func NewFromConfig(t *config.Train, params []Param, n, worldSize int) (Optimizer, error) {
	groups, err := BuildGroups(params, t.LRMult, t.BaseLR(worldSize), t.WD)
	if err != nil {
		return nil, err
	}
	switch t.Optimizer {
	case "AdamW":
		return NewAdamW(params, groups, n), nil
	case "SGD":
		return NewSGD(params, groups, n, t.Momentum), nil
	case "Adam":
		return NewAdam(params, groups, n), nil
	}
	return nil, fmt.Errorf("optim: unsupported TRAIN.OPTIMIZER %q (want AdamW, SGD or Adam)", t.Optimizer)
}
