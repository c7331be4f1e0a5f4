package optim

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/parallel"
)

// SGD is torch.optim.SGD with momentum, dampening 0 and nesterov off, as the
// original builds it (TRAIN.OPTIMIZER: SGD). Per tensor:
//
//	d = g + wd·p                      (L2 decay enters the gradient)
//	buf = d on the first step, else buf = μ·buf + d
//	p = p − lr·buf                    (p − lr·d when μ = 0)
type SGD struct {
	Params   []Param
	Momentum float64

	groups []Group
	steps  []int // > 0 once the momentum buffer exists
	buf    []float32
}

// NewSGD returns an SGD over an arena of n elements.
func NewSGD(params []Param, groups []Group, n int, momentum float64) *SGD {
	checkLayout(params, len(groups), n)
	return &SGD{Params: params, Momentum: momentum, groups: append([]Group(nil), groups...),
		steps: make([]int, len(params)), buf: make([]float32, n)}
}

// Groups returns the parameter groups (schedules write LR).
func (o *SGD) Groups() []Group { return o.groups }

// Step applies one update in place; see the type comment.
func (o *SGD) Step(params, grads []float32, skip []bool) {
	checkStepArgs(params, grads, skip, len(o.buf), len(o.Params))
	mu := float32(o.Momentum)
	for i, p := range o.Params {
		if skip != nil && skip[i] {
			continue
		}
		g := o.groups[p.Group]
		wd, negLR := float32(g.WeightDecay), float32(-g.LR)
		first := o.steps[i] == 0
		o.steps[i]++
		lo, hi := p.Offset, p.Offset+p.Size
		pp, gg, bb := params[lo:hi], grads[lo:hi], o.buf[lo:hi]
		args := sgdArgs{pp, gg, bb, wd, negLR, mu, first}
		parallel.ForArgs(p.Size, 1<<15, args, func(x *sgdArgs, a, b int) {
			pp, gg, bb := x.p, x.g, x.buf
			wd, negLR, mu, first := x.wd, x.negLR, x.mu, x.first
			for j := a; j < b; j++ {
				d := gg[j]
				if wd != 0 {
					d = fma32(pp[j], wd, d) // d_p.add(p, alpha=wd)
				}
				if mu != 0 {
					if first {
						bb[j] = d
					} else {
						bb[j] = mu*bb[j] + d // buf.mul_(μ).add_(d_p)
					}
					d = bb[j]
				}
				pp[j] = fma32(d, negLR, pp[j]) // p.add_(d_p, alpha=−lr)
			}
		})
	}
}

// State returns views of the momentum buffers.
func (o *SGD) State() *State {
	return &State{Kind: "sgd", Steps: o.steps, MomentumBuf: o.buf, Groups: o.groups}
}

// LoadState copies s into the optimizer.
func (o *SGD) LoadState(s *State) error {
	if s.Kind != "sgd" {
		return fmt.Errorf("optim: cannot load %q state into SGD", s.Kind)
	}
	if len(s.Steps) != len(o.steps) || len(s.MomentumBuf) != len(o.buf) {
		return fmt.Errorf("optim: SGD state has %d params / %d buffer, want %d / %d", len(s.Steps), len(s.MomentumBuf), len(o.steps), len(o.buf))
	}
	if s.Groups != nil {
		if len(s.Groups) != len(o.groups) {
			return fmt.Errorf("optim: SGD state has %d parameter groups, want %d", len(s.Groups), len(o.groups))
		}
		copy(o.groups, s.Groups)
	}
	copy(o.steps, s.Steps)
	copy(o.buf, s.MomentumBuf)
	return nil
}

// sgdArgs carries one parameter's SGD update to parallel.ForArgs.
type sgdArgs struct {
	p, g, buf     []float32
	wd, negLR, mu float32
	first         bool
}
