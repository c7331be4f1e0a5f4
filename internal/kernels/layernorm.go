package kernels

import (
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// BertLayerNormEps is the epsilon of every LayerNorm in BERT and VL-BERT.
const BertLayerNormEps = 1e-12

// LayerNormForward normalizes each row over its C channels (BERT's LayerNorm: biased
// variance, eps inside the square root) and applies the affine transform.
//
//	out    [N,C] overwritten: (inp-mean)*rstd*weight + bias
//	mean   [N]   overwritten (saved for backward; may be nil for inference)
//	rstd   [N]   overwritten, 1/sqrt(var+eps) (saved for backward; may be nil)
//	inp    [N,C]
//	weight [C], bias [C]
//
// out may alias inp. Statistics accumulate in float64.
func LayerNormForward(out, mean, rstd, inp, weight, bias []float32, N, C int, eps float32) {
	const fn = "LayerNormForward"
	nonNeg(fn, N, C)
	need(fn, "out", out, N*C)
	needOpt(fn, "mean", mean, N)
	needOpt(fn, "rstd", rstd, N)
	need(fn, "inp", inp, N*C)
	need(fn, "weight", weight, C)
	need(fn, "bias", bias, C)
	if C == 0 {
		return
	}
	if serial(N, rowChunk(C)) {
		layerNormRows(out, mean, rstd, inp, weight, bias, 0, N, C, eps)
		return
	}
	parallel.ForArgs(N, rowChunk(C), lnArgs{out, mean, rstd, inp, weight, bias, N, C, eps}, func(a *lnArgs, lo, hi int) {
		layerNormRows(a.out, a.mean, a.rstd, a.inp, a.weight, a.bias, lo, hi, a.C, a.eps)
	})
}

// AddLayerNormForward is the post-LN residual of a BERT layer in one pass over each
// row: res = a + b, then out = LayerNormForward(res). It gives exactly what Add
// followed by LayerNormForward gives, without a second pass over the [N,C] tensor.
//
//	out, res [N,C] overwritten (res is saved for backward)
//	mean, rstd [N] overwritten (may be nil)
//	a, b     [N,C]
//	weight [C], bias [C]
func AddLayerNormForward(out, mean, rstd, res, a, b, weight, bias []float32, N, C int, eps float32) {
	const fn = "AddLayerNormForward"
	nonNeg(fn, N, C)
	need(fn, "out", out, N*C)
	need(fn, "res", res, N*C)
	needOpt(fn, "mean", mean, N)
	needOpt(fn, "rstd", rstd, N)
	need(fn, "a", a, N*C)
	need(fn, "b", b, N*C)
	need(fn, "weight", weight, C)
	need(fn, "bias", bias, C)
	if C == 0 {
		return
	}
	args := addLNArgs{lnArgs{out, mean, rstd, res, weight, bias, N, C, eps}, a, b}
	if serial(N, rowChunk(C)) {
		addLayerNormRows(&args, 0, N)
		return
	}
	parallel.ForArgs(N, rowChunk(C), args, func(a *addLNArgs, lo, hi int) { addLayerNormRows(a, lo, hi) })
}

type addLNArgs struct {
	lnArgs // inp is res
	a, b   []float32
}

func addLayerNormRows(r *addLNArgs, lo, hi int) {
	C := r.C
	for n := lo; n < hi; n++ {
		addRange(r.inp[n*C:(n+1)*C], r.a[n*C:(n+1)*C], r.b[n*C:(n+1)*C])
		layerNormRows(r.out, r.mean, r.rstd, r.inp, r.weight, r.bias, n, n+1, C, r.eps)
	}
}

func layerNormRows(out, mean, rstd, inp, weight, bias []float32, lo, hi, C int, eps float32) {
	weight, bias = weight[:C], bias[:C]
	for n := lo; n < hi; n++ {
		x := inp[n*C : (n+1)*C]
		m, rs := rowStats(x, eps)
		if mean != nil {
			mean[n] = m
		}
		if rstd != nil {
			rstd[n] = rs
		}
		o := out[n*C : (n+1)*C]
		for i, v := range x {
			o[i] = (v-m)*rs*weight[i] + bias[i]
		}
	}
}

// rowStats returns the mean and 1/sqrt(biased variance + eps) of x.
func rowStats(x []float32, eps float32) (mean, rstd float32) {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	m := (s0 + s1 + s2 + s3) / float64(len(x))
	var v0, v1, v2, v3 float64
	i = 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1 := float64(x[i])-m, float64(x[i+1])-m
		d2, d3 := float64(x[i+2])-m, float64(x[i+3])-m
		v0 += d0 * d0
		v1 += d1 * d1
		v2 += d2 * d2
		v3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - m
		v0 += d * d
	}
	v := (v0 + v1 + v2 + v3) / float64(len(x))
	return float32(m), float32(1 / math.Sqrt(v+float64(eps)))
}

