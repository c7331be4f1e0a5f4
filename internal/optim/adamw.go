package optim

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// AdamW is the original common/nlp/bert/optimization.AdamW (HuggingFace
// style). Per tensor, with t its step count and g its gradient:
//
//	m = β1·m + (1−β1)·g
//	v = β2·v + (1−β2)·g²
//	p = p − lr·sqrt(1−β2^t)/(1−β1^t) · m/(sqrt(v)+eps)   (bias terms only if CorrectBias)
//	p = p − lr·wd·p                                        (decoupled decay, after the update, if wd > 0)
//
// eps is added to sqrt(v) before the bias correction, unlike torch.optim.Adam.
// The decay hits every stepped tensor (biases, LayerNorm, embeddings), as in
// the original (common/nlp/bert/optimization.py, AdamW, given every parameter by */function/train.py).
//
// Arithmetic is float32 with the scalars rounded to float32 and rounded in
// the order of PyTorch's vectorized CPU kernels: add_(alpha, x) is a fused
// multiply-add, addcmul_ is contracted to one, addcdiv_ is p + (value·m)/d.
// With that order the golden steps (vqa_step2, pt_step1) are reproduced bit
// for bit; a plain a+b·c order differs by an ulp in ~0.1% of elements.
type AdamW struct {
	Params      []Param
	Beta1       float64
	Beta2       float64
	Eps         float64
	CorrectBias bool

	groups   []Group
	steps    []int
	expAvg   []float32
	expAvgSq []float32
}

// NewAdamW returns an AdamW over an arena of n elements with the original's
// hyperparameters (β = 0.9, 0.999, eps 1e-6, bias correction on); change
// the fields to differ. The moments start at zero.
func NewAdamW(params []Param, groups []Group, n int) *AdamW {
	checkLayout(params, len(groups), n)
	return &AdamW{
		Params: params, Beta1: 0.9, Beta2: 0.999, Eps: 1e-6, CorrectBias: true,
		groups:   append([]Group(nil), groups...),
		steps:    make([]int, len(params)),
		expAvg:   make([]float32, n),
		expAvgSq: make([]float32, n),
	}
}

// Groups returns the parameter groups (schedules write LR).
func (o *AdamW) Groups() []Group { return o.groups }

// Step applies one update; see the type comment. params is updated in place.
func (o *AdamW) Step(params, grads []float32, skip []bool) {
	checkStepArgs(params, grads, skip, len(o.expAvg), len(o.Params))
	for i, p := range o.Params {
		if skip != nil && skip[i] {
			continue
		}
		o.steps[i]++
		g := o.groups[p.Group]
		stepSize := g.LR
		if o.CorrectBias {
			t := float64(o.steps[i])
			bc1 := 1 - math.Pow(o.Beta1, t)
			bc2 := 1 - math.Pow(o.Beta2, t)
			stepSize = stepSize * math.Sqrt(bc2) / bc1
		}
		k := adamKernel{
			b1: float32(o.Beta1), ob1: float32(1 - o.Beta1),
			b2: float32(o.Beta2), ob2: float32(1 - o.Beta2),
			eps: float32(o.Eps), negStep: float32(-stepSize),
			decay: g.WeightDecay > 0, negDecay: float32(-g.LR * g.WeightDecay),
		}
		lo, hi := p.Offset, p.Offset+p.Size
		pp, gg, m, v := params[lo:hi], grads[lo:hi], o.expAvg[lo:hi], o.expAvgSq[lo:hi]
		parallel.ForArgs(p.Size, 1<<15, adamArgs{k, pp, gg, m, v}, func(a *adamArgs, lo, hi int) {
			a.k.run(a.p[lo:hi], a.g[lo:hi], a.m[lo:hi], a.v[lo:hi])
		})
	}
}

type adamKernel struct {
	b1, ob1, b2, ob2, eps, negStep float32
	decay                          bool
	negDecay                       float32
}

func (k *adamKernel) run(p, g, m, v []float32) {
	if useAVX2 {
		k.runAVX2(p, g, m, v)
		return
	}
	k.runGo(p, g, m, v)
}

// runAVX2 runs adamwAVX2 on whole vectors and on a padded copy of the last len%8
// elements (the same arithmetic for every element, wherever a chunk ends).
func (k *adamKernel) runAVX2(p, g, m, v []float32) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	c := [7]float32{k.b1, k.ob1, k.b2, k.ob2, k.eps, k.negStep, k.negDecay}
	decay := 0
	if k.decay {
		decay = 1
	}
	n8 := len(p) &^ 7
	if n8 > 0 {
		adamwAVX2(&p[0], &g[0], &m[0], &v[0], n8, &c, decay)
	}
	if r := len(p) - n8; r > 0 {
		var bp, bg, bm, bv [8]float32
		copy(bp[:], p[n8:])
		copy(bg[:], g[n8:])
		copy(bm[:], m[n8:])
		copy(bv[:], v[n8:])
		adamwAVX2(&bp[0], &bg[0], &bm[0], &bv[0], 8, &c, decay)
		copy(p[n8:], bp[:r])
		copy(m[n8:], bm[:r])
		copy(v[n8:], bv[:r])
	}
}

