package kernels

import "testing"

// BERT-base shapes: B=8 sequences of T=100 tokens, C=768 channels, NH=12 heads.
const (
	benchB, benchT, benchC, benchNH = 8, 100, 768, 12
	benchN                          = benchB * benchT
)

func BenchmarkLayerNormForward(b *testing.B) {
	r := newRand(1)
	inp, w, bias := randn(r, benchN*benchC, 1), randn(r, benchC, 1), randn(r, benchC, 1)
	out, mean, rstd := make([]float32, benchN*benchC), make([]float32, benchN), make([]float32, benchN)
	b.SetBytes(int64(4 * benchN * benchC))
	b.ReportAllocs()
	for b.Loop() {
		LayerNormForward(out, mean, rstd, inp, w, bias, benchN, benchC, BertLayerNormEps)
	}
}

func BenchmarkLayerNormBackward(b *testing.B) {
	r := newRand(1)
	inp, w, bias, g := randn(r, benchN*benchC, 1), randn(r, benchC, 1), randn(r, benchC, 1), randn(r, benchN*benchC, 1)
	out, mean, rstd := make([]float32, benchN*benchC), make([]float32, benchN), make([]float32, benchN)
	LayerNormForward(out, mean, rstd, inp, w, bias, benchN, benchC, BertLayerNormEps)
	dinp, dw, db := make([]float32, benchN*benchC), make([]float32, benchC), make([]float32, benchC)
	b.ReportAllocs()
	for b.Loop() {
		LayerNormBackward(dinp, dw, db, g, inp, w, mean, rstd, benchN, benchC)
	}
}

// The FFN activation: [B*T, 4C].
func BenchmarkGELUForward(b *testing.B) {
	x := randn(newRand(2), benchN*4*benchC, 1)
	out := make([]float32, len(x))
	b.SetBytes(int64(4 * len(x)))
	b.ReportAllocs()
	for b.Loop() {
		GELUForward(out, x)
	}
}

func BenchmarkGELUBackward(b *testing.B) {
	r := newRand(2)
	x, g := randn(r, benchN*4*benchC, 1), randn(r, benchN*4*benchC, 1)
	d := make([]float32, len(x))
	b.SetBytes(int64(4 * len(x)))
	b.ReportAllocs()
	for b.Loop() {
		GELUBackward(d, x, g)
	}
}

func benchAttentionInputs() (q, k, v, mask []float32) {
	r := newRand(3)
	n := benchB * benchT * benchC
	lengths := []int{100, 90, 80, 70, 60, 50, 40, 30}
	return randn(r, n, 1), randn(r, n, 1), randn(r, n, 1), paddingMask(lengths, benchT)
}

func BenchmarkAttentionForward(b *testing.B) {
	q, k, v, mask := benchAttentionInputs()
	out, probs := make([]float32, len(q)), make([]float32, benchB*benchNH*benchT*benchT)
	drop := Dropout{P: 0.1, Seed: 1}
	AttentionForward(out, probs, q, k, v, mask, benchB, benchT, benchC, benchNH, drop) // warm the buffer pool
	b.ReportAllocs()
	for b.Loop() {
		AttentionForward(out, probs, q, k, v, mask, benchB, benchT, benchC, benchNH, drop)
	}
}

func BenchmarkAttentionBackward(b *testing.B) {
	q, k, v, mask := benchAttentionInputs()
	out, probs := make([]float32, len(q)), make([]float32, benchB*benchNH*benchT*benchT)
	drop := Dropout{P: 0.1, Seed: 1}
	AttentionForward(out, probs, q, k, v, mask, benchB, benchT, benchC, benchNH, drop)
	dq, dk, dv := make([]float32, len(q)), make([]float32, len(q)), make([]float32, len(q))
	scratch := make([]float32, AttentionScratchSize(benchB, benchT, benchNH))
	b.ReportAllocs()
	for b.Loop() {
		AttentionBackward(dq, dk, dv, scratch, out, q, k, v, probs, benchB, benchT, benchC, benchNH, drop)
	}
}

// The FFN up-projection 768 -> 3072 over B*T rows (2*N*768*3072 flops forward).
func BenchmarkLinearForward768x3072(b *testing.B) {
	r := newRand(4)
	in, outDim := benchC, 4*benchC
	inp, w, bias := randn(r, benchN*in, 1), randn(r, outDim*in, 0.03), randn(r, outDim, 1)
	out := make([]float32, benchN*outDim)
	b.ReportAllocs()
	for b.Loop() {
		LinearForward(out, inp, w, bias, benchN, in, outDim)
	}
	b.ReportMetric(2*float64(benchN*in*outDim)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkLinearBackward768x3072(b *testing.B) {
	r := newRand(4)
	in, outDim := benchC, 4*benchC
	inp, w, g := randn(r, benchN*in, 1), randn(r, outDim*in, 0.03), randn(r, benchN*outDim, 1)
	dinp, dw, db := make([]float32, benchN*in), make([]float32, outDim*in), make([]float32, outDim)
	b.ReportAllocs()
	for b.Loop() {
		LinearBackward(dinp, dw, db, g, inp, w, benchN, in, outDim)
	}
	b.ReportMetric(4*float64(benchN*in*outDim)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkCrossEntropyMLM(b *testing.B) {
	// 800 rows x 30522 words, 15% of rows masked (the rest ignored).
	r := newRand(5)
	const V = 30522
	logits := randn(r, benchN*V, 1)
	targets := make([]int32, benchN)
	for i := range targets {
		targets[i] = IgnoreIndex
		if i%7 == 0 {
			targets[i] = int32(r.IntN(V))
		}
	}
	probs, d := make([]float32, benchN*V), make([]float32, benchN*V)
	b.ReportAllocs()
	for b.Loop() {
		CrossEntropyForward(probs, logits, targets, benchN, V)
		CrossEntropyBackward(d, probs, targets, benchN, V, 1)
	}
}

// Hidden-state dropout: [B*T, C] with P = 0.1.
func BenchmarkDropoutForward(b *testing.B) {
	x := randn(newRand(6), benchN*benchC, 1)
	out := make([]float32, len(x))
	d := Dropout{P: 0.1, Seed: 7}
	b.SetBytes(int64(4 * len(x)))
	b.ReportAllocs()
	for b.Loop() {
		DropoutForward(out, x, d)
	}
}
