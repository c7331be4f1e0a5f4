package heads

import "github.com/vlbert/vlbert/internal/kernels"

// Grounding is RefCOCO's final_mlp = [MVRCHeadTransform (dense, GELU), Dropout,
// Linear(H→1)]: one score per object state.
type Grounding struct {
	Transform Transform // LN nil
	Cls       Linear    // Out == 1
}

// GroundingActs are the saved activations of one Grounding forward.
type GroundingActs struct {
	t       TransformActs
	dropped []float32
	drop    kernels.Dropout
	Logits  []float32 // [n]
	n       int
}

// Forward computes Logits [n] for n object states h [n*H].
func (g *Grounding) Forward(a *GroundingActs, ar Arena, h []float32, n int, drop kernels.Dropout) {
	H := g.Transform.Dense.Out
	a.n, a.drop = n, drop
	g.Transform.Forward(&a.t, ar, h, n)
	a.dropped = a.t.Out()
	if drop.P > 0 {
		a.dropped = ar.Alloc(n * H)
		kernels.DropoutForward(a.dropped, a.t.Out(), drop)
	}
	a.Logits = ar.Alloc(n)
	g.Cls.Forward(a.Logits, a.dropped, n)
}

// Backward overwrites dh [n*H] from dlogits [n].
func (g *Grounding) Backward(a *GroundingActs, ar Arena, dh, dlogits []float32) {
	H, n := g.Transform.Dense.Out, a.n
	ddrop := ar.Alloc(n * H)
	g.Cls.Backward(ddrop, dlogits, a.dropped, n)
	dt := ddrop
	if a.drop.P > 0 {
		dt = ar.Alloc(n * H)
		kernels.DropoutBackward(dt, ddrop, a.drop)
	}
	g.Transform.Backward(&a.t, ar, dh, dt)
}
