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

// BenchmarkConvShapes times every distinct convolution of the ResNet-101 C4
// backbone on a 600x1000 image and of the res5 head over 36 RoIs (fused conv +
// frozen BN (+ residual) + ReLU, as the network runs them), reporting GFLOP/s
// per shape. Run with -run XXX -bench ConvShapes -benchtime 3x.
func BenchmarkConvShapes(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	shapes := []struct {
		name    string
		cv      Conv2D
		N, H, W int
		res     bool
	}{
		{"stem7x7s2", Conv2D{C: 3, K: 64, KH: 7, KW: 7, Stride: 2, Pad: 3, Dilation: 1}, 1, 600, 1000, false},
		{"l1.1x1.256-64", Conv2D{C: 256, K: 64, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 1, 150, 250, false},
		{"l1.3x3.64", Conv2D{C: 64, K: 64, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}, 1, 150, 250, false},
		{"l1.1x1.64-256res", Conv2D{C: 64, K: 256, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 1, 150, 250, true},
		{"l2.1x1s2.256-128", Conv2D{C: 256, K: 128, KH: 1, KW: 1, Stride: 2, Dilation: 1}, 1, 150, 250, false},
		{"l2.3x3.128", Conv2D{C: 128, K: 128, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}, 1, 75, 125, false},
		{"l2.1x1.128-512res", Conv2D{C: 128, K: 512, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 1, 75, 125, true},
		{"l3.1x1.1024-256", Conv2D{C: 1024, K: 256, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 1, 38, 63, false},
		{"l3.3x3.256", Conv2D{C: 256, K: 256, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}, 1, 38, 63, false},
		{"l3.1x1.256-1024res", Conv2D{C: 256, K: 1024, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 1, 38, 63, true},
		{"head.1x1.2048-512", Conv2D{C: 2048, K: 512, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 36, 14, 14, false},
		{"head.3x3dil2.512", Conv2D{C: 512, K: 512, KH: 3, KW: 3, Stride: 1, Pad: 2, Dilation: 2}, 36, 14, 14, false},
		{"head.1x1.512-2048res", Conv2D{C: 512, K: 2048, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 36, 14, 14, true},
	}
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			OH, OW := s.cv.OutSize(s.H, s.W)
			x := randSlice(rng, s.N*s.cv.C*s.H*s.W, 1)
			w := randSlice(rng, s.cv.WeightSize(), 0.05)
			scale, shift := randSlice(rng, s.cv.K, 1), randSlice(rng, s.cv.K, 1)
			out := make([]float32, s.N*s.cv.K*OH*OW)
			var res []float32
			if s.res {
				res = randSlice(rng, len(out), 1)
			}
			var ws Workspace
			convFused(&ws, out, x, w, scale, shift, res, true, s.cv, s.N, s.H, s.W)
			b.ResetTimer()
			c0 := processCPUSeconds()
			for i := 0; i < b.N; i++ {
				convFused(&ws, out, x, w, scale, shift, res, true, s.cv, s.N, s.H, s.W)
			}
			flops := 2 * float64(s.cv.WeightSize()) * float64(s.N*OH*OW) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(flops/(processCPUSeconds()-c0)/1e9, "GFLOP/cpu-s")
		})
	}
}

// BenchmarkConvBackwardShapes times the backward (weight and input gradients)
// of the trainable stages' convolutions at 600x1000 and of the head's over 10
// RoIs, reporting GFLOP per CPU second (2 products per convolution).
func BenchmarkConvBackwardShapes(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 5))
	shapes := []struct {
		name    string
		cv      Conv2D
		N, H, W int
	}{
		{"l2.3x3.128", Conv2D{C: 128, K: 128, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}, 1, 75, 125},
		{"l3.1x1.1024-256", Conv2D{C: 1024, K: 256, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 1, 38, 63},
		{"l3.3x3.256", Conv2D{C: 256, K: 256, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}, 1, 38, 63},
		{"l3.1x1.256-1024", Conv2D{C: 256, K: 1024, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 1, 38, 63},
		{"head.3x3dil2.512", Conv2D{C: 512, K: 512, KH: 3, KW: 3, Stride: 1, Pad: 2, Dilation: 2}, 10, 14, 14},
		{"head.1x1.512-2048", Conv2D{C: 512, K: 2048, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 10, 14, 14},
	}
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			OH, OW := s.cv.OutSize(s.H, s.W)
			x := randSlice(rng, s.N*s.cv.C*s.H*s.W, 1)
			w := randSlice(rng, s.cv.WeightSize(), 0.05)
			dy := randSlice(rng, s.N*s.cv.K*OH*OW, 1)
			dx, dw := make([]float32, len(x)), make([]float32, len(w))
			var ws Workspace
			convBackward(&ws, dx, dw, dy, x, w, s.cv, s.N, s.H, s.W)
			b.ResetTimer()
			c0 := processCPUSeconds()
			for i := 0; i < b.N; i++ {
				convBackward(&ws, dx, dw, dy, x, w, s.cv, s.N, s.H, s.W)
			}
			flops := 4 * float64(s.cv.WeightSize()) * float64(s.N*OH*OW) * float64(b.N)
			b.ReportMetric(flops/(processCPUSeconds()-c0)/1e9, "GFLOP/cpu-s")
		})
	}
}
