package heads

import (
	"math"
	"testing"
)

// TestActs checks each hidden_act against the original's ACT2FN formulas (gelu
// with erf, relu, x·sigmoid(x)) and its derivative by central differences.
func TestActs(t *testing.T) {
	xs := []float32{-4, -1.3, -0.2, 0.05, 0.7, 2.5, 6}
	ref := map[Act]func(float64) float64{
		ActGELU:  func(x float64) float64 { return x * 0.5 * (1 + math.Erf(x/math.Sqrt2)) },
		ActReLU:  func(x float64) float64 { return math.Max(x, 0) },
		ActSwish: func(x float64) float64 { return x / (1 + math.Exp(-x)) },
	}
	for _, name := range []string{"gelu", "relu", "swish"} {
		a, err := ParseAct(name)
		if err != nil || a.String() != name {
			t.Fatalf("ParseAct(%q) = %v, %v", name, a, err)
		}
		out := make([]float32, len(xs))
		a.Forward(out, xs)
		dout := make([]float32, len(xs))
		for i := range dout {
			dout[i] = 1
		}
		din := make([]float32, len(xs))
		a.Backward(din, xs, out, dout)
		for i, x := range xs {
			if want := ref[a](float64(x)); math.Abs(float64(out[i])-want) > 1e-5 {
				t.Errorf("%s(%g) = %g, want %g", name, x, out[i], want)
			}
			const h = 1e-4
			fd := (ref[a](float64(x)+h) - ref[a](float64(x)-h)) / (2 * h)
			if math.Abs(float64(din[i])-fd) > 1e-4 {
				t.Errorf("%s'(%g) = %g, central difference %g", name, x, din[i], fd)
			}
		}
	}
	if _, err := ParseAct("tanh"); err == nil {
		t.Error("ParseAct accepted tanh (not in ACT2FN)")
	}
}
