package heads

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/kernels"
	"github.com/vlbert/vlbert/internal/npy"
)

// ref reads testdata/ref_<name>.npy (written by testdata/gen_heads_ref.py).
func ref(t *testing.T, name string) []float32 {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "ref_"+name+".npy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := npy.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return a.F32
}

func near(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %g, PyTorch %g", what, i, got[i], want[i])
		}
	}
}

// TestFinalMLP2fcTorch compares the 2fc final_mlp (eval mode) and its gradients with
// PyTorch's nn.Sequential(Dropout, Linear, ReLU, Dropout, Linear).
func TestFinalMLP2fcTorch(t *testing.T) {
	const n, H, CH, O = 3, 5, 7, 4
	hid := Linear{W: ref(t, "w1"), B: ref(t, "b1"), GW: make([]float32, CH*H), GB: make([]float32, CH), In: H, Out: CH}
	f := FinalMLP{Hidden: &hid, Out: Linear{W: ref(t, "w2"), B: ref(t, "b2"), GW: make([]float32, O*CH), GB: make([]float32, O), In: CH, Out: O}}
	var a FinalMLPActs
	f.Forward(&a, sliceArena{}, ref(t, "h"), n, kernels.Dropout{})
	near(t, "logits", a.Logits, ref(t, "out"), 1e-5)
	dh := make([]float32, n*H)
	f.Backward(&a, sliceArena{}, dh, ref(t, "g"))
	near(t, "dh", dh, ref(t, "dh"), 1e-5)
	near(t, "dW1", hid.GW, ref(t, "dw1"), 1e-5)
	near(t, "db1", hid.GB, ref(t, "db1"), 1e-5)
	near(t, "dW2", f.Out.GW, ref(t, "dw2"), 1e-5)
	near(t, "db2", f.Out.GB, ref(t, "db2"), 1e-5)
}

// TestWeightedBCETorch compares VCR's positive-weighted sigmoid loss with the
// original's expression in PyTorch (weight=..., rescaled by (pw+1)/(2pw)).
func TestWeightedBCETorch(t *testing.T) {
	logits := ref(t, "bce_logits")
	labels := []float32{0, 0, 1, 0, 1, 0, 0, 0} // answer_label [2, 0]
	near(t, "loss", []float32{WeightedBCEForward(logits, labels, 3)}, ref(t, "bce_loss"), 1e-6)
	d := make([]float32, len(logits))
	WeightedBCEBackward(d, logits, labels, 3, 1)
	near(t, "dlogits", d, ref(t, "bce_grad"), 1e-6)
}

// TestSwishTorch compares hidden_act swish with x·torch.sigmoid(x) and its autograd.
func TestSwishTorch(t *testing.T) {
	x := ref(t, "swish_x")
	y, dy := make([]float32, len(x)), make([]float32, len(x))
	ones := make([]float32, len(x))
	for i := range ones {
		ones[i] = 1
	}
	ActSwish.Forward(y, x)
	ActSwish.Backward(dy, x, y, ones)
	near(t, "swish", y, ref(t, "swish_y"), 1e-6)
	near(t, "swish'", dy, ref(t, "swish_dy"), 1e-6)
}
