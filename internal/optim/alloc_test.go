package optim

import (
	"testing"

	"github.com/vlbert/vlbert/internal/parallel"
)

// TestStepAllocatesNothing checks the steady state of a training step's optimizer
// part (norm, clip, update) with two threads and parameters large enough for the
// parallel loops.
func TestStepAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates in sync primitives")
	}
	prev := parallel.SetThreads(2)
	defer parallel.SetThreads(prev)
	const n = 1 << 18
	params := []Param{{Name: "w", Offset: 0, Size: n / 2}, {Name: "b", Offset: n / 2, Size: n / 2, Group: 1}}
	groups := []Group{{LR: 1e-3, InitialLR: 1e-3, WeightDecay: 0.01}, {LR: 1e-3, InitialLR: 1e-3}}
	p, g := make([]float32, n), make([]float32, n)
	for i := range g {
		g[i] = float32(i%7) * 1e-3
	}
	opts := map[string]Optimizer{
		"AdamW": NewAdamW(params, groups, n),
		"Adam":  NewAdam(params, groups, n),
		"SGD":   NewSGD(params, groups, n, 0.9),
	}
	for name, opt := range opts {
		step := func() {
			ScaleGrads(g, ClipCoef(GradNorm(g), 1e6))
			opt.Step(p, g, nil)
		}
		step()
		step()
		if got := testing.AllocsPerRun(5, step); got != 0 {
			t.Errorf("%s: a step allocates %v times, want 0", name, got)
		}
	}
}
