package kernels

import (
	"math"
	"testing"
)

// attention64 is the float64 reference of AttentionForward; it returns out and probs.
func attention64(q, k, v []float64, mask []float32, B, T, C, NH int, d Dropout) (out, probs []float64) {
	hs := C / NH
	out, probs = make([]float64, B*T*C), make([]float64, B*NH*T*T)
	scale := 1 / math.Sqrt(float64(hs))
	for b := 0; b < B; b++ {
		for h := 0; h < NH; h++ {
			bh := b*NH + h
			for t := 0; t < T; t++ {
				row := probs[(bh*T+t)*T : (bh*T+t+1)*T]
				mx := math.Inf(-1)
				for j := range row {
					s := 0.0
					for c := 0; c < hs; c++ {
						s += q[(b*T+t)*C+h*hs+c] * k[(b*T+j)*C+h*hs+c]
					}
					s *= scale
					if mask != nil {
						s += float64(mask[b*T+j])
					}
					row[j] = s
					mx = max(mx, s)
				}
				sum := 0.0
				for j := range row {
					row[j] = math.Exp(row[j] - mx)
					sum += row[j]
				}
				for j := range row {
					row[j] /= sum
				}
				for c := 0; c < hs; c++ {
					s := 0.0
					for j, p := range row {
						if d.P > 0 {
							if !d.Keep((bh*T+t)*T + j) {
								continue
							}
							p /= 1 - float64(d.P)
						}
						s += p * v[(b*T+j)*C+h*hs+c]
					}
					out[(b*T+t)*C+h*hs+c] = s
				}
			}
		}
	}
	return out, probs
}

// paddingMask returns BERT's additive mask for sequences of the given lengths.
func paddingMask(lengths []int, T int) []float32 {
	m := make([]float32, len(lengths)*T)
	for b, n := range lengths {
		for j := n; j < T; j++ {
			m[b*T+j] = -10000
		}
	}
	return m
}

func TestAttentionForward(t *testing.T) {
	r := newRand(60)
	B, T, C, NH := 2, 5, 12, 3
	q, k, v := randn(r, B*T*C, 1), randn(r, B*T*C, 1), randn(r, B*T*C, 1)
	for _, tc := range []struct {
		name string
		mask []float32
		drop Dropout
	}{
		{"plain", nil, Dropout{}},
		{"mask", paddingMask([]int{3, 5}, T), Dropout{}},
		{"mask+dropout", paddingMask([]int{5, 2}, T), Dropout{P: 0.4, Seed: 5}},
	} {
		out, probs := nan32(B*T*C), nan32(B*NH*T*T)
		AttentionForward(out, probs, q, k, v, tc.mask, B, T, C, NH, tc.drop)
		wantOut, wantProbs := attention64(to64(q), to64(k), to64(v), tc.mask, B, T, C, NH, tc.drop)
		checkClose(t, tc.name+" probs", probs, wantProbs, 1e-6, 1e-5)
		checkClose(t, tc.name+" out", out, wantOut, 1e-5, 1e-5)
		// Masked keys get exactly zero probability, rows sum to 1.
		for b := 0; b < B; b++ {
			for row := 0; row < NH*T; row++ {
				p := probs[(b*NH*T+row)*T : (b*NH*T+row+1)*T]
				sum := 0.0
				for j, x := range p {
					sum += float64(x)
					if tc.mask != nil && tc.mask[b*T+j] != 0 && x != 0 {
						t.Fatalf("%s: masked key %d has probability %g", tc.name, j, x)
					}
				}
				if math.Abs(sum-1) > 1e-6 {
					t.Fatalf("%s: row sums to %g", tc.name, sum)
				}
			}
		}
	}
}

func TestAttentionBackwardGradCheck(t *testing.T) {
	r := newRand(61)
	B, T, C, NH := 2, 4, 6, 2
	q, k, v := randn(r, B*T*C, 1), randn(r, B*T*C, 1), randn(r, B*T*C, 1)
	g := randn(r, B*T*C, 1)
	for _, tc := range []struct {
		name string
		mask []float32
		drop Dropout
	}{
		{"plain", nil, Dropout{}},
		{"mask+dropout", paddingMask([]int{3, 4}, T), Dropout{P: 0.3, Seed: 11}},
	} {
		q64, k64, v64 := to64(q), to64(k), to64(v)
		loss := func() float64 {
			out, _ := attention64(q64, k64, v64, tc.mask, B, T, C, NH, tc.drop)
			return dot64(g, out)
		}
		out, probs := make([]float32, B*T*C), make([]float32, B*NH*T*T)
		AttentionForward(out, probs, q, k, v, tc.mask, B, T, C, NH, tc.drop)
		dq, dk, dv := nan32(B*T*C), nan32(B*T*C), nan32(B*T*C)
		scratch := nan32(AttentionScratchSize(B, T, NH))
		AttentionBackward(dq, dk, dv, scratch, g, q, k, v, probs, B, T, C, NH, tc.drop)
		checkClose(t, tc.name+" dq", dq, fdGrad(loss, q64, 1e-4), 1e-4, 1e-3)
		checkClose(t, tc.name+" dk", dk, fdGrad(loss, k64, 1e-4), 1e-4, 1e-3)
		checkClose(t, tc.name+" dv", dv, fdGrad(loss, v64, 1e-4), 1e-4, 1e-3)

		// Overwritten, not accumulated; nil destinations are skipped.
		dq2, dk2 := nan32(B*T*C), nan32(B*T*C)
		AttentionBackward(dq2, nil, nil, scratch, g, q, k, v, probs, B, T, C, NH, tc.drop)
		AttentionBackward(nil, dk2, nil, scratch, g, q, k, v, probs, B, T, C, NH, tc.drop)
		checkEqual(t, "dq alone", dq2, dq)
		checkEqual(t, "dk alone", dk2, dk)
		dv2 := nan32(B * T * C)
		AttentionBackward(nil, nil, dv2, scratch, g, q, k, v, probs, B, T, C, NH, tc.drop)
		checkEqual(t, "dv alone", dv2, dv)
	}
}

