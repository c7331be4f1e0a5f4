package heads

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vlbert/vlbert/internal/kernels"
)

// fdCheck compares the analytic gradient g of loss with respect to x against
// central differences.
func fdCheck(t *testing.T, name string, x, g []float32, loss func() float64) {
	t.Helper()
	for i := range x {
		orig := x[i]
		const eps = 1e-2
		x[i] = orig + eps
		lp := loss()
		x[i] = orig - eps
		lm := loss()
		x[i] = orig
		fd := (lp - lm) / (2 * eps)
		if d := math.Abs(fd - float64(g[i])); d > 2e-3+2e-2*math.Abs(fd) {
			t.Errorf("%s[%d]: analytic %g, central difference %g", name, i, g[i], fd)
		}
	}
}

// directFinalMLP is the 1fc/2fc forward of one row in float64 with the dropout
// masks of the kernel (keep[i] false = dropped), the nn.Sequential of the original.
func directFinalMLP(f *FinalMLP, row []float32, d0, d1 kernels.Dropout, n, r int) []float64 {
	H := f.Out.In
	if f.Hidden != nil {
		H = f.Hidden.In
	}
	masked := func(x []float64, d kernels.Dropout) []float64 {
		if d.P == 0 {
			return x
		}
		ones := make([]float32, n*len(x))
		for i := range ones {
			ones[i] = 1
		}
		kept := make([]float32, len(ones))
		kernels.DropoutForward(kept, ones, d)
		out := make([]float64, len(x))
		for i := range x {
			out[i] = x[i] * float64(kept[r*len(x)+i])
		}
		return out
	}
	x := make([]float64, H)
	for i := range x {
		x[i] = float64(row[i])
	}
	x = masked(x, d0)
	lin := func(l *Linear, x []float64) []float64 {
		y := make([]float64, l.Out)
		for o := range y {
			s := float64(l.B[o])
			for i := range x {
				s += float64(l.W[o*l.In+i]) * x[i]
			}
			y[o] = s
		}
		return y
	}
	if f.Hidden != nil {
		x = lin(f.Hidden, x)
		for i := range x {
			x[i] = math.Max(x[i], 0)
		}
		x = masked(x, d1)
	}
	return lin(&f.Out, x)
}

// TestFinalMLP checks CLASSIFIER_TYPE 1fc and 2fc (with and without dropout)
// against a direct float64 forward of the original's nn.Sequential, and every
// gradient by central differences (dropout masks fixed by their seed).
func TestFinalMLP(t *testing.T) {
	const n, H, CH, O = 3, 5, 7, 4
	for _, tc := range []struct {
		name  string
		twoFC bool
		p     float32
	}{{"1fc", false, 0}, {"1fc/dropout", false, 0.3}, {"2fc", true, 0}, {"2fc/dropout", true, 0.3}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			var f FinalMLP
			if tc.twoFC {
				hid := newLinear(rng, H, CH)
				f = FinalMLP{Hidden: &hid, Out: newLinear(rng, CH, O)}
			} else {
				f = FinalMLP{Out: newLinear(rng, H, O)}
			}
			h := randVec(rng, n*H, 1)
			target := randVec(rng, n*O, 1)
			drop := kernels.Dropout{P: tc.p, Seed: 99}
			var a FinalMLPActs
			loss := func() float64 { // 0.5·|logits - target|²
				f.Forward(&a, sliceArena{}, h, n, drop)
				var s float64
				for i, z := range a.Logits {
					s += 0.5 * float64(z-target[i]) * float64(z-target[i])
				}
				return s
			}
			loss()
			for r := 0; r < n; r++ {
				want := directFinalMLP(&f, h[r*H:(r+1)*H], drop, drop.Fork(1), n, r)
				for o, w := range want {
					if got := a.Logits[r*O+o]; math.Abs(float64(got)-w) > 1e-5 {
						t.Fatalf("logit[%d,%d] = %g, direct %g", r, o, got, w)
					}
				}
			}
			dlog := make([]float32, n*O)
			for i, z := range a.Logits {
				dlog[i] = z - target[i]
			}
			dh := make([]float32, n*H)
			f.Backward(&a, sliceArena{}, dh, dlog)
			fdCheck(t, "h", h, dh, loss)
			fdCheck(t, "out.W", f.Out.W, f.Out.GW, loss)
			fdCheck(t, "out.B", f.Out.B, f.Out.GB, loss)
			if f.Hidden != nil {
				fdCheck(t, "hidden.W", f.Hidden.W, f.Hidden.GW, loss)
				fdCheck(t, "hidden.B", f.Hidden.B, f.Hidden.GB, loss)
			}
		})
	}
}

// TestWeightedBCE checks VCR's CLASSIFIER_SIGMOID loss: the plain mean BCE at
// positive weight 1, the original's weighted and rescaled form otherwise, and its
// gradient by central differences.
func TestWeightedBCE(t *testing.T) {
	logits := []float32{0.3, -1.2, 2.0, 0.1, -0.4, 1.5, -2.5, 0.7}
	labels := []float32{1, 0, 0, 0, 0, 0, 1, 0}
	if got, want := WeightedBCEForward(logits, labels, 1), kernels.BCEWithLogitsForward(logits, labels, len(logits)); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("pw=1: %g, plain BCE %g", got, want)
	}
	const pw = 3
	var want float64
	for i, z := range logits {
		p := 1 / (1 + math.Exp(-float64(z)))
		l := -float64(labels[i])*math.Log(p) - (1-float64(labels[i]))*math.Log(1-p)
		if labels[i] == 1 {
			l *= pw
		}
		want += l / float64(len(logits))
	}
	want *= (pw + 1.0) / (2.0 * pw)
	if got := WeightedBCEForward(logits, labels, pw); math.Abs(float64(got)-want) > 1e-6 {
		t.Errorf("pw=3: %g, direct %g", got, want)
	}
	d := make([]float32, len(logits))
	WeightedBCEBackward(d, logits, labels, pw, 2)
	fdCheck(t, "logits", logits, d, func() float64 { return 2 * float64(WeightedBCEForward(logits, labels, pw)) })
}
