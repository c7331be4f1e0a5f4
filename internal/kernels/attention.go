package kernels

import (
	"fmt"
	"math"

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
//	drop                attention-probs dropout; element i of its index space is element i
//	                    of probs
//
// hs = C/NH; C must be divisible by NH. The softmax follows PyTorch's arithmetic (mask
// added to the scaled scores, then max subtraction), so masked keys get exactly 0.
// Per sequence, the two products run as one strided GEMM over the heads (parallel over
// heads) and the softmax is parallel over rows. With dropout active it needs an NH*T*T
// buffer for the dropped probabilities, taken from a pool; AttentionForwardScratch takes
// it from the caller instead.
func AttentionForward(out, probs, q, k, v, maskAdd []float32, B, T, C, NH int, drop Dropout) {
	hs := checkAttentionForward(out, probs, q, k, v, maskAdd, B, T, C, NH, drop)
	if !drop.Active() {
		attentionForward(out, probs, nil, q, k, v, maskAdd, B, T, C, NH, hs, drop)
		return
	}
	buf := getBuf(NH * T * T)
	attentionForward(out, probs, *buf, q, k, v, maskAdd, B, T, C, NH, hs, drop)
	putBuf(buf)
}

// AttentionForwardScratch is AttentionForward with caller-provided scratch of at least
// AttentionScratchSize(B,T,NH) floats (contents destroyed; may be nil when drop is not
// active). The same scratch can serve AttentionBackward.
func AttentionForwardScratch(out, probs, scratch, q, k, v, maskAdd []float32, B, T, C, NH int, drop Dropout) {
	hs := checkAttentionForward(out, probs, q, k, v, maskAdd, B, T, C, NH, drop)
	if drop.Active() {
		need("AttentionForward", "scratch", scratch, NH*T*T)
	}
	attentionForward(out, probs, scratch, q, k, v, maskAdd, B, T, C, NH, hs, drop)
}

func checkAttentionForward(out, probs, q, k, v, maskAdd []float32, B, T, C, NH int, drop Dropout) (hs int) {
	const fn = "AttentionForward"
	hs = checkAttention(fn, B, T, C, NH)
	need(fn, "out", out, B*T*C)
	need(fn, "probs", probs, B*NH*T*T)
	need(fn, "q", q, B*T*C)
	need(fn, "k", k, B*T*C)
	need(fn, "v", v, B*T*C)
	needOpt(fn, "maskAdd", maskAdd, B*T)
	checkDropout(fn, drop)
	return hs
}

// attentionForward is AttentionForward after the argument checks; scratch holds at least
// NH*T*T floats when drop is active.
func attentionForward(out, probs, scratch, q, k, v, maskAdd []float32, B, T, C, NH, hs int, drop Dropout) {
	if B == 0 || T == 0 || C == 0 {
		return
	}
	scale := float32(1 / math.Sqrt(float64(hs)))
	tt := T * T
	m := drop.masker()
	chunk := max(1, 2048/T)
	for b := 0; b < B; b++ {
		qb, kb, vb := q[b*T*C:(b+1)*T*C], k[b*T*C:(b+1)*T*C], v[b*T*C:(b+1)*T*C]
		att := probs[b*NH*tt : (b+1)*NH*tt]
		// scores[h] = scale * q_h·k_hᵀ, all heads of sequence b.
		gemm.SgemmStrided(false, true, NH, T, T, hs, scale, qb, C, hs, kb, C, hs, 0, att, T, tt)
		var mk, p []float32
		if maskAdd != nil {
			mk = maskAdd[b*T : (b+1)*T]
		}
		if drop.Active() {
			p = scratch[:NH*tt]
		}
		base := uint64(b * NH * tt)
		if serial(NH*T, chunk) {
			attentionSoftmaxRows(att, p, mk, m, base, 0, NH*T, T)
		} else {
			parallel.ForArgs(NH*T, chunk, attSoftmaxArgs{att, p, mk, m, base, T}, func(a *attSoftmaxArgs, lo, hi int) {
				attentionSoftmaxRows(a.att, a.p, a.mk, a.m, a.base, lo, hi, a.T)
			})
		}
		pv := att // (a new variable: p is captured by the closure above and must not change)
		if p != nil {
			pv = p
		}
		// out_h = pv_h·v_h, written into the head's columns of out.
		gemm.SgemmStrided(false, false, NH, T, hs, T, 1, pv, T, tt, vb, C, hs, 0, out[b*T*C:(b+1)*T*C], C, hs)
	}
}

// AttentionRowForward is AttentionForward (no dropout) for one query row per
// sequence: the last layer of an inference that reads a single position's output
// (VQA's [MASK]) needs every key and value but only that row's context.
//
//	out     [B,C]      OVERWRITTEN: the query row's context
//	probs   [B,NH,T]   OVERWRITTEN: its post-softmax attention probabilities
//	q       [B,C]      one query row per sequence
//	k, v    [B,T,C]
//	maskAdd [B,T]      additive key mask, or nil
//
// Each row gets the same products, in the same order, as the corresponding row of
// AttentionForward, so the results agree to float32 rounding.
func AttentionRowForward(out, probs, q, k, v, maskAdd []float32, B, T, C, NH int) {
	const fn = "AttentionRowForward"
	hs := checkAttention(fn, B, T, C, NH)
	need(fn, "out", out, B*C)
	need(fn, "probs", probs, B*NH*T)
	need(fn, "q", q, B*C)
	need(fn, "k", k, B*T*C)
	need(fn, "v", v, B*T*C)
	needOpt(fn, "maskAdd", maskAdd, B*T)
	if B == 0 || T == 0 || C == 0 {
		return
	}
	scale := float32(1 / math.Sqrt(float64(hs)))
	for b := 0; b < B; b++ {
		kb, vb := k[b*T*C:(b+1)*T*C], v[b*T*C:(b+1)*T*C]
		att := probs[b*NH*T : (b+1)*NH*T]
		gemm.SgemmStrided(false, true, NH, 1, T, hs, scale, q[b*C:(b+1)*C], C, hs, kb, C, hs, 0, att, T, T)
		var mk []float32
		if maskAdd != nil {
			mk = maskAdd[b*T : (b+1)*T]
		}
		attentionSoftmaxRows(att, nil, mk, masker{}, 0, 0, NH, T)
		gemm.SgemmStrided(false, false, NH, 1, hs, T, 1, att, T, T, vb, C, hs, 0, out[b*C:(b+1)*C], C, hs)
	}
}

// attentionSoftmaxRows adds the key mask to score rows lo..hi, applies the softmax in
// place and, if p is not nil, writes the dropped-out probabilities to p.
func attentionSoftmaxRows(att, p, mk []float32, m masker, base uint64, lo, hi, T int) {
	for r := lo; r < hi; r++ {
		row := att[r*T : (r+1)*T]
		if mk != nil {
			for j := range row {
				row[j] += mk[j]
			}
		}
		softmaxRow(row, row)
		if p != nil {
			m.apply(p[r*T:(r+1)*T], row, base+uint64(r*T))
		}
	}
}

// AttentionScratchSize is the number of floats of scratch that AttentionBackward (and
// AttentionForwardScratch) need.
func AttentionScratchSize(B, T, NH int) int { return 2 * NH * T * T }

// AttentionBackward computes the gradients of AttentionForward, regenerating the dropout
// mask from drop.
//
//	dq, dk, dv [B,T,C]    OVERWRITTEN (each skipped if nil)
//	scratch    AttentionScratchSize(B,T,NH) floats, contents destroyed
//	dout       [B,T,C]
//	q, k, v    [B,T,C]    the forward inputs
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
	pd, ds := scratch[:NH*tt], scratch[NH*tt:2*NH*tt]
	for b := 0; b < B; b++ {
		lo, hi := b*T*C, (b+1)*T*C
		att := probs[b*NH*tt : (b+1)*NH*tt]
		base := uint64(b * NH * tt)
		if dv != nil {
			// dv_h = dropout(p_h)ᵀ·dout_h
			p := att
			if drop.Active() {
				p = pd
				if serial(NH*tt, elemChunk) {
					m.apply(p, att, base)
				} else {
					forMask(NH*tt, elemChunk, p, att, m, base)
				}
			}
			gemm.SgemmStrided(true, false, NH, T, hs, T, 1, p, T, tt, dout[lo:hi], C, hs, 0, dv[lo:hi], C, hs)
		}
		if dq == nil && dk == nil {
			continue
		}
		// dp_h = dout_h·v_hᵀ, back through the dropout and the softmax.
		gemm.SgemmStrided(false, true, NH, T, T, hs, 1, dout[lo:hi], C, hs, v[lo:hi], C, hs, 0, ds, T, tt)
		chunk := max(1, 2048/T)
		if serial(NH*T, chunk) {
			attentionSoftmaxBackRows(ds, att, m, drop.Active(), base, 0, NH*T, T)
		} else {
			parallel.ForArgs(NH*T, chunk, attSoftmaxBackArgs{ds, att, m, drop.Active(), base, T}, func(a *attSoftmaxBackArgs, lo, hi int) {
				attentionSoftmaxBackRows(a.ds, a.att, a.m, a.dropping, a.base, lo, hi, a.T)
			})
		}
		if dq != nil {
			gemm.SgemmStrided(false, false, NH, T, hs, T, scale, ds, T, tt, k[lo:hi], C, hs, 0, dq[lo:hi], C, hs)
		}
		if dk != nil {
			gemm.SgemmStrided(true, false, NH, T, hs, T, scale, ds, T, tt, q[lo:hi], C, hs, 0, dk[lo:hi], C, hs)
		}
	}
}

