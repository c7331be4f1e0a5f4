package optim

import (
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// GradNorm returns the global L2 norm of grads, accumulated in float64
// (chunk partial sums are added in a fixed order, so the result does not
// depend on the thread count).
func GradNorm(grads []float32) float64 {
	const chunk = 1 << 16
	nchunks := (len(grads) + chunk - 1) / chunk
	partial := make([]float64, nchunks)
	parallel.For(nchunks, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			s := 0.0
			end := min((c+1)*chunk, len(grads))
			for _, g := range grads[c*chunk : end] {
				s += float64(g) * float64(g)
			}
			partial[c] = s
		}
	})
	total := 0.0
	for _, s := range partial {
		total += s
	}
	return math.Sqrt(total)
}

// ClipCoef is torch.nn.utils.clip_grad_norm_'s coefficient
// maxNorm/(totalNorm+1e-6); gradients are scaled only when it is below 1.
// It is computed in float32 the way torch 1.13 does it (the goldens' torch):
// a Python float divided by a tensor is reciprocal(tensor)·maxNorm, which
// rounds differently from a division when maxNorm ≠ 1.
func ClipCoef(totalNorm, maxNorm float64) float32 {
	return (1 / (float32(totalNorm) + 1e-6)) * float32(maxNorm)
}

// ScaleGrads multiplies grads by coef in place.
func ScaleGrads(grads []float32, coef float32) {
	parallel.For(len(grads), 1<<15, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			grads[j] *= coef
		}
	})
}

// ClipGradNorm is torch.nn.utils.clip_grad_norm_ over the whole gradient
// arena: it returns the total L2 norm before clipping and, when
// ClipCoef(norm, maxNorm) < 1, scales grads by it in place. The original
// trainer clips only when CLIP_GRAD_NORM > 0 and logs the returned norm as
// grad-para/Total-Norm. A non-finite norm leaves grads unchanged (the
// coefficient is then not < 1); the caller decides what to do.
func ClipGradNorm(grads []float32, maxNorm float64) float64 {
	norm := GradNorm(grads)
	if coef := ClipCoef(norm, maxNorm); coef < 1 {
		ScaleGrads(grads, coef)
	}
	return norm
}
