package optim

import (
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// GradNorm returns the global L2 norm of grads, accumulated in float64
// (chunk partial sums, each in a fixed order, are added in a fixed order, so
// the result does not depend on the thread count).
func GradNorm(grads []float32) float64 {
	const chunk = 1 << 16
	nchunks := (len(grads) + chunk - 1) / chunk
	bp := partials.Get()
	if cap(*bp) < nchunks {
		*bp = make([]float64, nchunks)
	}
	partial := (*bp)[:nchunks]
	parallel.ForArgs(nchunks, 1, normArgs{grads, partial}, func(a *normArgs, lo, hi int) {
		for c := lo; c < hi; c++ {
			a.partial[c] = sumSquares(a.grads[c*chunk : min((c+1)*chunk, len(a.grads))])
		}
	})
	total := 0.0
	for _, s := range partial {
		total += s
	}
	partials.Put(bp)
	return math.Sqrt(total)
}

// sumSquares returns Σ g² in float64: with AVX2 in four interleaved 4-lane partial
// sums (then the last len%16 elements in order), otherwise in order. Either way the
// order is fixed, so the result does not depend on the thread count.
func sumSquares(g []float32) float64 {
	s, i := 0.0, 0
	if useAVX2 {
		if i = len(g) &^ 15; i > 0 {
			s = sumSquaresAVX2(&g[0], i)
		}
	}
	for _, v := range g[i:] {
		s += float64(v) * float64(v)
	}
	return s
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
	parallel.ForArgs(len(grads), 1<<15, scaleArgs{grads, coef}, func(a *scaleArgs, lo, hi int) {
		grads, coef := a.grads, a.coef
		j := lo
		if useAVX2 {
			if n8 := (hi - lo) &^ 7; n8 > 0 {
				scaleAVX2(&grads[lo], n8, coef)
				j += n8
			}
		}
		for ; j < hi; j++ {
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

// normArgs carries GradNorm's inputs to parallel.ForArgs.
type normArgs struct {
	grads   []float32
	partial []float64
}

// partials recycles GradNorm's per-chunk sums, so a training step allocates
// nothing (GradNorm runs once per step; a sync.Pool would be emptied by the GCs
// in between).
var partials parallel.FreeList[[]float64]

// scaleArgs carries ScaleGrads' inputs to parallel.ForArgs.
type scaleArgs struct {
	grads []float32
	coef  float32
}
