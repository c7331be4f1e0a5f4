package kernels

import (
	"math"
	"testing"
)

func gelu64(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v * 0.5 * math.Erfc(-v/math.Sqrt2) // = x*0.5*(1+erf(x/√2)) without cancellation
	}
	return y
}

func TestGELUForward(t *testing.T) {
	r := newRand(20)
	x := randn(r, 2000, 3)
	x = append(x, 0, -0.0, 1e-30, -1e-30, 8, -8, 30, -30, 1e6, -1e6)
	out := nan32(len(x))
	GELUForward(out, x)
	// erfc is approximated to 1.2e-7 relative, so GELU is within a few float32 ulps.
	checkClose(t, "gelu", out, gelu64(to64(x)), 1e-30, 5e-7)
	// In place.
	GELUForward(x, x)
	checkEqual(t, "in place", x, out)
}

func TestGELUBackwardGradCheck(t *testing.T) {
	r := newRand(21)
	x := randn(r, 200, 2.5)
	g := randn(r, len(x), 1)
	x64 := to64(x)
	loss := func() float64 { return dot64(g, gelu64(x64)) }
	dinp := nan32(len(x))
	GELUBackward(dinp, x, g)
	checkClose(t, "dinp", dinp, fdGrad(loss, x64, 1e-5), 1e-6, 1e-5)
	// Overwritten, and may alias dout.
	d2 := clone(g)
	GELUBackward(d2, x, d2)
	checkEqual(t, "dinp aliasing dout", d2, dinp)
	GELUBackward(nil, x, g) // nil skipped
}

func TestBiasGELU(t *testing.T) {
	r := newRand(22)
	N, C := 9, 31
	inp, bias := randn(r, N*C, 2), randn(r, C, 1)
	out, pre := nan32(N*C), nan32(N*C)
	BiasGELUForward(out, pre, inp, bias, N, C)
	want := clone(inp)
	AddRows(want, bias, N, C)
	checkEqual(t, "pre", pre, want)
	GELUForward(want, want)
	checkEqual(t, "out", out, want)
}

func TestGELUThreadInvariant(t *testing.T) {
	r := newRand(23)
	x, g := randn(r, 100000, 2), randn(r, 100000, 1)
	bias := randn(r, 1000, 1)
	checkThreadInvariant(t, "gelu", func() [][]float32 {
		out, d := make([]float32, len(x)), make([]float32, len(x))
		GELUForward(out, x)
		GELUBackward(d, x, g)
		bo, bp := make([]float32, len(x)), make([]float32, len(x))
		BiasGELUForward(bo, bp, x, bias, 100, 1000)
		return [][]float32{out, d, bo, bp}
	})
}

func TestGELUPanics(t *testing.T) {
	mustPanic(t, "out has 3 elements, inp has 4", func() { GELUForward(make([]float32, 3), make([]float32, 4)) })
}

func TestFastMath(t *testing.T) {
	worst := 0.0
	for x := -745.0; x <= 709; x += 0.0137 {
		got, want := exp64(x), math.Exp(x)
		if want > 1e-300 {
			worst = max(worst, math.Abs(got-want)/want)
		}
	}
	if worst > 1e-14 {
		t.Errorf("exp64 relative error %g", worst)
	}
	if !math.IsInf(exp64(710), 1) || exp64(-800) != 0 || !math.IsNaN(exp64(math.NaN())) {
		t.Error("exp64 special values")
	}
	worst = 0
	for x := -12.0; x <= 12; x += 0.001 {
		cdf, pdf := normCDF(x), normPDF(x)
		want := 0.5 * math.Erfc(-x/math.Sqrt2)
		worst = max(worst, math.Abs(cdf-want)/want)
		if d := math.Abs(pdf - math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)); d > 1e-15 {
			t.Fatalf("pdf(%g) off by %g", x, d)
		}
	}
	if worst > 1.3e-7 {
		t.Errorf("normCDF relative error %g", worst)
	}
}

// BiasGELUForward is a fused bias-add + GELU that the encoder does not use (its
// GELU follows a Linear with the bias in the GEMM); kept here, where its test
// and the allocation test use it.
// BiasGELUForward adds bias to every row of inp and applies GELU, keeping the pre-GELU
// sum for backward: pre = inp + bias, out = GELU(pre). It fuses a Linear's bias add with
// the activation (call LinearForward with a nil bias first). Its backward is
// GELUBackward(dpre, pre, dout) followed by SumRows(dbias, dpre, N, C).
//
//	out  [N,C] overwritten     pre [N,C] overwritten (may alias inp)
//	inp  [N,C]                 bias [C]
func BiasGELUForward(out, pre, inp, bias []float32, N, C int) {
	const fn = "BiasGELUForward"
	nonNeg(fn, N, C)
	need(fn, "out", out, N*C)
	need(fn, "pre", pre, N*C)
	need(fn, "inp", inp, N*C)
	need(fn, "bias", bias, C)
	chunk := rowChunk(C)/4 + 1
	if serial(N, chunk) {
		biasGELURows(out, pre, inp, bias, 0, N, C)
		return
	}
	forRows4(N, chunk, out, pre, inp, bias, C, biasGELURows)
}

func biasGELURows(out, pre, inp, bias []float32, lo, hi, C int) {
	bias = bias[:C]
	for n := lo; n < hi; n++ {
		x, p, o := inp[n*C:(n+1)*C], pre[n*C:(n+1)*C], out[n*C:(n+1)*C]
		for i, v := range x {
			p[i] = v + bias[i]
		}
		geluRange(o, p)
	}
}
