package visual

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkResNet101C4 times the full e2e visual path on one 600x1000 image with
// 10 RoIs (forward, then backward with stages 1-2 frozen). It is slow; run it
// with -run XXX -bench ResNet101C4 -benchtime 1x.
func BenchmarkResNet101C4(b *testing.B) {
	n := NewNetwork(ResNet101C4())
	rng := rand.New(rand.NewPCG(1, 1))
	randomizeParams(rng, n.Params)
	n.Params.AllocGrads()
	H, W := 600, 1000
	img := randSlice(rng, 3*H*W, 50)
	var rois []float32
	for r := 0; r < 10; r++ {
		x1, y1 := rng.Float32()*800, rng.Float32()*400
		rois = append(rois, 0, x1, y1, x1+50+rng.Float32()*150, y1+50+rng.Float32()*150)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		feats := n.Forward(img, 1, H, W, rois, 10, nil)
		b.StopTimer()
		g := randSlice(rng, len(feats), 1)
		b.StartTimer()
		n.Backward(g)
	}
}

// BenchmarkBackboneForward600x1000 times the backbone alone in inference mode.
func BenchmarkBackboneForward600x1000(b *testing.B) {
	n := NewNetwork(ResNet101C4())
	n.SetInference(true)
	rng := rand.New(rand.NewPCG(1, 1))
	randomizeParams(rng, n.Params)
	img := randSlice(rng, 3*600*1000, 50)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.Backbone(img, 1, 600, 1000)
	}
}
