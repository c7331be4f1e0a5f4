package kernels

import (
	"math"
	"slices"
	"testing"
)

func TestTanh(t *testing.T) {
	r := newRand(100)
	x := randn(r, 300, 2)
	g := randn(r, len(x), 1)
	x64 := to64(x)
	tanh64 := func() []float64 {
		y := make([]float64, len(x64))
		for i, v := range x64 {
			y[i] = math.Tanh(v)
		}
		return y
	}
	out := nan32(len(x))
	TanhForward(out, x)
	checkClose(t, "tanh", out, tanh64(), 1e-7, 1e-7)
	d := nan32(len(x))
	TanhBackward(d, out, g)
	checkClose(t, "dinp", d, fdGrad(func() float64 { return dot64(g, tanh64()) }, x64, 1e-5), 1e-5, 1e-5)
	mustPanic(t, "dout has 3", func() { TanhBackward(d, out, g[:3]) })
	big := randn(r, 100000, 1)
	checkThreadInvariant(t, "tanh", func() [][]float32 {
		o, dd := make([]float32, len(big)), make([]float32, len(big))
		TanhForward(o, big)
		TanhBackward(dd, o, big)
		return [][]float32{o, dd}
	})
}

// TestReLUNaN fixes the one NaN rule of every ReLU in vlbert (encoder heads, the
// obj_downsample path, the ResNet): NaN passes through the forward, as torch.relu
// does, so a diverging CNN shows up as a NaN loss that training stops on instead
// of a silent 0; its gradient is 0 (NaN > 0 is false), as ReLU's backward in
// PyTorch (threshold_backward) gives for a non-positive output.
func TestReLUNaN(t *testing.T) {
	nan := float32(math.NaN())
	x := []float32{nan, -1, 2, float32(math.Inf(-1)), float32(math.Inf(1))}
	out := make([]float32, len(x))
	ReLUForward(out, x)
	if !math.IsNaN(float64(out[0])) || out[1] != 0 || out[2] != 2 || out[3] != 0 || !math.IsInf(float64(out[4]), 1) {
		t.Errorf("ReLUForward(%v) = %v, want [NaN 0 2 0 +Inf]", x, out)
	}
	d := make([]float32, len(x))
	ReLUBackward(d, out, []float32{5, 5, 5, 5, 5})
	if want := []float32{0, 0, 5, 0, 5}; !slices.Equal(d, want) {
		t.Errorf("ReLUBackward = %v, want %v", d, want)
	}
}

func TestReLU(t *testing.T) {
	r := newRand(101)
	x := randn(r, 300, 1)
	x[0] = 0
	g := randn(r, len(x), 1)
	x64 := to64(x)
	relu64 := func() []float64 {
		y := make([]float64, len(x64))
		for i, v := range x64 {
			y[i] = max(v, 0)
		}
		return y
	}
	out := nan32(len(x))
	ReLUForward(out, x)
	checkClose(t, "relu", out, relu64(), 0, 0)
	d := nan32(len(x))
	ReLUBackward(d, out, g)
	// Central differences are exact away from 0; at 0 PyTorch's subgradient is 0.
	want := fdGrad(func() float64 { return dot64(g, relu64()) }, x64, 1e-6)
	want[0] = 0
	checkClose(t, "dinp", d, want, 1e-6, 1e-6)
	mustPanic(t, "out has 2", func() { ReLUForward(out[:2], x) })
	big := randn(r, 100000, 1)
	checkThreadInvariant(t, "relu", func() [][]float32 {
		o, dd := make([]float32, len(big)), make([]float32, len(big))
		ReLUForward(o, big)
		ReLUBackward(dd, o, big)
		return [][]float32{o, dd}
	})
}
