package kernels

import (
	"testing"

	"github.com/vlbert/vlbert/internal/gemm"
)

// TestNoAlloc checks the steady-state promise: the kernels do not allocate, with one
// thread (small sizes, serial loops) or two (sizes large enough for the parallel
// loops). Kernels built on gemm may allocate only what the gemm calls they make
// allocate.
func TestNoAlloc(t *testing.T) {
	testNoAlloc(t, 1, 16, 64)
	if !raceEnabled { // the race detector allocates in sync primitives
		testNoAlloc(t, 2, 512, 256)
	}
}

func testNoAlloc(t *testing.T, threads, N, C int) {
	r := newRand(200)
	V := 50
	x, y, g := randn(r, N*C, 1), randn(r, N*C, 1), randn(r, N*C, 1)
	w, b := randn(r, C, 1), randn(r, C, 1)
	out, d, mean, rstd := make([]float32, N*C), make([]float32, N*C), make([]float32, N), make([]float32, N)
	dw, db := make([]float32, C), make([]float32, C)
	ids := make([]int32, N)
	targets := make([]int32, N)
	for i := range ids {
		ids[i] = int32(i % V)
		targets[i] = int32(i%(V+1)) - 1
	}
	table, dtable := randn(r, V*C, 1), make([]float32, V*C)
	logits, probs := randn(r, N*V, 1), make([]float32, N*V)
	soft := softTargets(make([]float32, N), V, 1)
	drop := Dropout{P: 0.1, Seed: 1}
	cases := map[string]func(){
		"Add":               func() { Add(out, x, y) },
		"AddRows":           func() { AddRows(out, b, N, C) },
		"SumRows":           func() { SumRows(db, g, N, C) },
		"LayerNormForward":  func() { LayerNormForward(out, mean, rstd, x, w, b, N, C, BertLayerNormEps) },
		"LayerNormBackward": func() { LayerNormBackward(d, dw, db, g, x, w, mean, rstd, N, C) },
		"GELUForward":       func() { GELUForward(out, x) },
		"GELUBackward":      func() { GELUBackward(d, x, g) },
		"BiasGELUForward":   func() { BiasGELUForward(out, d, x, b, N, C) },
		"TanhForward":       func() { TanhForward(out, x) },
		"TanhBackward":      func() { TanhBackward(d, x, g) },
		"ReLUForward":       func() { ReLUForward(out, x) },
		"ReLUBackward":      func() { ReLUBackward(d, x, g) },
		"DropoutForward":    func() { DropoutForward(out, x, drop) },
		"DropoutBackward":   func() { DropoutBackward(d, g, drop) },
		"SoftmaxForward":    func() { SoftmaxForward(out, x, N, C) },
		"SoftmaxBackward":   func() { SoftmaxBackward(d, x, g, N, C) },
		"EmbeddingForward":  func() { EmbeddingForward(out, ids, table, N, C) },
		"EmbeddingBackward": func() { EmbeddingBackward(dtable, g, ids, N, C) },
		"CrossEntropy": func() {
			CrossEntropyForward(probs, logits, targets, N, V)
			CrossEntropyBackward(probs, probs, targets, N, V, 1)
		},
		"SoftCrossEntropy": func() {
			SoftCrossEntropyForward(probs, logits, soft, N, V)
			SoftCrossEntropyBackward(probs, probs, soft, N, V, 1)
		},
		"BCEWithLogits": func() {
			BCEWithLogitsForward(x, y, N*C)
			BCEWithLogitsBackward(d, x, y, N*C, 1)
		},
	}
	withThreads(threads, func() {
		for name, f := range cases {
			f()
			if n := testing.AllocsPerRun(10, f); n != 0 {
				t.Errorf("%s allocates %v times per call with %d threads", name, n, threads)
			}
		}
		// Linear: only what its gemm calls allocate.
		in, outDim := C, 24
		lo, dlin, wl, dwl := make([]float32, N*outDim), make([]float32, N*outDim), randn(r, outDim*in, 1), make([]float32, outDim*in)
		lin := func() {
			LinearForward(lo, x, wl, b[:outDim], N, in, outDim)
			LinearBackward(d, dwl, db[:outDim], dlin, x, wl, N, in, outDim)
		}
		raw := func() {
			gemm.Sgemm(false, true, N, outDim, in, 1, x, in, wl, in, 0, lo, outDim)
			gemm.Sgemm(false, false, N, in, outDim, 1, dlin, outDim, wl, in, 0, d, in)
			gemm.Sgemm(true, false, outDim, in, N, 1, dlin, outDim, x, in, 1, dwl, in)
		}
		lin()
		raw()
		if nk, ng := testing.AllocsPerRun(10, lin), testing.AllocsPerRun(10, raw); nk > ng {
			t.Errorf("Linear forward+backward allocates %v times, its gemm calls %v", nk, ng)
		}
		// Attention: only what its strided gemm calls allocate.
		B, T, NH := 2, 8, 4
		hs := C / NH
		q, k, v := randn(r, B*T*C, 1), randn(r, B*T*C, 1), randn(r, B*T*C, 1)
		ao, ap := make([]float32, B*T*C), make([]float32, B*NH*T*T)
		dq, dk, dv := make([]float32, B*T*C), make([]float32, B*T*C), make([]float32, B*T*C)
		scratch := make([]float32, AttentionScratchSize(B, T, NH))
		att := func() {
			AttentionForward(ao, ap, q, k, v, nil, B, T, C, NH, drop)
			AttentionBackward(dq, dk, dv, scratch, ao, q, k, v, ap, B, T, C, NH, drop)
		}
		tt := T * T
		rawAtt := func() { // the strided products attention makes, same shapes and layouts
			for range B {
				gemm.SgemmStrided(false, true, NH, T, T, hs, 1, q, C, hs, k, C, hs, 0, ap, T, tt)
				gemm.SgemmStrided(false, false, NH, T, hs, T, 1, ap, T, tt, v, C, hs, 0, ao, C, hs)
			}
			for range B {
				gemm.SgemmStrided(true, false, NH, T, hs, T, 1, ap, T, tt, ao, C, hs, 0, dv, C, hs)
				gemm.SgemmStrided(false, true, NH, T, T, hs, 1, ao, C, hs, v, C, hs, 0, scratch, T, tt)
				gemm.SgemmStrided(false, false, NH, T, hs, T, 1, scratch, T, tt, k, C, hs, 0, dq, C, hs)
				gemm.SgemmStrided(true, false, NH, T, hs, T, 1, scratch, T, tt, q, C, hs, 0, dk, C, hs)
			}
		}
		att()
		rawAtt()
		if nk, ng := testing.AllocsPerRun(10, att), testing.AllocsPerRun(10, rawAtt); nk > ng {
			t.Errorf("attention forward+backward allocates %v times, its gemm calls %v", nk, ng)
		}
	})
}
