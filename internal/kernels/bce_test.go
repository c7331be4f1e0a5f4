package kernels

import (
	"math"
	"testing"
)

func bce64(z []float64, tg []float32) float64 {
	if len(z) == 0 {
		return 0
	}
	s := 0.0
	for i, v := range z {
		p := 1 / (1 + math.Exp(-v))
		t := float64(tg[i])
		// Direct form; fine in float64 for the moderate logits used here.
		s -= t*math.Log(p) + (1-t)*math.Log(1-p)
	}
	return s / float64(len(z))
}

func TestBCEWithLogitsGradCheck(t *testing.T) {
	r := newRand(90)
	n := 40
	z := randn(r, n, 3)
	tg := make([]float32, n)
	for i := range tg {
		tg[i] = float32(r.Float64()) // soft targets, as VQA's
	}
	tg[0], tg[1] = 0, 1
	z64 := to64(z)
	loss := BCEWithLogitsForward(z, tg, n)
	checkClose(t, "loss", []float32{loss}, []float64{bce64(z64, tg)}, 1e-6, 1e-6)
	const dloss = 3129
	d := nan32(n)
	BCEWithLogitsBackward(d, z, tg, n, dloss)
	checkClose(t, "dlogits", d, fdGrad(func() float64 { return dloss * bce64(z64, tg) }, z64, 1e-5), 1e-5, 1e-4)
}

func TestBCEWithLogitsStable(t *testing.T) {
	// Huge logits: the naive log(sigmoid) form would give Inf or NaN.
	z := []float32{200, -200, 1e30, -1e30, 0}
	tg := []float32{0, 1, 1, 0, 0.5}
	loss := BCEWithLogitsForward(z, tg, len(z))
	want := (200.0 + 200 + 0 + 0 + math.Ln2) / 5
	if math.Abs(float64(loss)-want) > 1e-4 {
		t.Fatalf("loss = %g, want %g", loss, want)
	}
	d := make([]float32, len(z))
	BCEWithLogitsBackward(d, z, tg, len(z), 5)
	checkClose(t, "dlogits", d, []float64{1, -1, 0, 0, 0}, 1e-7, 0)
	if BCEWithLogitsForward(nil, nil, 0) != 0 {
		t.Fatal("n = 0")
	}
	mustPanic(t, "targets has 1", func() { BCEWithLogitsForward(z, tg[:1], 2) })
}

func TestBCEWithLogitsThreadInvariant(t *testing.T) {
	r := newRand(91)
	z, tg := randn(r, 50000, 3), randn(r, 50000, 0.3)
	checkThreadInvariant(t, "bce", func() [][]float32 {
		d := make([]float32, len(z))
		BCEWithLogitsBackward(d, z, tg, len(z), 1)
		return [][]float32{{BCEWithLogitsForward(z, tg, len(z))}, d}
	})
}
