package kernels

import "math"

// The row softmax of the attention kernel (forward and backward for one row),
// with an AVX2 path.

// softmaxRow writes softmax(x) into o (o may alias x): e_i = exp(x_i - max), o_i = e_i/Σe.
func softmaxRow(o, x []float32) {
	if len(x) == 0 {
		return
	}
	if useAVX2 {
		softmaxRowAVX2(o, x)
		return
	}
	softmaxRowGo(o, x)
}

// softmaxRowAVX2 is softmaxRow in float32 with the AVX2 exp (relative error of each
// probability a few 1e-7). The last len%8 elements go through the same kernel, padded
// with -Inf (exp 0).
func softmaxRowAVX2(o, x []float32) {
	o = o[:len(x)]
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	n8 := len(x) &^ 7
	var sum float32
	if n8 > 0 {
		sum = expShiftAVX2(&o[0], &x[0], n8, m)
	}
	if r := len(x) - n8; r > 0 {
		bx := [8]float32{negInf32, negInf32, negInf32, negInf32, negInf32, negInf32, negInf32, negInf32}
		var bo [8]float32
		copy(bx[:], x[n8:])
		sum += expShiftAVX2(&bo[0], &bx[0], 8, m)
		copy(o[n8:], bo[:r])
	}
	inv := 1 / sum
	for i, v := range o {
		o[i] = v * inv
	}
}

var negInf32 = float32(math.Inf(-1))

// softmaxRowGo is the portable version (float64 exp and sum).
func softmaxRowGo(o, x []float32) {
	o = o[:len(x)]
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	var sum float64
	for i, v := range x {
		e := exp64(float64(v - m))
		o[i] = float32(e)
		sum += e
	}
	inv := 1 / sum
	for i, v := range o {
		o[i] = float32(float64(v) * inv)
	}
}

// softmaxBackRow writes d_i = p_i*(g_i - Σ_j g_j p_j) into d (d may alias g).
func softmaxBackRow(d, p, g []float32) {
	var s float64
	for i, v := range p {
		s += float64(v) * float64(g[i])
	}
	sf := float32(s)
	for i, v := range p {
		d[i] = v * (g[i] - sf)
	}
}
