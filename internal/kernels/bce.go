package kernels

import (
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// BCEWithLogitsForward returns the mean binary cross-entropy of sigmoid(logits) against
// targets over the n elements, in the numerically stable form
// max(z,0) - z*t + log(1+exp(-|z|)) (PyTorch's BCEWithLogitsLoss, reduction mean).
// Targets may be soft (in [0,1]). n == 0 gives 0. Summed in float64, in index order.
//
//	logits [n], targets [n]
func BCEWithLogitsForward(logits, targets []float32, n int) (loss float32) {
	const fn = "BCEWithLogitsForward"
	nonNeg(fn, n)
	need(fn, "logits", logits, n)
	need(fn, "targets", targets, n)
	if n == 0 {
		return 0
	}
	var sum float64
	for i, zf := range logits[:n] {
		z, t := float64(zf), float64(targets[i])
		sum += math.Max(z, 0) - z*t + math.Log1p(exp64(-math.Abs(z)))
	}
	return float32(sum / float64(n))
}

// BCEWithLogitsBackward computes dlogits = dloss/n*(sigmoid(z) - t) (OVERWRITTEN; nil
// skipped; may alias logits).
//
//	dlogits [n], logits [n], targets [n]
func BCEWithLogitsBackward(dlogits, logits, targets []float32, n int, dloss float32) {
	const fn = "BCEWithLogitsBackward"
	if dlogits == nil {
		return
	}
	nonNeg(fn, n)
	need(fn, "dlogits", dlogits, n)
	need(fn, "logits", logits, n)
	need(fn, "targets", targets, n)
	if n == 0 {
		return
	}
	scale := float64(dloss) / float64(n)
	if serial(n, elemChunk/4) {
		bceBackRange(dlogits[:n], logits, targets, scale)
		return
	}
	parallel.ForArgs(n, elemChunk/4, bceBackArgs{dlogits, logits, targets, scale}, func(a *bceBackArgs, lo, hi int) {
		bceBackRange(a.d[lo:hi], a.z[lo:hi], a.t[lo:hi], a.scale)
	})
}

func bceBackRange(d, z, t []float32, scale float64) {
	z, t = z[:len(d)], t[:len(d)]
	for i := range d {
		d[i] = float32((sigmoid64(float64(z[i])) - float64(t[i])) * scale)
	}
}

// sigmoid64 is 1/(1+exp(-z)) without overflow for large |z|.
func sigmoid64(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + exp64(-z))
	}
	e := exp64(z)
	return e / (1 + e)
}

// bceBackArgs carries bceBackRange's inputs to parallel.ForArgs.
type bceBackArgs struct {
	d, z, t []float32
	scale   float64
}
