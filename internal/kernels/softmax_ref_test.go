package kernels

// SoftmaxForward and SoftmaxBackward run softmaxRow over N rows: the attention
// kernel uses the row functions alone, so the N-row forms live with their tests.
//
// SoftmaxForward computes a row-wise softmax with max subtraction.
//
//	out [N,C] overwritten (may alias inp)
//	inp [N,C]
func SoftmaxForward(out, inp []float32, N, C int) {
	const fn = "SoftmaxForward"
	nonNeg(fn, N, C)
	need(fn, "out", out, N*C)
	need(fn, "inp", inp, N*C)
	chunk := rowChunk(C)/2 + 1
	if serial(N, chunk) {
		softmaxRows(out, inp, 0, N, C)
		return
	}
	forRows2(N, chunk, out, inp, C, softmaxRows)
}

func softmaxRows(out, inp []float32, lo, hi, C int) {
	for n := lo; n < hi; n++ {
		softmaxRow(out[n*C:(n+1)*C], inp[n*C:(n+1)*C])
	}
}

// SoftmaxBackward computes dinp = out*(dout - Σ_j dout_j*out_j) row-wise (OVERWRITTEN,
// nil skipped) from the forward's output.
//
//	dinp [N,C] (may alias dout)
//	out  [N,C], dout [N,C]
func SoftmaxBackward(dinp, out, dout []float32, N, C int) {
	const fn = "SoftmaxBackward"
	if dinp == nil {
		return
	}
	nonNeg(fn, N, C)
	need(fn, "dinp", dinp, N*C)
	need(fn, "out", out, N*C)
	need(fn, "dout", dout, N*C)
	if serial(N, rowChunk(C)) {
		softmaxBackRows(dinp, out, dout, 0, N, C)
		return
	}
	forRows3(N, rowChunk(C), dinp, out, dout, C, softmaxBackRows)
}

func softmaxBackRows(dinp, out, dout []float32, lo, hi, C int) {
	for n := lo; n < hi; n++ {
		softmaxBackRow(dinp[n*C:(n+1)*C], out[n*C:(n+1)*C], dout[n*C:(n+1)*C])
	}
}