func TestAttentionThreadInvariant(t *testing.T) {
	r := newRand(62)
	// Large enough that the row-parallel softmax and the dropout pass split across workers.
	B, T, C, NH := 3, 72, 64, 8
	q, k, v, g := randn(r, B*T*C, 1), randn(r, B*T*C, 1), randn(r, B*T*C, 1), randn(r, B*T*C, 1)
	mask := paddingMask([]int{72, 9, 1}, T)
	drop := Dropout{P: 0.1, Seed: 99}
	checkThreadInvariant(t, "attention", func() [][]float32 {
		out, probs := make([]float32, B*T*C), make([]float32, B*NH*T*T)
		AttentionForward(out, probs, q, k, v, mask, B, T, C, NH, drop)
		dq, dk, dv := make([]float32, B*T*C), make([]float32, B*T*C), make([]float32, B*T*C)
		AttentionBackward(dq, dk, dv, make([]float32, AttentionScratchSize(B, T, NH)), g, q, k, v, probs, B, T, C, NH, drop)
		return [][]float32{out, probs, dq, dk, dv}
	})
}

func TestAttentionPanics(t *testing.T) {
	s := make([]float32, 1000)
	mustPanic(t, "C=10 is not divisible by NH=3", func() { AttentionForward(s, s, s, s, s, nil, 2, 4, 10, 3, Dropout{}) })
	mustPanic(t, "probs has 10", func() { AttentionForward(s, s[:10], s, s, s, nil, 2, 4, 8, 2, Dropout{}) })
	mustPanic(t, "maskAdd has 7", func() { AttentionForward(s, s, s, s, s, s[:7], 2, 4, 8, 2, Dropout{}) })
	mustPanic(t, "scratch", func() { AttentionBackward(s, s, s, s[:10], s, s, s, s, s, 2, 4, 8, 2, Dropout{}) })
}

func TestAttentionForwardScratch(t *testing.T) {
	r := newRand(63)
	B, T, C, NH := 2, 6, 8, 2
	q, k, v := randn(r, B*T*C, 1), randn(r, B*T*C, 1), randn(r, B*T*C, 1)
	mask := paddingMask([]int{4, 6}, T)
	for _, drop := range []Dropout{{}, {P: 0.2, Seed: 4}} {
		o1, p1 := make([]float32, B*T*C), make([]float32, B*NH*T*T)
		o2, p2 := nan32(B*T*C), nan32(B*NH*T*T)
		AttentionForward(o1, p1, q, k, v, mask, B, T, C, NH, drop)
		AttentionForwardScratch(o2, p2, nan32(AttentionScratchSize(B, T, NH)), q, k, v, mask, B, T, C, NH, drop)
		checkEqual(t, "out", o2, o1)
		checkEqual(t, "probs", p2, p1)
	}
	s := make([]float32, 1000)
	mustPanic(t, "scratch has 10", func() {
		AttentionForwardScratch(s, s, s[:10], s, s, s, nil, B, T, C, NH, Dropout{P: 0.1})
	})
}

// AttentionRowForward must give, for each sequence's chosen query row, what the
// full AttentionForward gives for that row (the float64 reference).
func TestAttentionRowForward(t *testing.T) {
	r := newRand(61)
	B, T, C, NH := 3, 7, 12, 3
	q, k, v := randn(r, B*T*C, 1), randn(r, B*T*C, 1), randn(r, B*T*C, 1)
	mask := paddingMask([]int{4, 7, 1}, T)
	rows := []int{2, 6, 0}
	wantOut, wantProbs := attention64(to64(q), to64(k), to64(v), mask, B, T, C, NH, Dropout{})
	qr := make([]float32, B*C)
	for b, pos := range rows {
		copy(qr[b*C:(b+1)*C], q[(b*T+pos)*C:(b*T+pos+1)*C])
	}
	out, probs := nan32(B*C), nan32(B*NH*T)
	AttentionRowForward(out, probs, qr, k, v, mask, B, T, C, NH)
	var wo, wp []float64
	for b, pos := range rows {
		wo = append(wo, wantOut[(b*T+pos)*C:(b*T+pos+1)*C]...)
		for h := 0; h < NH; h++ {
			i := ((b*NH+h)*T + pos) * T
			wp = append(wp, wantProbs[i:i+T]...)
		}
	}
	checkClose(t, "row probs", probs, wp, 1e-6, 1e-5)
	checkClose(t, "row out", out, wo, 1e-5, 1e-5)
	// Same products as AttentionForward's row: equal to float32 rounding.
	full, fullProbs := nan32(B*T*C), nan32(B*NH*T*T)
	AttentionForward(full, fullProbs, q, k, v, mask, B, T, C, NH, Dropout{})
	for b, pos := range rows {
		for c := 0; c < C; c++ {
			if d := math.Abs(float64(out[b*C+c] - full[(b*T+pos)*C+c])); d > 1e-6 {
				t.Fatalf("sequence %d: row context differs from AttentionForward by %g", b, d)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("short q did not panic")
		}
	}()
	AttentionRowForward(out, probs, qr[:C], k, v, mask, B, T, C, NH)
}
