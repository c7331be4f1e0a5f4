package kernels

import (
	"fmt"
	"math"
	"sync"

	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/parallel"
)

// AttentionForward is BERT's multi-head scaled dot-product self-attention core (after the
// Q, K, V projections, before the output projection).
//
//	out     [B,T,C]     overwritten: per head, dropout(probs)·v
//	probs   [B,NH,T,T]  overwritten: softmax(q·kᵀ/sqrt(hs) + maskAdd) — post-softmax,
//	                    PRE-dropout (saved for backward; what output_attention_probs returns)
//	q, k, v [B,T,C]     heads interleaved in C: head h owns columns h*hs..(h+1)*hs
//	maskAdd [B,T]       additive over keys (0 for real tokens, -10000 for padding, as
//	                    BERT's (1-mask)*-10000); nil means no mask
//	drop                attention-probs dropout; element i of the dropout index space is
//	                    element i of probs
//
// hs = C/NH; C must be divisible by NH. The softmax follows PyTorch's arithmetic (mask
// added to the scaled scores, then max subtraction), so masked keys get exactly 0.
// Parallel over (b, head); uses a pooled T*T buffer per worker when dropout is active.
func AttentionForward(out, probs, q, k, v, maskAdd []float32, B, T, C, NH int, drop Dropout) {
	const fn = "AttentionForward"
	hs := checkAttention(fn, B, T, C, NH)
	need(fn, "out", out, B*T*C)
	need(fn, "probs", probs, B*NH*T*T)
	need(fn, "q", q, B*T*C)
	need(fn, "k", k, B*T*C)
	need(fn, "v", v, B*T*C)
	needOpt(fn, "maskAdd", maskAdd, B*T)
	checkDropout(fn, drop)
	if B == 0 || T == 0 || C == 0 {
		return
	}
	scale := float32(1 / math.Sqrt(float64(hs)))
	m := drop.masker()
	parallel.For(B*NH, 1, func(lo, hi int) {
		var buf *[]float32
		if drop.Active() {
			buf = getBuf(T * T)
			defer putBuf(buf)
		}
		for bh := lo; bh < hi; bh++ {
			b, h := bh/NH, bh%NH
			off := b*T*C + h*hs
			att := probs[bh*T*T : (bh+1)*T*T]
			gemm.Sgemm(false, true, T, T, hs, scale, q[off:], C, k[off:], C, 0, att, T)
			for t := 0; t < T; t++ {
				row := att[t*T : (t+1)*T]
				if maskAdd != nil {
					mk := maskAdd[b*T : (b+1)*T]
					for j := range row {
						row[j] += mk[j]
					}
				}
				softmaxRow(row, row)
			}
			p := att
			if drop.Active() {
				p = (*buf)[:T*T]
				base := uint64(bh * T * T)
				for i, a := range att {
					p[i] = a * m.factor(base+uint64(i))
				}
			}
			gemm.Sgemm(false, false, T, hs, T, 1, p, T, v[off:], C, 0, out[off:], C)
		}
	})
}

// AttentionScratchSize is the number of floats AttentionBackward needs as scratch.
func AttentionScratchSize(B, T, NH int) int { return 2 * B * NH * T * T }

// AttentionBackward computes the gradients of AttentionForward, regenerating the dropout
// mask from drop.
//
//	dq, dk, dv [B,T,C]   OVERWRITTEN (each skipped if nil)
//	scratch    AttentionScratchSize(B,T,NH) floats, contents destroyed
//	dout       [B,T,C]
//	q, k, v    [B,T,C]   the forward inputs
//	probs      [B,NH,T,T] the forward's probs
//
// The mask needs no gradient; the softmax backward uses the saved probabilities, so it is
// exact for masked keys too (their probability and gradient are 0).
func AttentionBackward(dq, dk, dv, scratch, dout, q, k, v, probs []float32, B, T, C, NH int, drop Dropout) {
	const fn = "AttentionBackward"
	hs := checkAttention(fn, B, T, C, NH)
	needOpt(fn, "dq", dq, B*T*C)
	needOpt(fn, "dk", dk, B*T*C)
	needOpt(fn, "dv", dv, B*T*C)
	need(fn, "scratch", scratch, AttentionScratchSize(B, T, NH))
	need(fn, "dout", dout, B*T*C)
	need(fn, "q", q, B*T*C)
	need(fn, "k", k, B*T*C)
	need(fn, "v", v, B*T*C)
	need(fn, "probs", probs, B*NH*T*T)
	checkDropout(fn, drop)
	if B == 0 || T == 0 || C == 0 || (dq == nil && dk == nil && dv == nil) {
		return
	}
	scale := float32(1 / math.Sqrt(float64(hs)))
	m := drop.masker()
	tt := T * T
	parallel.For(B*NH, 1, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/NH, bh%NH
			off := b*T*C + h*hs
			att := probs[bh*tt : (bh+1)*tt]
			base := uint64(bh * tt)
			if dv != nil {
				// dv = dropout(att)ᵀ · dout
				p := att
				if drop.Active() {
					p = scratch[2*bh*tt : (2*bh+1)*tt]
					for i, a := range att {
						p[i] = a * m.factor(base+uint64(i))
					}
				}
				gemm.Sgemm(true, false, T, hs, T, 1, p, T, dout[off:], C, 0, dv[off:], C)
			}
			if dq == nil && dk == nil {
				continue
			}
			// datt = dout · vᵀ, through the dropout, then through the softmax.
			ds := scratch[(2*bh+1)*tt : (2*bh+2)*tt]
			gemm.Sgemm(false, true, T, T, hs, 1, dout[off:], C, v[off:], C, 0, ds, T)
			if drop.Active() {
				for i := range ds {
					ds[i] *= m.factor(base + uint64(i))
				}
			}
			for t := 0; t < T; t++ {
				softmaxBackRow(ds[t*T:(t+1)*T], att[t*T:(t+1)*T], ds[t*T:(t+1)*T])
			}
			if dq != nil {
				gemm.Sgemm(false, false, T, hs, T, scale, ds, T, k[off:], C, 0, dq[off:], C)
			}
			if dk != nil {
				gemm.Sgemm(true, false, T, hs, T, scale, ds, T, q[off:], C, 0, dk[off:], C)
			}
		}
	})
}

func checkAttention(fn string, B, T, C, NH int) int {
	nonNeg(fn, B, T, C, NH)
	if NH <= 0 || C%NH != 0 {
		panic(fmt.Sprintf("kernels: %s: C=%d is not divisible by NH=%d", fn, C, NH))
	}
	return C / NH
}

// bufPool recycles per-worker scratch so that steady-state calls do not allocate.
var bufPool sync.Pool

func getBuf(n int) *[]float32 {
	if p, ok := bufPool.Get().(*[]float32); ok && cap(*p) >= n {
		return p
	}
	s := make([]float32, n)
	return &s
}

func putBuf(p *[]float32) { bufPool.Put(p) }
