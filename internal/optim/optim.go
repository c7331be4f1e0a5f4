// Package optim holds the optimizers, learning-rate schedules and gradient
// clipping of the original VL-BERT trainer, operating on flat arenas.
//
// Layout: parameters, gradients and optimizer moments are each one []float32
// of the same length n (the model's arena). A Param names one tensor inside
// the arena by Offset and Size; every Param belongs to one Group, which holds
// the learning rate (set by a schedule) and the weight decay. Updates are
// element-wise, so the result does not depend on the thread count.
//
// Step order, as in the original common/trainer.py, on every update:
//
//	sched.Step(opt.Groups())            // BEFORE the update: update k uses factor(k)
//	norm := optim.ClipGradNorm(grads, maxNorm)
//	opt.Step(params, grads, skip)
//	clear(grads)
//
// skip mirrors PyTorch's "p.grad is None" (frozen parameters, and parameters
// that never took part in a forward pass): such tensors are left completely
// untouched, without weight decay and without a state step. A nil skip
// steps every tensor. Note that the original's optimizer.zero_grad() leaves
// zero tensors, not None, so a tensor that has had a gradient once is
// stepped (and decayed) on every later update even when unused; skip only
// tensors that have never received a gradient.
//
// The package does not know parameter names beyond Param.Name; mapping a
// checkpoint's optimizer state (indexed like the original's
// model.named_parameters()) onto Params is the caller's job (SetAdamState).
package optim

import (
	"fmt"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
)

// Param is one parameter tensor inside the flat arena.
type Param struct {
	Name   string // original state_dict name, for messages and grouping
	Offset int    // first element in the arena
	Size   int    // number of elements
	Group  int    // index into the optimizer's groups
}

// Group is one parameter group: the learning rate and weight decay of its
// tensors.
type Group struct {
	LR          float64 // current lr; schedules overwrite it
	InitialLR   float64 // lr at construction (base lr × LR_MULT); schedules scale it
	WeightDecay float64
}

// Optimizer is implemented by AdamW, SGD and Adam.
type Optimizer interface {
	// Step updates params in place from grads (both arena-sized); grads are
	// not modified. skip[i] (nil: none) leaves Param i untouched.
	Step(params, grads []float32, skip []bool)
	// Groups returns the parameter groups; schedules write their LR.
	Groups() []Group
	// State returns the optimizer state for checkpoints (views, not copies).
	State() *State
	// LoadState replaces the state; sizes must match.
	LoadState(s *State) error
}

// State is an optimizer's resumable state. Steps[i] is the number of updates
// Param i has received (0: no state yet, as PyTorch's empty per-parameter
// state). AdamW and Adam fill ExpAvg/ExpAvgSq, SGD MomentumBuf; all are
// arena-sized.
type State struct {
	Kind        string // "adamw", "adam" or "sgd"
	Steps       []int
	ExpAvg      []float32
	ExpAvgSq    []float32
	MomentumBuf []float32
	Groups      []Group
}

// BaseLR is the lr the original hands to the optimizer: TRAIN.LR × world
// size × Σ BATCH_IMAGES × GRAD_ACCUMULATE_STEPS (pretrain/function/train.py, train_net: batch_size = len(GPUS) × BATCH_IMAGES, or world_size × BATCH_IMAGES when distributed).
// worldSize is the process count in distributed mode and len(GPUS) in
// DataParallel mode.
func BaseLR(t *config.Train, worldSize int) float64 { return t.BaseLR(worldSize) }

// BuildGroups assigns params to groups as the original train.py does: one
// group per TRAIN.LR_MULT entry holding the parameters whose name contains
// its key (lr = baseLR × mult), then a last group with every other parameter
// (lr = baseLR). All groups share weightDecay. params[i].Group is set. A
// parameter matching two keys is an error (PyTorch refuses it too).
func BuildGroups(params []Param, lrMult config.LRMults, baseLR, weightDecay float64) ([]Group, error) {
	groups := make([]Group, len(lrMult)+1)
	for i, m := range lrMult {
		lr := baseLR * m.Mult
		groups[i] = Group{LR: lr, InitialLR: lr, WeightDecay: weightDecay}
	}
	groups[len(lrMult)] = Group{LR: baseLR, InitialLR: baseLR, WeightDecay: weightDecay}
	for i := range params {
		g := len(lrMult)
		for j, m := range lrMult {
			if strings.Contains(params[i].Name, m.Key) {
				if g != len(lrMult) {
					return nil, fmt.Errorf("optim: parameter %s matches LR_MULT keys %q and %q", params[i].Name, lrMult[g].Key, m.Key)
				}
				g = j
			}
		}
		params[i].Group = g
	}
	return groups, nil
}

// checkLayout panics unless params tile a prefix of an arena of n elements
// without overlap and refer to existing groups.
func checkLayout(params []Param, ngroups, n int) {
	end := 0
	for _, p := range params {
		if p.Offset < end || p.Size < 0 || p.Offset+p.Size > n {
			panic(fmt.Sprintf("optim: parameter %q [%d,+%d) overlaps or leaves the arena of %d", p.Name, p.Offset, p.Size, n))
		}
		if p.Group < 0 || p.Group >= ngroups {
			panic(fmt.Sprintf("optim: parameter %q has group %d of %d", p.Name, p.Group, ngroups))
		}
		end = p.Offset + p.Size
	}
}

func checkStepArgs(params, grads []float32, skip []bool, n, np int) {
	if len(params) != n || len(grads) != n {
		panic(fmt.Sprintf("optim: params %d and grads %d, want the arena size %d", len(params), len(grads), n))
	}
	if skip != nil && len(skip) != np {
		panic(fmt.Sprintf("optim: skip has %d entries for %d parameters", len(skip), np))
	}
}
