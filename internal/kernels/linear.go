package kernels

import (
	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/parallel"
)

// LinearForward computes out = inp·weightᵀ + bias (PyTorch nn.Linear).
//
//	out    [N,outDim]  overwritten
//	inp    [N,in]
//	weight [outDim,in] (PyTorch layout)
//	bias   [outDim]    may be nil (no bias)
func LinearForward(out, inp, weight, bias []float32, N, in, outDim int) {
	const fn = "LinearForward"
	nonNeg(fn, N, in, outDim)
	need(fn, "out", out, N*outDim)
	need(fn, "inp", inp, N*in)
	need(fn, "weight", weight, outDim*in)
	needOpt(fn, "bias", bias, outDim)
	if N == 0 || outDim == 0 {
		return
	}
	if bias != nil {
		bias = bias[:outDim]
	}
	// The bias goes in while each panel of out is still in cache (same rounding as a
	// separate pass: the sum is rounded, then the bias added).
	gemm.SgemmBias(false, true, N, outDim, in, 1, inp, max(in, 1), weight, max(in, 1), 0, out, outDim, bias)
}

// LinearBackward computes the gradients of LinearForward.
//
//	dinp    [N,in]       OVERWRITTEN with dout·weight (skipped if nil)
//	dweight [outDim,in]  ACCUMULATED += doutᵀ·inp     (skipped if nil)
//	dbias   [outDim]     ACCUMULATED += Σ_n dout[n,:]  (skipped if nil)
//	dout    [N,outDim]
//	inp     [N,in]
//	weight  [outDim,in]
//
// The bias gradient sums each column over rows in order and then adds the sum, so it is
// independent of the thread count.
func LinearBackward(dinp, dweight, dbias, dout, inp, weight []float32, N, in, outDim int) {
	linearBackward("LinearBackward", 0, dinp, dweight, dbias, dout, inp, weight, N, in, outDim)
}

// LinearBackwardAcc is LinearBackward with dinp ACCUMULATED (+= dout·weight) instead
// of overwritten: several layers that read the same input (attention's Q, K and V)
// sum their input gradients without a temporary and an Add pass each.
func LinearBackwardAcc(dinp, dweight, dbias, dout, inp, weight []float32, N, in, outDim int) {
	linearBackward("LinearBackwardAcc", 1, dinp, dweight, dbias, dout, inp, weight, N, in, outDim)
}

// linearBackward is LinearBackward with dinp = dout·weight + beta*dinp.
func linearBackward(fn string, beta float32, dinp, dweight, dbias, dout, inp, weight []float32, N, in, outDim int) {
	nonNeg(fn, N, in, outDim)
	needOpt(fn, "dinp", dinp, N*in)
	needOpt(fn, "dweight", dweight, outDim*in)
	needOpt(fn, "dbias", dbias, outDim)
	need(fn, "dout", dout, N*outDim)
	if dweight != nil {
		need(fn, "inp", inp, N*in)
	}
	if dinp != nil {
		need(fn, "weight", weight, outDim*in)
	}
	if dinp != nil && N > 0 && in > 0 {
		gemm.Sgemm(false, false, N, in, outDim, 1, dout, max(outDim, 1), weight, in, beta, dinp, in)
	}
	if dweight != nil && outDim > 0 && in > 0 && N > 0 {
		gemm.Sgemm(true, false, outDim, in, N, 1, dout, outDim, inp, in, 1, dweight, in)
	}
	if dbias != nil {
		colSumAdd(dbias[:outDim], dout, N, outDim)
	}
}

// colSumAdd adds Σ_n m[n,j] to dst[j] for the [N,cols] matrix m, summing each column
// in row order into a local block before adding, parallel over column blocks.
func colSumAdd(dst, m []float32, N, cols int) {
	nblocks := (cols + colBlock - 1) / colBlock
	chunk := max(1, 64*1024/max(N*colBlock, 1))
	if serial(nblocks, chunk) {
		colSumAddBlocks(dst, m, N, cols, 0, nblocks)
		return
	}
	parallel.ForArgs(nblocks, chunk, colSumArgs{dst, m, N, cols}, func(a *colSumArgs, lo, hi int) {
		colSumAddBlocks(a.dst, a.m, a.N, a.cols, lo, hi)
	})
}

// colBlock is the column block of the column-parallel reductions.
const colBlock = 128

func colSumAddBlocks(dst, m []float32, N, cols, lo, hi int) {
	var acc [colBlock]float32
	for bl := lo; bl < hi; bl++ {
		c0, c1 := bl*colBlock, min((bl+1)*colBlock, cols)
		a := acc[:c1-c0]
		clear(a)
		for n := 0; n < N; n++ {
			addRange(a, a, m[n*cols+c0:n*cols+c1])
		}
		d := dst[c0:c1]
		for j := range d {
			d[j] += a[j]
		}
	}
}

// colSumArgs carries colSumAddBlocks' inputs to parallel.ForArgs.
type colSumArgs struct {
	dst, m  []float32
	N, cols int
}
