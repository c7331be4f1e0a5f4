package kernels

import (
	"math"
	"testing"
)

// crossEntropy64 is the float64 reference: mean over non-ignored rows, 0 if none.
func crossEntropy64(z []float64, targets []int32, N, V int) float64 {
	sum, cnt := 0.0, 0
	for n := 0; n < N; n++ {
		if targets[n] == IgnoreIndex {
			continue
		}
		row := z[n*V : (n+1)*V]
		m := math.Inf(-1)
		for _, v := range row {
			m = max(m, v)
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(v - m)
		}
		sum += m + math.Log(s) - row[targets[n]]
		cnt++
	}
	if cnt == 0 {
		return 0
	}
	return sum / float64(cnt)
}

func TestCrossEntropyGradCheck(t *testing.T) {
	r := newRand(70)
	N, V := 6, 7
	logits := randn(r, N*V, 3)
	logits[5] = 80 // a large logit: the log-sum-exp must not overflow
	for _, targets := range [][]int32{
		{0, 6, 3, 3, 1, 2},
		{-1, 6, -1, 3, -1, 2}, // ignore index
	} {
		z64 := to64(logits)
		const dloss = 1.7
		lossFn := func() float64 { return dloss * crossEntropy64(z64, targets, N, V) }
		probs := nan32(N * V)
		loss, valid := CrossEntropyForward(probs, logits, targets, N, V)
		wantValid := 0
		for _, tg := range targets {
			if tg != IgnoreIndex {
				wantValid++
			}
		}
		if valid != wantValid {
			t.Fatalf("valid = %d, want %d", valid, wantValid)
		}
		checkClose(t, "loss", []float32{loss}, []float64{crossEntropy64(z64, targets, N, V)}, 1e-6, 1e-6)
		d := nan32(N * V)
		CrossEntropyBackward(d, probs, targets, N, V, dloss)
		checkClose(t, "dlogits", d, fdGrad(lossFn, z64, 1e-5), 1e-6, 1e-4)
		// dlogits may alias probs.
		CrossEntropyBackward(probs, probs, targets, N, V, dloss)
		checkEqual(t, "aliased", probs, d)
		// Without probs (inference) the loss is the same.
		l2, _ := CrossEntropyForward(nil, logits, targets, N, V)
		if l2 != loss {
			t.Fatalf("loss without probs %g != %g", l2, loss)
		}
	}
}

func TestCrossEntropyNoValidTarget(t *testing.T) {
	N, V := 3, 4
	logits := randn(newRand(71), N*V, 1)
	targets := []int32{-1, -1, -1}
	probs := nan32(N * V)
	loss, valid := CrossEntropyForward(probs, logits, targets, N, V)
	if loss != 0 || valid != 0 {
		t.Fatalf("loss, valid = %g, %d; want 0, 0", loss, valid)
	}
	d := nan32(N * V)
	CrossEntropyBackward(d, probs, targets, N, V, 1)
	for i, v := range d {
		if v != 0 {
			t.Fatalf("dlogits[%d] = %g, want 0", i, v)
		}
	}
	if l, v := CrossEntropyForward(nil, nil, nil, 0, 5); l != 0 || v != 0 {
		t.Fatal("empty batch")
	}
}

func TestCrossEntropyThreadInvariant(t *testing.T) {
	r := newRand(72)
	N, V := 200, 1000
	logits := randn(r, N*V, 2)
	targets := make([]int32, N)
	for i := range targets {
		targets[i] = int32(r.IntN(V+1)) - 1
	}
	checkThreadInvariant(t, "crossentropy", func() [][]float32 {
		probs, d := make([]float32, N*V), make([]float32, N*V)
		loss, _ := CrossEntropyForward(probs, logits, targets, N, V)
		CrossEntropyBackward(d, probs, targets, N, V, 1)
		return [][]float32{{loss}, probs, d}
	})
}

func TestCrossEntropyPanics(t *testing.T) {
	s := make([]float32, 8)
	mustPanic(t, "targets[1] = 4 outside [0,4)", func() { CrossEntropyForward(s, s, []int32{0, 4}, 2, 4) })
	mustPanic(t, "targets[0] = -2", func() { CrossEntropyBackward(s, s, []int32{-2, 0}, 2, 4, 1) })
	mustPanic(t, "logits has 7", func() { CrossEntropyForward(nil, s[:7], []int32{0, 0}, 2, 4) })
}
