package kernels

import (
	"fmt"
	"math"
)

// Dropout describes one dropout site: elements are zeroed with probability P and the
// kept ones scaled by 1/(1-P). P == 0 is the identity (evaluation mode).
//
// The keep decision of element i is a pure function of (Seed, i) — a counter-based hash
// (splitmix64) — so backward regenerates the mask from the same Dropout value instead of
// storing it, and results do not depend on the thread count. Every dropout site and every
// step needs its own Seed (use Fork); i is the index within the slice passed to the kernel.
type Dropout struct {
	P    float32
	Seed uint64
}

const golden64 = 0x9E3779B97F4A7C15

// mix64 is splitmix64's finalizer: a bijection of uint64 with good avalanche.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Fork derives the Dropout of a sub-site (a layer, a step, a micro-batch): same P,
// a seed that is a hash of (d.Seed, stream). Fork(a).Fork(b) differs from Fork(b).Fork(a).
func (d Dropout) Fork(stream uint64) Dropout {
	return Dropout{P: d.P, Seed: mix64(mix64(d.Seed+golden64) ^ (stream * 0xD6E8FEB86659FD93))}
}

// Active reports whether d changes its input (P > 0).
func (d Dropout) Active() bool { return d.P > 0 }

// Scale is the factor applied to kept elements, 1/(1-P) (0 when P == 1).
func (d Dropout) Scale() float32 {
	if d.P >= 1 {
		return 0
	}
	return 1 / (1 - d.P)
}

// Keep reports whether element i is kept.
func (d Dropout) Keep(i int) bool {
	m := d.masker()
	return m.keep(uint64(i))
}

// masker holds what the per-element keep test needs, hoisted out of loops.
//
// Elements 2j and 2j+1 share one 64-bit hash h_j = splitmix64(key + (j+1)·γ): the high
// 32 bits decide element 2j, the low 32 bits element 2j+1. A 32-bit value u is uniform on
// [0, 2^32); the element is kept iff u >= ceil(P·2^32), i.e. with probability 1-P.
type masker struct {
	key   uint64 // hash of the seed
	thr   uint64 // keep iff the element's 32-bit value is >= thr
	scale float32
}

func (d Dropout) masker() masker {
	thr := uint64(math.Ceil(float64(d.P) * (1 << 32)))
	return masker{key: mix64(d.Seed ^ 0x6A09E667F3BCC909), thr: thr, scale: d.Scale()}
}

// pair returns the hash that decides elements 2j and 2j+1.
func (m masker) pair(j uint64) uint64 { return mix64(m.key + (j+1)*golden64) }

func (m masker) keep(i uint64) bool {
	h := m.pair(i >> 1)
	if i&1 == 0 {
		h >>= 32
	}
	return h&0xFFFFFFFF >= m.thr
}

// factor returns scale for a kept element and 0 for a dropped one.
func (m masker) factor(i uint64) float32 {
	if m.keep(i) {
		return m.scale
	}
	return 0
}

func checkDropout(fn string, d Dropout) {
	if !(d.P >= 0 && d.P <= 1) {
		panic(fmt.Sprintf("kernels: %s: dropout probability %v outside [0,1]", fn, d.P))
	}
}

// DropoutForward sets out[i] = inp[i]*keep(i)/(1-P) for the n = len(inp) elements.
// len(out) must equal len(inp); out may alias inp. P == 0 copies.
func DropoutForward(out, inp []float32, d Dropout) {
	sameLen("DropoutForward", "out", out, "inp", inp)
	checkDropout("DropoutForward", d)
	dropoutApply(out, inp, d, 0)
}

// DropoutBackward sets dinp[i] = dout[i]*keep(i)/(1-P) (overwritten), regenerating the mask
// of the DropoutForward call with the same d. dinp may alias dout. A nil dinp is skipped.
func DropoutBackward(dinp, dout []float32, d Dropout) {
	if dinp == nil {
		return
	}
	sameLen("DropoutBackward", "dinp", dinp, "dout", dout)
	checkDropout("DropoutBackward", d)
	dropoutApply(dinp, dout, d, 0)
}

// dropoutApply writes dst[i] = src[i]*factor(base+i); forward and backward are the same map.
func dropoutApply(dst, src []float32, d Dropout, base uint64) {
	if len(src) == 0 {
		return
	}
	if d.P == 0 {
		if &dst[0] != &src[0] {
			copy(dst, src)
		}
		return
	}
	m := d.masker()
	if serial(len(src), elemChunk) {
		m.apply(dst, src, base)
		return
	}
	forMask(len(src), elemChunk, dst, src, m, base)
}

// apply writes o[i] = s[i]*factor(base+i), one hash per pair of elements.
func (m masker) apply(o, s []float32, base uint64) {
	o = o[:len(s)]
	i := 0
	if base&1 == 1 && len(s) > 0 {
		o[0] = s[0] * m.factor(base)
		i = 1
	}
	if useAVX2 && m.thr <= math.MaxUint32 {
		if n8 := (len(s) - i) &^ 7; n8 > 0 {
			j0 := (base + uint64(i)) >> 1
			var z0 [4]uint64
			g := uint64(golden64)
			for l := range z0 {
				z0[l] = m.key + (j0+uint64(l)+1)*g
			}
			dropoutAVX2(&o[i], &s[i], n8, &z0, 4*g, m.thr, m.scale)
			i += n8
		}
	}
	sb := math.Float32bits(m.scale)
	for ; i+1 < len(s); i += 2 {
		h := m.pair((base + uint64(i)) >> 1)
		// Branch-free: (u - thr) >> 63 is 1 exactly when u < thr (u, thr < 2^33), which
		// turns the scale's bits into 0.
		f0 := math.Float32frombits(sb & (uint32((h>>32-m.thr)>>63) - 1))
		f1 := math.Float32frombits(sb & (uint32((h&0xFFFFFFFF-m.thr)>>63) - 1))
		o[i], o[i+1] = s[i]*f0, s[i+1]*f1
	}
	if i < len(s) {
		o[i] = s[i] * m.factor(base+uint64(i))
	}
}
