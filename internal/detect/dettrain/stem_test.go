package dettrain

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTrunkGradientToConv1 checks trunkBackward all the way down (res4 …
// res2 input gradients, pool1's ceil-mode max/argmax, ReLU, BatchNorm,
// conv1) with a random projection of the res4 map as the loss. Max pooling
// has near-ties, so the picture is smooth and the step small (1e-4).
func TestTrunkGradientToConv1(t *testing.T) {
	cfg := tinyConfig()
	n, err := NewNet(cfg, InitWeights(cfg, 1, 0.3, 0.5), nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.stem.weight.Data { // unit-scale weights for this unit-scale picture
		n.stem.weight.Data[i] *= 64
	}
	H, W := 64, 80
	rng := rand.New(rand.NewPCG(1, 2))
	img := make([]float32, 3*H*W)
	// A smooth picture (few near-ties in pool1) rather than noise.
	for c := 0; c < 3; c++ {
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				img[(c*H+y)*W+x] = float32(math.Sin(float64(x*(c+1))*0.21+float64(y)*0.13) + math.Cos(float64(y*(c+2))*0.17))
			}
		}
	}
	feat, _, _ := n.trunkForward(img, H, W)
	r := make([]float32, len(feat))
	for i := range r {
		r[i] = float32(rng.NormFloat64())
	}
	n.ZeroGrad()
	n.trunkBackward(append([]float32(nil), r...))
	s := &n.stem
	var analytic float64
	dir := make([]float32, len(s.weight.Data))
	for i := range dir {
		dir[i] = float32(rng.NormFloat64())
		analytic += float64(dir[i] * s.weight.Grad[i])
	}
	orig := append([]float32(nil), s.weight.Data...)
	loss := func(e float32) float64 {
		for i := range orig {
			s.weight.Data[i] = orig[i] + e*dir[i]
		}
		f, _, _ := n.trunkForward(img, H, W)
		var l float64
		for i := range f {
			l += float64(f[i] * r[i])
		}
		return l
	}
	numeric := (loss(1e-4) - loss(-1e-4)) / 2e-4
	if math.Abs(numeric-analytic) > 0.02*math.Abs(numeric) {
		t.Errorf("conv1: analytic %.6g, numeric %.6g", analytic, numeric)
	}
}