// LayerNormBackward computes the gradients of LayerNormForward from the saved mean and rstd.
//
//	dinp    [N,C] OVERWRITTEN (skipped if nil); may alias dout
//	dweight [C]   ACCUMULATED += Σ_n dout*xhat (skipped if nil)
//	dbias   [C]   ACCUMULATED += Σ_n dout      (skipped if nil)
//	dout    [N,C], inp [N,C], weight [C], mean [N], rstd [N]
//
// dinp = rstd*(g - mean(g) - xhat*mean(g*xhat)) with g = dout*weight, xhat = (inp-mean)*rstd.
// The parameter gradients are reduced per column in row order (parallel over columns),
// so they do not depend on the thread count.
func LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd []float32, N, C int) {
	const fn = "LayerNormBackward"
	nonNeg(fn, N, C)
	needOpt(fn, "dinp", dinp, N*C)
	needOpt(fn, "dweight", dweight, C)
	needOpt(fn, "dbias", dbias, C)
	need(fn, "dout", dout, N*C)
	need(fn, "inp", inp, N*C)
	need(fn, "weight", weight, C)
	need(fn, "mean", mean, N)
	need(fn, "rstd", rstd, N)
	if C == 0 || N == 0 {
		return
	}
	// Parameter gradients first: dinp may alias dout.
	if dweight != nil || dbias != nil {
		nblocks := (C + colBlock - 1) / colBlock
		if serial(nblocks, 1) {
			layerNormParamGrads(dweight, dbias, dout, inp, mean, rstd, N, C, 0, nblocks)
		} else {
			parallel.ForArgs(nblocks, 1, lnParamArgs{dweight, dbias, dout, inp, mean, rstd, N, C}, func(a *lnParamArgs, lo, hi int) {
				layerNormParamGrads(a.dweight, a.dbias, a.dout, a.inp, a.mean, a.rstd, a.N, a.C, lo, hi)
			})
		}
	}
	if dinp == nil {
		return
	}
	if serial(N, rowChunk(C)) {
		layerNormBackRows(dinp, dout, inp, weight, mean, rstd, 0, N, C)
		return
	}
	parallel.ForArgs(N, rowChunk(C), lnArgs{dinp, mean, rstd, inp, weight, dout, N, C, 0}, func(a *lnArgs, lo, hi int) {
		layerNormBackRows(a.out, a.bias, a.inp, a.weight, a.mean, a.rstd, lo, hi, a.C)
	})
}

// layerNormParamGrads accumulates dweight and dbias for column blocks lo..hi, summing
// each column over rows in order into a local block before adding it.
func layerNormParamGrads(dweight, dbias, dout, inp, mean, rstd []float32, N, C, lo, hi int) {
	var accW, accB [colBlock]float32
	for bl := lo; bl < hi; bl++ {
		c0, c1 := bl*colBlock, min((bl+1)*colBlock, C)
		aw, ab := accW[:c1-c0], accB[:c1-c0]
		clear(aw)
		clear(ab)
		for n := 0; n < N; n++ {
			m, rs := mean[n], rstd[n]
			d := dout[n*C+c0 : n*C+c1]
			x := inp[n*C+c0 : n*C+c1]
			for j, g := range d {
				aw[j] += g * ((x[j] - m) * rs)
				ab[j] += g
			}
		}
		if dweight != nil {
			w := dweight[c0:c1]
			for j := range w {
				w[j] += aw[j]
			}
		}
		if dbias != nil {
			b := dbias[c0:c1]
			for j := range b {
				b[j] += ab[j]
			}
		}
	}
}

func layerNormBackRows(dinp, dout, inp, weight, mean, rstd []float32, lo, hi, C int) {
	weight = weight[:C]
	for n := lo; n < hi; n++ {
		m, rs := mean[n], rstd[n]
		d := dout[n*C : (n+1)*C]
		x := inp[n*C : (n+1)*C]
		var sg, sgx float64
		for i, g := range d {
			gw := g * weight[i]
			sg += float64(gw)
			sgx += float64(gw * ((x[i] - m) * rs))
		}
		meanG := float32(sg / float64(C))
		meanGX := float32(sgx / float64(C))
		o := dinp[n*C : (n+1)*C]
		for i, g := range d {
			xhat := (x[i] - m) * rs
			o[i] = rs * (g*weight[i] - meanG - xhat*meanGX)
		}
	}
}

// lnArgs carries the layer norm loops' inputs to parallel.ForArgs (out, bias hold
// dinp/dweight and dout/dbias in the backward).
type lnArgs struct {
	out, mean, rstd, inp, weight, bias []float32
	N, C                               int
	eps                                float32
}

// lnParamArgs carries layerNormParamGrads' inputs to parallel.ForArgs.
type lnParamArgs struct {
	dweight, dbias, dout, inp, mean, rstd []float32
	N, C                                  int
}
