package dettrain

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/detect"
)

// TestRoIPoolMatchesForward: the training RoI pooling computes exactly the
// inference network's (detect.RoIPool) values.
func TestRoIPoolMatchesForward(t *testing.T) {
	C, H, W, P := 3, 9, 11, 4
	rng := rand.New(rand.NewPCG(3, 4))
	feat := make([]float32, C*H*W)
	for i := range feat {
		feat[i] = float32(rng.NormFloat64())
	}
	rois := []detect.Box{{0, 0, 170, 140}, {20.4, 30.6, 90, 100}, {150, 100, 175, 143}, {5, 5, 6, 6}}
	want := make([]float32, len(rois)*C*P*P)
	detect.RoIPool(want, feat, C, H, W, rois, P, 1.0/16, false)
	got := make([]float32, len(want))
	arg := make([]int32, len(want))
	detect.RoIPoolArgmax(got, arg, feat, C, H, W, rois, P, 1.0/16)
	if !slices.Equal(got, want) {
		t.Fatalf("RoI pooling differs from detect.RoIPool:\n got %v\nwant %v", got[:8], want[:8])
	}
	// Backward: the gradient of Σ out·g is g routed to each argmax.
	g := make([]float32, len(got))
	for i := range g {
		g[i] = float32(i%7) - 3
	}
	dfeat := make([]float32, len(feat))
	roiPoolBackward(dfeat, g, arg, C, H, W, len(rois), P)
	const eps = 1e-2
	for _, i := range []int{0, 13, 40, 77, 98, 150, 200, 296} {
		orig := feat[i]
		sum := func(v float32) float64 {
			feat[i] = v
			detect.RoIPoolArgmax(got, arg, feat, C, H, W, rois, P, 1.0/16)
			var s float64
			for k := range got {
				s += float64(got[k] * g[k])
			}
			return s
		}
		num := (sum(orig+eps) - sum(orig-eps)) / (2 * eps)
		feat[i] = orig
		if d := num - float64(dfeat[i]); d > 1e-2 || d < -1e-2 {
			t.Errorf("dfeat[%d] = %g, numeric %g", i, dfeat[i], num)
		}
	}
}

// TestSoftmaxLossMultiLabel: an instance with labels {1, 2} (and ignored
// slots) costs the mean of −log p over them; instances without a valid
// label do not count in the normalisation.
func TestSoftmaxLossMultiLabel(t *testing.T) {
	x := []float32{0, 0, 0, 0, 1, 2, 3, 4}
	labels := []int{1, 2, -1, -1, -1, -1}
	dx := make([]float32, len(x))
	got := softmaxLoss(dx, x, labels, 2, 4, 3, 0.5)
	want := float32(0.5 * 1.3862944) // −log(1/4), one valid instance
	if d := got - want; d > 1e-5 || d < -1e-5 {
		t.Fatalf("loss %g, want %g", got, want)
	}
	if dx[4] != 0 || dx[0] != 0.125 || dx[1] != 0.5*(0.25-0.5) {
		t.Fatalf("gradient %v", dx)
	}
}
