package kernels

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// IgnoreIndex is the target value that CrossEntropyForward skips (PyTorch ignore_index=-1).
const IgnoreIndex = -1

// CrossEntropyForward computes the mean cross-entropy -log softmax(logits)[target] over the
// rows whose target is not IgnoreIndex, and returns it with the number of such rows.
// With no valid row the loss is 0 (not NaN, unlike PyTorch's 0/0).
//
//	probs   [N,V] overwritten: softmax of valid rows, 0 in ignored rows (saved for
//	        backward; may be nil when no backward follows)
//	logits  [N,V]
//	targets [N]   each in [0,V) or IgnoreIndex
//
// Per-row losses are computed in float64 (log-sum-exp with max subtraction) in parallel
// and summed in row order, so the loss does not depend on the thread count.
func CrossEntropyForward(probs, logits []float32, targets []int32, N, V int) (loss float32, valid int) {
	const fn = "CrossEntropyForward"
	valid = checkTargets(fn, targets, N, V)
	needOpt(fn, "probs", probs, N*V)
	need(fn, "logits", logits, N*V)
	if valid == 0 {
		if probs != nil {
			clear(probs[:N*V])
		}
		return 0, 0
	}
	buf := getBuf64(N)
	defer putBuf64(buf)
	rowLoss := (*buf)[:N]
	chunk := rowChunk(V)/4 + 1
	if serial(N, chunk) {
		crossEntropyRows(rowLoss, probs, logits, targets, 0, N, V)
	} else {
		parallel.ForArgs(N, chunk, ceArgs{rowLoss, probs, logits, targets, V, 0}, func(a *ceArgs, lo, hi int) {
			crossEntropyRows(a.rowLoss, a.probs, a.logits, a.targets, lo, hi, a.V)
		})
	}
	var sum float64
	for _, l := range rowLoss {
		sum += l
	}
	return float32(sum / float64(valid)), valid
}

func crossEntropyRows(rowLoss []float64, probs, logits []float32, targets []int32, lo, hi, V int) {
	for n := lo; n < hi; n++ {
		tgt := int(targets[n])
		var p []float32
		if probs != nil {
			p = probs[n*V : (n+1)*V]
		}
		if tgt == IgnoreIndex {
			clear(p)
			rowLoss[n] = 0
			continue
		}
		z := logits[n*V : (n+1)*V]
		rowLoss[n] = logSumExp(z, p) - float64(z[tgt])
	}
}

// CrossEntropyBackward computes the gradient of dloss*CrossEntropyForward's loss:
// dlogits[n,:] = dloss/valid*(probs[n,:] - onehot(target[n])) for valid rows, 0 for
// ignored rows, and all 0 when no row is valid.
//
//	dlogits [N,V] OVERWRITTEN (nil skipped); may alias probs
//	probs   [N,V] from CrossEntropyForward
//	targets [N]
//	dloss   the gradient flowing into the returned loss (1 for a plain loss)
func CrossEntropyBackward(dlogits, probs []float32, targets []int32, N, V int, dloss float32) {
	const fn = "CrossEntropyBackward"
	if dlogits == nil {
		return
	}
	valid := checkTargets(fn, targets, N, V)
	need(fn, "dlogits", dlogits, N*V)
	need(fn, "probs", probs, N*V)
	if valid == 0 {
		clear(dlogits[:N*V])
		return
	}
	scale := dloss / float32(valid)
	if serial(N, rowChunk(V)) {
		crossEntropyBackRows(dlogits, probs, targets, 0, N, V, scale)
		return
	}
	parallel.ForArgs(N, rowChunk(V), ceArgs{nil, probs, dlogits, targets, V, scale}, func(a *ceArgs, lo, hi int) {
		crossEntropyBackRows(a.logits, a.probs, a.targets, lo, hi, a.V, a.scale)
	})
}

func crossEntropyBackRows(dlogits, probs []float32, targets []int32, lo, hi, V int, scale float32) {
	for n := lo; n < hi; n++ {
		d := dlogits[n*V : (n+1)*V]
		tgt := int(targets[n])
		if tgt == IgnoreIndex {
			clear(d)
			continue
		}
		pt := probs[n*V+tgt] // read before d (which may alias probs) is written
		for i, p := range probs[n*V : (n+1)*V] {
			d[i] = p * scale
		}
		d[tgt] = (pt - 1) * scale
	}
}

// logSumExp returns log Σ exp(z) in float64 and, if p is not nil, writes softmax(z) to it.
func logSumExp(z, p []float32) float64 {
	m := z[0]
	for _, v := range z[1:] {
		if v > m {
			m = v
		}
	}
	var sum float64
	if p != nil {
		for i, v := range z {
			e := exp64(float64(v - m))
			p[i] = float32(e)
			sum += e
		}
		inv := 1 / sum
		for i, v := range p {
			p[i] = float32(float64(v) * inv)
		}
	} else {
		for _, v := range z {
			sum += exp64(float64(v - m))
		}
	}
	return float64(m) + math.Log(sum)
}

// checkTargets validates the integer targets and returns how many are not IgnoreIndex.
func checkTargets(fn string, targets []int32, N, V int) (valid int) {
	nonNeg(fn, N, V)
	if len(targets) < N {
		panic(fmt.Sprintf("kernels: %s: targets has %d elements, need %d", fn, len(targets), N))
	}
	for n, t := range targets[:N] {
		if t == IgnoreIndex {
			continue
		}
		if t < 0 || int(t) >= V {
			panic(fmt.Sprintf("kernels: %s: targets[%d] = %d outside [0,%d) and not %d", fn, n, t, V, IgnoreIndex))
		}
		valid++
	}
	return valid
}

var buf64Pool parallel.FreeList[[]float64]

// getBuf64 returns a scratch buffer of at least n float64s; putBuf64 gives it back.
func getBuf64(n int) *[]float64 {
	p := buf64Pool.Get()
	if cap(*p) < n {
		*p = make([]float64, n)
	}
	return p
}

func putBuf64(p *[]float64) { buf64Pool.Put(p) }

// ceArgs carries the cross-entropy row loops' inputs to parallel.ForArgs.
type ceArgs struct {
	rowLoss       []float64
	probs, logits []float32
	targets       []int32
	V             int
	scale         float32
}
