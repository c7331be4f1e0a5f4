package dettrain

import (
	"math"
	"strings"
)

// sgd is Caffe's SGDSolver (caffe/src/caffe/solvers/sgd_solver.cpp) with
// the "step" learning-rate policy: for each trainable tensor, with
// local_rate = lr·lr_mult and local_decay = weight_decay·decay_mult,
//
//	diff += local_decay·w;  v = momentum·v + local_rate·diff;  w −= v
//
// lr_mult is 2 for biases and 1 otherwise, decay_mult 1, as train.prototxt
// sets them (frozen tensors have no gradient and are skipped).
type sgd struct {
	s        Solver
	momentum []float32 // same layout as Net.Data
}

func newSGD(s Solver, n int) *sgd { return &sgd{s: s, momentum: make([]float32, n)} }

// lr is base_lr·gamma^floor(iter/stepsize), with an optional linear warm-up
// (SOLVER.WARMUP, not in the original: 0 there).
func (o *sgd) lr(iter int) float64 {
	r := o.s.BaseLR
	if o.s.StepSize > 0 {
		r *= math.Pow(o.s.Gamma, math.Floor(float64(iter)/float64(o.s.StepSize)))
	}
	if o.s.Warmup > 0 && iter < o.s.Warmup {
		r *= float64(iter+1) / float64(o.s.Warmup)
	}
	return r
}

func (o *sgd) step(n *Net, iter int) {
	lr := o.lr(iter)
	off := 0
	for _, p := range n.Params {
		k := len(p.Data)
		if p.Trainable {
			rate := lr
			if strings.HasSuffix(p.Name, ".bias") {
				rate *= 2
			}
			v := o.momentum[off : off+k]
			mom, decay, r := float32(o.s.Momentum), float32(o.s.WeightDecay), float32(rate)
			for i, g := range p.Grad {
				d := g + decay*p.Data[i]
				v[i] = mom*v[i] + r*d
				p.Data[i] -= v[i]
			}
		}
		off += k
	}
}
