package synth

import (
	"image"
	"math"
	"math/rand/v2"
	"sync"
)

// FeatureDim is the region feature size of the bottom-up-attention features that
// the precomputed-feature models read.
const FeatureDim = 2048

// cropGrid is the side of the pixel grid a box is resampled to before projection.
const cropGrid = 8

// extractor is a fixed random-feature "backbone": ReLU(W·pixels + b). It is the same
// for every world (a constant seed), as a pretrained CNN would be.
var extractor = sync.OnceValue(func() []float32 {
	in := cropGrid * cropGrid * 3
	rng := rand.New(rand.NewPCG(2020, 4373674))
	w := make([]float32, FeatureDim*(in+1)) // row r: in weights then the bias
	scale := float32(2 / math.Sqrt(float64(in)))
	for r := 0; r < FeatureDim; r++ {
		row := w[r*(in+1) : (r+1)*(in+1)]
		for i := 0; i < in; i++ {
			row[i] = float32(rng.NormFloat64()) * scale
		}
		row[in] = float32(rng.NormFloat64()) * 0.1
	}
	return w
})

// RegionFeature computes the 2048-d feature of box (x1, y1, x2, y2) of img: the box
// is area-averaged onto an 8x8 grid, centred, and projected.
func RegionFeature(img *image.RGBA, box [4]float32) []float32 {
	in := cropGrid * cropGrid * 3
	x := make([]float32, in)
	b := img.Bounds()
	x1, y1 := max(int(box[0]), b.Min.X), max(int(box[1]), b.Min.Y)
	x2, y2 := min(int(box[2]), b.Max.X-1), min(int(box[3]), b.Max.Y-1)
	if x2 < x1 || y2 < y1 {
		x2, y2 = x1, y1
	}
	w, h := x2-x1+1, y2-y1+1
	for gy := 0; gy < cropGrid; gy++ {
		py1, py2 := y1+gy*h/cropGrid, y1+max((gy+1)*h/cropGrid, gy*h/cropGrid+1)
		for gx := 0; gx < cropGrid; gx++ {
			px1, px2 := x1+gx*w/cropGrid, x1+max((gx+1)*w/cropGrid, gx*w/cropGrid+1)
			var sum [3]float32
			n := 0
			for py := py1; py < min(py2, y2+1); py++ {
				for px := px1; px < min(px2, x2+1); px++ {
					c := img.RGBAAt(px, py)
					sum[0] += float32(c.R)
					sum[1] += float32(c.G)
					sum[2] += float32(c.B)
					n++
				}
			}
			for ch := 0; ch < 3; ch++ {
				if n > 0 {
					x[(gy*cropGrid+gx)*3+ch] = sum[ch]/float32(n)/255 - 0.5
				}
			}
		}
	}
	wts := extractor()
	out := make([]float32, FeatureDim)
	for r := range out {
		row := wts[r*(in+1) : (r+1)*(in+1)]
		acc := row[in]
		for i, v := range x {
			acc += row[i] * v
		}
		out[r] = max(acc, 0)
	}
	return out
}

// ClassScores is a detector's soft class distribution for o: confident in the true
// class, with seeded noise so that the MVRC targets are soft.
func ClassScores(rng *rand.Rand, o Object) []float32 {
	logits := make([]float64, NumClasses)
	for c := range logits {
		logits[c] = rng.NormFloat64() * 0.5
	}
	logits[o.Class()] += 4
	maxv := logits[0]
	for _, v := range logits {
		maxv = math.Max(maxv, v)
	}
	var sum float64
	for c, v := range logits {
		logits[c] = math.Exp(v - maxv)
		sum += logits[c]
	}
	out := make([]float32, NumClasses)
	for c, v := range logits {
		out[c] = float32(v / sum)
	}
	return out
}