// runGo is the portable version; bit-identical to runAVX2.
func (k *adamKernel) runGo(p, g, m, v []float32) {
	b1, ob1, b2, ob2, eps, negStep, decay, negDecay := k.b1, k.ob1, k.b2, k.ob2, k.eps, k.negStep, k.decay, k.negDecay
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for j := range p {
		gj := g[j]
		mj := fma32(gj, ob1, m[j]*b1)    // exp_avg.mul_(β1).add_(1−β1, g)
		vj := fma32(ob2*gj, gj, v[j]*b2) // exp_avg_sq.mul_(β2).addcmul_(1−β2, g, g)
		m[j], v[j] = mj, vj
		denom := float32(math.Sqrt(float64(vj))) + eps
		pj := p[j] + negStep*mj/denom // addcdiv_: p + (value·m)/denom
		if decay {
			pj = fma32(pj, negDecay, pj) // p.add_(−lr·wd, p)
		}
		p[j] = pj
	}
}

// State returns views of the step counts and moments.
func (o *AdamW) State() *State {
	return &State{Kind: "adamw", Steps: o.steps, ExpAvg: o.expAvg, ExpAvgSq: o.expAvgSq, Groups: o.groups}
}

// LoadState copies s into the optimizer.
func (o *AdamW) LoadState(s *State) error {
	if s.Kind != "adamw" {
		return fmt.Errorf("optim: cannot load %q state into AdamW", s.Kind)
	}
	if len(s.Steps) != len(o.steps) || len(s.ExpAvg) != len(o.expAvg) || len(s.ExpAvgSq) != len(o.expAvgSq) {
		return fmt.Errorf("optim: AdamW state has %d params / %d+%d moments, want %d / %d",
			len(s.Steps), len(s.ExpAvg), len(s.ExpAvgSq), len(o.steps), len(o.expAvg))
	}
	if s.Groups != nil {
		if len(s.Groups) != len(o.groups) {
			return fmt.Errorf("optim: AdamW state has %d parameter groups, want %d", len(s.Groups), len(o.groups))
		}
		copy(o.groups, s.Groups)
	}
	copy(o.steps, s.Steps)
	copy(o.expAvg, s.ExpAvg)
	copy(o.expAvgSq, s.ExpAvgSq)
	return nil
}

// SetAdamState sets the state of Param i, e.g. from a PyTorch checkpoint's
// optimizer['state'][k] = {step, exp_avg, exp_avg_sq}.
func (o *AdamW) SetAdamState(i, step int, expAvg, expAvgSq []float32) error {
	if i < 0 || i >= len(o.Params) {
		return fmt.Errorf("optim: parameter index %d of %d", i, len(o.Params))
	}
	p := o.Params[i]
	if len(expAvg) != p.Size || len(expAvgSq) != p.Size {
		return fmt.Errorf("optim: state of %s has %d/%d elements, want %d", p.Name, len(expAvg), len(expAvgSq), p.Size)
	}
	if step < 0 {
		return fmt.Errorf("optim: state of %s has step %d", p.Name, step)
	}
	o.steps[i] = step
	copy(o.expAvg[p.Offset:p.Offset+p.Size], expAvg)
	copy(o.expAvgSq[p.Offset:p.Offset+p.Size], expAvgSq)
	return nil
}

// fma32 is a·b+c with one rounding to float32, as a float32 fused multiply-add
// (VFMADD231PS) rounds. The product is exact in float64; the float64 sum s is
// rounded to odd (when inexact, the neighbour of s with an odd last bit on the
// side of the exact sum), so that the final rounding to float32 is correct even
// where plain double rounding would hit a false halfway case.
func fma32(a, b, c float32) float32 {
	p, c64 := float64(a)*float64(b), float64(c)
	s := p + c64
	bb := s - p
	e := (p - (s - bb)) + (c64 - bb) // exact s - (p + c) error (TwoSum); NaN for Inf/NaN s
	if e != 0 && e == e && math.Float64bits(s)&1 == 0 {
		if e > 0 {
			s = math.Nextafter(s, math.Inf(1))
		} else {
			s = math.Nextafter(s, math.Inf(-1))
		}
	}
	return float32(s)
}

// adamArgs carries one parameter's update to parallel.ForArgs (no closure, so the
// step allocates nothing).
type adamArgs struct {
	k          adamKernel
	p, g, m, v []float32
}
