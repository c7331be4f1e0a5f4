package kernels

import (
	"math"
	"testing"
)

func softmax64(x []float64, N, C int) []float64 {
	y := make([]float64, len(x))
	for n := 0; n < N; n++ {
		row := x[n*C : (n+1)*C]
		m := math.Inf(-1)
		for _, v := range row {
			m = max(m, v)
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(v - m)
		}
		for i, v := range row {
			y[n*C+i] = math.Exp(v-m) / s
		}
	}
	return y
}

func TestSoftmaxGradCheck(t *testing.T) {
	r := newRand(110)
	N, C := 5, 8
	x := randn(r, N*C, 3)
	x[3] = 100 // max subtraction keeps exp finite
	x[9] = -10000
	g := randn(r, N*C, 1)
	x64 := to64(x)
	out := nan32(N * C)
	SoftmaxForward(out, x, N, C)
	checkClose(t, "softmax", out, softmax64(x64, N, C), 1e-7, 1e-6)
	d := nan32(N * C)
	SoftmaxBackward(d, out, g, N, C)
	checkClose(t, "dinp", d, fdGrad(func() float64 { return dot64(g, softmax64(x64, N, C)) }, x64, 1e-5), 1e-6, 1e-4)
	// In place forward and aliased backward.
	y := clone(x)
	SoftmaxForward(y, y, N, C)
	checkEqual(t, "in place", y, out)
	g2 := clone(g)
	SoftmaxBackward(g2, out, g2, N, C)
	checkEqual(t, "aliased backward", g2, d)
	mustPanic(t, "dout has 3", func() { SoftmaxBackward(d, out, g[:3], N, C) })
}

func TestSoftmaxThreadInvariant(t *testing.T) {
	r := newRand(111)
	N, C := 400, 100
	x, g := randn(r, N*C, 2), randn(r, N*C, 1)
	checkThreadInvariant(t, "softmax", func() [][]float32 {
		o, d := make([]float32, N*C), make([]float32, N*C)
		SoftmaxForward(o, x, N, C)
		SoftmaxBackward(d, o, g, N, C)
		return [][]float32{o, d}
	})
}
