package kernels

import (
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// SoftCrossEntropyForward computes the soft-label cross-entropy of VL-BERT's masked RoI
// classification, -Σ_c t_c·log softmax(z)_c per row, averaged over the valid rows — those
// whose targets sum to 1 within 0.1 (|Σt-1| < 0.1; all-zero rows of unmasked RoIs are
// thereby skipped). With no valid row the loss is 0.
//
//	probs   [N,V] overwritten: softmax of valid rows, 0 in invalid rows (may be nil)
//	logits  [N,V]
//	targets [N,V] soft labels (class probabilities)
//
// Row losses are float64, summed in row order (thread-count independent).
func SoftCrossEntropyForward(probs, logits, targets []float32, N, V int) (loss float32, valid int) {
	const fn = "SoftCrossEntropyForward"
	nonNeg(fn, N, V)
	needOpt(fn, "probs", probs, N*V)
	need(fn, "logits", logits, N*V)
	need(fn, "targets", targets, N*V)
	if V == 0 {
		return 0, 0
	}
	buf := getBuf64(N)
	defer putBuf64(buf)
	rowLoss := (*buf)[:N]
	chunk := rowChunk(V)/4 + 1
	if serial(N, chunk) {
		softCrossEntropyRows(rowLoss, probs, logits, targets, 0, N, V)
	} else {
		parallel.ForArgs(N, chunk, softCEArgs{rowLoss, probs, logits, targets, V, 0}, func(a *softCEArgs, lo, hi int) {
			softCrossEntropyRows(a.rowLoss, a.probs, a.logits, a.targets, lo, hi, a.V)
		})
	}
	var sum float64
	for _, l := range rowLoss {
		if !math.IsNaN(l) {
			sum += l
			valid++
		}
	}
	if valid == 0 {
		return 0, 0
	}
	return float32(sum / float64(valid)), valid
}

// softCrossEntropyRows writes each row's loss, or NaN to mark an invalid row.
func softCrossEntropyRows(rowLoss []float64, probs, logits, targets []float32, lo, hi, V int) {
	for n := lo; n < hi; n++ {
		var p []float32
		if probs != nil {
			p = probs[n*V : (n+1)*V]
		}
		t := targets[n*V : (n+1)*V]
		st, ok := softRowValid(t)
		if !ok {
			clear(p)
			rowLoss[n] = math.NaN()
			continue
		}
		z := logits[n*V : (n+1)*V]
		lse := logSumExp(z, p)
		var tz float64
		for c, tc := range t {
			if tc != 0 {
				tz += float64(tc) * float64(z[c])
			}
		}
		rowLoss[n] = lse*st - tz
	}
}

// SoftCrossEntropyBackward computes the gradient of dloss*SoftCrossEntropyForward's loss:
// dlogits[n,:] = dloss/valid*(probs[n,:]*Σt - t[n,:]) for valid rows, 0 elsewhere.
//
//	dlogits [N,V] OVERWRITTEN (nil skipped); may alias probs
//	probs   [N,V] from SoftCrossEntropyForward
//	targets [N,V]
func SoftCrossEntropyBackward(dlogits, probs, targets []float32, N, V int, dloss float32) {
	const fn = "SoftCrossEntropyBackward"
	if dlogits == nil {
		return
	}
	nonNeg(fn, N, V)
	need(fn, "dlogits", dlogits, N*V)
	need(fn, "probs", probs, N*V)
	need(fn, "targets", targets, N*V)
	if V == 0 {
		return
	}
	valid := 0
	for n := 0; n < N; n++ {
		if _, ok := softRowValid(targets[n*V : (n+1)*V]); ok {
			valid++
		}
	}
	if valid == 0 {
		clear(dlogits[:N*V])
		return
	}
	scale := float64(dloss) / float64(valid)
	if serial(N, rowChunk(V)) {
		softCrossEntropyBackRows(dlogits, probs, targets, 0, N, V, scale)
		return
	}
	parallel.ForArgs(N, rowChunk(V), softCEArgs{nil, probs, dlogits, targets, V, scale}, func(a *softCEArgs, lo, hi int) {
		softCrossEntropyBackRows(a.logits, a.probs, a.targets, lo, hi, a.V, a.scale)
	})
}

func softCrossEntropyBackRows(dlogits, probs, targets []float32, lo, hi, V int, scale float64) {
	for n := lo; n < hi; n++ {
		d := dlogits[n*V : (n+1)*V]
		t := targets[n*V : (n+1)*V]
		st, ok := softRowValid(t)
		if !ok {
			clear(d)
			continue
		}
		for c, p := range probs[n*V : (n+1)*V] {
			d[c] = float32((float64(p)*st - float64(t[c])) * scale)
		}
	}
}

// softRowValid returns Σt (float64) and whether the row counts (|Σt-1| < 0.1).
func softRowValid(t []float32) (sum float64, ok bool) {
	for _, v := range t {
		sum += float64(v)
	}
	return sum, math.Abs(sum-1) < 0.1
}

// softCEArgs carries the soft cross-entropy row loops' inputs to parallel.ForArgs.
type softCEArgs struct {
	rowLoss                []float64
	probs, logits, targets []float32
	V                      int
	scale                  float64
}
