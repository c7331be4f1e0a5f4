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

// BenchmarkRoIAlign100 pools 100 RoIs from a 1024-channel 38x63 map (a
// 600x1000 image), forward and backward.
func BenchmarkRoIAlign100(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	C, H, W, R := 1024, 38, 63, 100
	feat := randSlice(rng, C*H*W, 1)
	var rois []float32
	for r := 0; r < R; r++ {
		x1, y1 := rng.Float32()*800, rng.Float32()*400
		rois = append(rois, 0, x1, y1, x1+rng.Float32()*200, y1+rng.Float32()*200)
	}
	out := make([]float32, R*C*196)
	dfeat := make([]float32, len(feat))
	b.Run("forward", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			RoIAlignForward(out, feat, rois, DefaultRoIAlign, 1, C, H, W, R)
		}
	})
	b.Run("backward", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			RoIAlignBackward(dfeat, out, rois, DefaultRoIAlign, 1, C, H, W, R)
		}
	})
}

// BenchmarkConvHead times one res5 3x3 dilated conv (512->512) over 10 RoIs.
func BenchmarkConvHead(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	cv := Conv2D{C: 512, K: 512, KH: 3, KW: 3, Stride: 1, Pad: 2, Dilation: 2}
	N := 10
	x := randSlice(rng, N*512*196, 1)
	w := randSlice(rng, cv.WeightSize(), 0.02)
	out := make([]float32, N*512*196)
	col := make([]float32, cv.ColSize(14, 14))
	b.SetBytes(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Conv2DForward(out, x, w, nil, col, cv, N, 14, 14)
	}
	b.ReportMetric(2*float64(cv.WeightSize()*196*N)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
