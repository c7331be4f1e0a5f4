package kernels

import "testing"

// linear64 is the float64 reference of LinearForward.
func linear64(inp, w, b []float64, N, in, outDim int) []float64 {
	out := make([]float64, N*outDim)
	for n := 0; n < N; n++ {
		for o := 0; o < outDim; o++ {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for i := 0; i < in; i++ {
				s += inp[n*in+i] * w[o*in+i]
			}
			out[n*outDim+o] = s
		}
	}
	return out
}

func TestLinearForward(t *testing.T) {
	r := newRand(1)
	for _, withBias := range []bool{true, false} {
		N, in, outDim := 7, 13, 5
		inp, w := randn(r, N*in, 1), randn(r, outDim*in, 0.3)
		var b []float32
		var b64 []float64
		if withBias {
			b = randn(r, outDim, 1)
			b64 = to64(b)
		}
		out := nan32(N * outDim)
		LinearForward(out, inp, w, b, N, in, outDim)
		checkClose(t, "out", out, linear64(to64(inp), to64(w), b64, N, in, outDim), 1e-5, 1e-5)
	}
}

func TestLinearBackwardGradCheck(t *testing.T) {
	r := newRand(2)
	N, in, outDim := 4, 6, 5
	inp, w, b := randn(r, N*in, 1), randn(r, outDim*in, 0.5), randn(r, outDim, 1)
	g := randn(r, N*outDim, 1)
	x64, w64, b64 := to64(inp), to64(w), to64(b)
	loss := func() float64 { return dot64(g, linear64(x64, w64, b64, N, in, outDim)) }

	dinp := nan32(N * in) // overwritten: garbage must not leak
	dw, db := make([]float32, outDim*in), make([]float32, outDim)
	LinearBackward(dinp, dw, db, g, inp, w, N, in, outDim)
	checkClose(t, "dinp", dinp, fdGrad(loss, x64, 1e-3), 1e-4, 1e-4)
	checkClose(t, "dweight", dw, fdGrad(loss, w64, 1e-3), 1e-4, 1e-4)
	checkClose(t, "dbias", db, fdGrad(loss, b64, 1e-3), 1e-4, 1e-4)

	// Accumulate contract: a second call doubles the parameter grads, dinp is overwritten.
	dinp1, dw1, db1 := clone(dinp), clone(dw), clone(db)
	LinearBackward(dinp, dw, db, g, inp, w, N, in, outDim)
	checkEqual(t, "dinp after second call", dinp, dinp1)
	for i := range dw {
		if dw[i] != 2*dw1[i] {
			t.Fatalf("dweight[%d] = %g after two calls, want %g", i, dw[i], 2*dw1[i])
		}
	}
	for i := range db {
		if db[i] != 2*db1[i] {
			t.Fatalf("dbias[%d] = %g after two calls, want %g", i, db[i], 2*db1[i])
		}
	}
	// nil destinations are skipped.
	LinearBackward(nil, nil, db, g, inp, w, N, in, outDim)
	LinearBackward(nil, dw, nil, g, inp, nil, N, in, outDim)
}

func TestLinearThreadInvariant(t *testing.T) {
	r := newRand(3)
	N, in, outDim := 130, 40, 700
	inp, w, b := randn(r, N*in, 1), randn(r, outDim*in, 0.2), randn(r, outDim, 1)
	g := randn(r, N*outDim, 1)
	checkThreadInvariant(t, "linear", func() [][]float32 {
		out := make([]float32, N*outDim)
		LinearForward(out, inp, w, b, N, in, outDim)
		dinp, dw, db := make([]float32, N*in), make([]float32, outDim*in), fill(make([]float32, outDim), 0.5)
		LinearBackward(dinp, dw, db, g, inp, w, N, in, outDim)
		return [][]float32{out, dinp, dw, db}
	})
}

func TestLinearPanics(t *testing.T) {
	out, inp, w := make([]float32, 6), make([]float32, 6), make([]float32, 9)
	mustPanic(t, "weight has 5 elements, need 6", func() { LinearForward(out, inp, w[:5], nil, 2, 3, 2) })
	mustPanic(t, "bias", func() { LinearForward(out, inp, w, make([]float32, 1), 2, 3, 2) })
	mustPanic(t, "out", func() { LinearForward(out[:3], inp, w, nil, 2, 3, 2) })
	mustPanic(t, "negative", func() { LinearForward(out, inp, w, nil, -1, 3, 2) })
	mustPanic(t, "dbias", func() { LinearBackward(nil, nil, make([]float32, 1), out, inp, w, 2, 3, 2) })
	// A panic must come before any work: out stays untouched.
	fill(out, 7)
	mustPanic(t, "bias", func() { LinearForward(out, inp, w, make([]float32, 1), 2, 3, 2) })
	if out[0] != 7 {
		t.Fatal("LinearForward wrote its output before panicking")
	}
}

// TestLinearBackwardAcc: dinp accumulates onto what it held (the sum in float64
// as reference); the weight and bias gradients are those of LinearBackward.
func TestLinearBackwardAcc(t *testing.T) {
	r := newRand(41)
	const N, in, outDim = 37, 300, 29 // in > one depth block of the GEMM
	inp, w, dout := randn(r, N*in, 1), randn(r, outDim*in, 0.1), randn(r, N*outDim, 1)
	prior := randn(r, N*in, 1)
	dinp := clone(prior)
	dw, db := make([]float32, outDim*in), make([]float32, outDim)
	LinearBackwardAcc(dinp, dw, db, dout, inp, w, N, in, outDim)
	want := make([]float64, N*in)
	for n := 0; n < N; n++ {
		for i := 0; i < in; i++ {
			s := float64(prior[n*in+i])
			for o := 0; o < outDim; o++ {
				s += float64(dout[n*outDim+o]) * float64(w[o*in+i])
			}
			want[n*in+i] = s
		}
	}
	checkClose(t, "dinp", dinp, want, 1e-5, 1e-5)
	dw2, db2 := make([]float32, outDim*in), make([]float32, outDim)
	LinearBackward(nil, dw2, db2, dout, inp, w, N, in, outDim)
	checkEqual(t, "dweight", dw, dw2)
	checkEqual(t, "dbias", db, db2)
}