// attentionSoftmaxBackRows turns rows lo..hi of ds from d(dropped probs) into d(scores):
// through the dropout mask (if active), then through the softmax.
func attentionSoftmaxBackRows(ds, att []float32, m masker, dropping bool, base uint64, lo, hi, T int) {
	for r := lo; r < hi; r++ {
		d := ds[r*T : (r+1)*T]
		if dropping {
			m.apply(d, d, base+uint64(r*T))
		}
		softmaxBackRow(d, att[r*T:(r+1)*T], d)
	}
}

func checkAttention(fn string, B, T, C, NH int) int {
	nonNeg(fn, B, T, C, NH)
	if NH <= 0 || C%NH != 0 {
		panic(fmt.Sprintf("kernels: %s: C=%d is not divisible by NH=%d", fn, C, NH))
	}
	return C / NH
}

// bufPool recycles per-worker scratch so that steady-state calls do not allocate.
var bufPool parallel.FreeList[[]float32]

// getBuf returns a scratch buffer of at least n floats; putBuf gives it back.
func getBuf(n int) *[]float32 {
	p := bufPool.Get()
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	return p
}

func putBuf(p *[]float32) { bufPool.Put(p) }

// attSoftmaxArgs carries attentionSoftmaxRows' inputs to parallel.ForArgs.
type attSoftmaxArgs struct {
	att, p, mk []float32
	m          masker
	base       uint64
	T          int
}

// attSoftmaxBackArgs carries attentionSoftmaxBackRows' inputs to parallel.ForArgs.
type attSoftmaxBackArgs struct {
	ds, att  []float32
	m        masker
	dropping bool
	base     uint64
	T        int
}
