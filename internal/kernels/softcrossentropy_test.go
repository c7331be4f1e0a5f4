package kernels

import (
	"math"
	"testing"
)

func softCrossEntropy64(z []float64, tg []float32, N, V int) float64 {
	sum, cnt := 0.0, 0
	for n := 0; n < N; n++ {
		t := tg[n*V : (n+1)*V]
		st := 0.0
		for _, v := range t {
			st += float64(v)
		}
		if math.Abs(st-1) >= 0.1 {
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
		lse := m + math.Log(s)
		for c, v := range t {
			sum -= float64(v) * (row[c] - lse)
		}
		cnt++
	}
	if cnt == 0 {
		return 0
	}
	return sum / float64(cnt)
}

// softTargets returns rows of random class distributions scaled to sum to the given values.
func softTargets(sums []float32, V int, seed uint64) []float32 {
	r := newRand(seed)
	tg := make([]float32, len(sums)*V)
	for n, s := range sums {
		row := tg[n*V : (n+1)*V]
		tot := 0.0
		for c := range row {
			row[c] = float32(r.ExpFloat64())
			tot += float64(row[c])
		}
		for c := range row {
			row[c] = float32(float64(row[c]) / tot * float64(s))
		}
	}
	return tg
}

func TestSoftCrossEntropyGradCheck(t *testing.T) {
	N, V := 6, 5
	logits := randn(newRand(80), N*V, 2)
	// Rows 1 and 4 are invalid (sum 0 = unmasked RoI, sum 1.2); row 3 sums to 0.95 (valid,
	// and its gradient must use Σt, not 1).
	tg := softTargets([]float32{1, 0, 1, 0.95, 1.2, 1}, V, 81)
	z64 := to64(logits)
	const dloss = 0.6
	lossFn := func() float64 { return dloss * softCrossEntropy64(z64, tg, N, V) }
	probs := nan32(N * V)
	loss, valid := SoftCrossEntropyForward(probs, logits, tg, N, V)
	if valid != 4 {
		t.Fatalf("valid = %d, want 4", valid)
	}
	checkClose(t, "loss", []float32{loss}, []float64{softCrossEntropy64(z64, tg, N, V)}, 1e-6, 1e-6)
	d := nan32(N * V)
	SoftCrossEntropyBackward(d, probs, tg, N, V, dloss)
	checkClose(t, "dlogits", d, fdGrad(lossFn, z64, 1e-5), 1e-6, 1e-4)

	// No valid rows: loss 0, zero gradient.
	zero := make([]float32, N*V)
	loss, valid = SoftCrossEntropyForward(probs, logits, zero, N, V)
	if loss != 0 || valid != 0 {
		t.Fatalf("all-invalid: loss, valid = %g, %d", loss, valid)
	}
	SoftCrossEntropyBackward(d, probs, zero, N, V, 1)
	for i, v := range d {
		if v != 0 {
			t.Fatalf("all-invalid: dlogits[%d] = %g", i, v)
		}
	}
}

func TestSoftCrossEntropyThreadInvariant(t *testing.T) {
	N, V := 150, 1601
	logits := randn(newRand(82), N*V, 2)
	sums := make([]float32, N)
	for i := range sums {
		sums[i] = float32(i % 2) // half the rows are unmasked (all-zero targets)
	}
	tg := softTargets(sums, V, 83)
	checkThreadInvariant(t, "softce", func() [][]float32 {
		probs, d := make([]float32, N*V), make([]float32, N*V)
		loss, _ := SoftCrossEntropyForward(probs, logits, tg, N, V)
		SoftCrossEntropyBackward(d, probs, tg, N, V, 1)
		return [][]float32{{loss}, probs, d}
	})
}

func TestSoftCrossEntropyPanics(t *testing.T) {
	s := make([]float32, 8)
	mustPanic(t, "targets has 7", func() { SoftCrossEntropyForward(nil, s, s[:7], 2, 4) })
}
