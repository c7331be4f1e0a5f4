package data

import (
	"math/rand/v2"

	"github.com/vlbert/vlbert/internal/visual"
)

// BoxTransform is the geometric part of the original image transforms (Resize,
// RandomHorizontalFlip) applied to boxes and im_info; the pixel part (resampling,
// BGR, mean subtraction) belongs to the visual package. With MinSize 0 there is
// no resize (scale 1).
type BoxTransform struct {
	MinSize, MaxSize int     // SCALES: 600, 1000 (VCR 1200)
	FlipProb         float64 // TRAIN.FLIP_PROB 0.5; 0 at val/test
}

// Apply transforms the first 4 columns of boxes [n, stride] in place for an
// image of original size w0×h0: scale to the resized size, flip with probability
// FlipProb (x' = w−1−x, one uniform draw, always taken as the original does),
// then clamp to [0, w−1]×[0, h−1]. It returns im_info [w, h, sx, sy] and whether
// the sample was flipped. Arithmetic is float32 as in the original tensors.
func (t BoxTransform) Apply(rng *rand.Rand, boxes []float32, n, stride, w0, h0 int) (imInfo [4]float32, flipped bool) {
	if len(boxes) < n*stride || stride < 4 {
		panic("data: BoxTransform.Apply: boxes too short")
	}
	w, h := w0, h0
	if t.MinSize > 0 {
		w, h = visual.ResizeSize(w0, h0, t.MinSize, t.MaxSize) // the pixels get the same size
	}
	fw, fh := float32(w), float32(h)
	sx, sy := fw/float32(w0), fh/float32(h0)
	imInfo = [4]float32{fw, fh, sx, sy}
	for r := range n {
		b := boxes[r*stride : r*stride+4]
		b[0] *= sx
		b[2] *= sx
		b[1] *= sy
		b[3] *= sy
	}
	if rng != nil && rng.Float64() < t.FlipProb {
		flipped = true
		for r := range n {
			b := boxes[r*stride : r*stride+4]
			b[0], b[2] = fw-1-b[2], fw-1-b[0]
		}
	}
	ClampBoxes(boxes, n, stride, fw, fh)
	return imInfo, flipped
}

// ClampBoxes clamps x to [0, w−1] and y to [0, h−1] in the first 4 columns.
func ClampBoxes(boxes []float32, n, stride int, w, h float32) {
	clamp := func(v, hi float32) float32 { return min(max(v, 0), hi) }
	for r := range n {
		b := boxes[r*stride : r*stride+4]
		b[0], b[2] = clamp(b[0], w-1), clamp(b[2], w-1)
		b[1], b[3] = clamp(b[1], h-1), clamp(b[3], h-1)
	}
}

// SwapLeftRight swaps the tokens "left" and "right" (VQA and RefCOCO do this to
// questions, answers and expressions of flipped images; pretraining does not).
func SwapLeftRight(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		switch t {
		case "left":
			out[i] = "right"
		case "right":
			out[i] = "left"
		default:
			out[i] = t
		}
	}
	return out
}
