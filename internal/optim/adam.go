package optim

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// Adam is torch.optim.Adam (amsgrad off), the original's TRAIN.OPTIMIZER
// "Adam" (no config uses it). Unlike AdamW, weight decay is L2 added to the
// gradient, and eps is added after the bias correction of v:
//
//	g = g + wd·p
//	m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//	p = p − lr/(1−β1^t) · m/(sqrt(v)/sqrt(1−β2^t) + eps)
//
// State layout and methods are those of AdamW (State().Kind "adam").
type Adam struct {
	AdamW
}

// NewAdam returns a torch.optim.Adam with β = 0.9, 0.999 and eps 1e-8.
func NewAdam(params []Param, groups []Group, n int) *Adam {
	a := &Adam{AdamW: *NewAdamW(params, groups, n)}
	a.Eps = 1e-8
	return a
}

// Step applies one update in place; see the type comment.
func (o *Adam) Step(params, grads []float32, skip []bool) {
	checkStepArgs(params, grads, skip, len(o.expAvg), len(o.Params))
	for i, p := range o.Params {
		if skip != nil && skip[i] {
			continue
		}
		o.steps[i]++
		g := o.groups[p.Group]
		t := float64(o.steps[i])
		bc1 := 1 - math.Pow(o.Beta1, t)
		bc2sqrt := math.Sqrt(1 - math.Pow(o.Beta2, t))
		b1, ob1, b2, ob2 := float32(o.Beta1), float32(1-o.Beta1), float32(o.Beta2), float32(1-o.Beta2)
		wd, eps := float32(g.WeightDecay), float32(o.Eps)
		negStep, bc2 := float32(-g.LR/bc1), float32(bc2sqrt)
		lo, hi := p.Offset, p.Offset+p.Size
		pp, gg, m, v := params[lo:hi], grads[lo:hi], o.expAvg[lo:hi], o.expAvgSq[lo:hi]
		args := torchAdamArgs{pp, gg, m, v, b1, ob1, b2, ob2, wd, eps, negStep, bc2}
		parallel.ForArgs(p.Size, 1<<15, args, func(x *torchAdamArgs, a, b int) {
			pp, gg, m, v := x.p, x.g, x.m, x.v
			b1, ob1, b2, ob2, wd, eps, negStep, bc2 := x.b1, x.ob1, x.b2, x.ob2, x.wd, x.eps, x.negStep, x.bc2
			for j := a; j < b; j++ {
				gj := gg[j]
				if wd != 0 {
					gj = fma32(pp[j], wd, gj)
				}
				mj := fma32(gj, ob1, m[j]*b1)
				vj := fma32(ob2*gj, gj, v[j]*b2)
				m[j], v[j] = mj, vj
				denom := float32(math.Sqrt(float64(vj)))/bc2 + eps
				pp[j] += negStep * mj / denom
			}
		})
	}
}

// State returns views of the step counts and moments.
func (o *Adam) State() *State {
	s := o.AdamW.State()
	s.Kind = "adam"
	return s
}

// LoadState copies s into the optimizer.
func (o *Adam) LoadState(s *State) error {
	if s.Kind != "adam" {
		return fmt.Errorf("optim: cannot load %q state into Adam", s.Kind)
	}
	c := *s
	c.Kind = "adamw"
	return o.AdamW.LoadState(&c)
}

// torchAdamArgs carries one parameter's Adam update to parallel.ForArgs.
type torchAdamArgs struct {
	p, g, m, v                              []float32
	b1, ob1, b2, ob2, wd, eps, negStep, bc2 float32
}
