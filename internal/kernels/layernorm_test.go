package kernels

import (
	"math"
	"testing"

	"github.com/vlbert/vlbert/internal/parallel"
)

// layerNorm64 is the float64 reference of LayerNormForward.
func layerNorm64(inp, w, b []float64, N, C int, eps float64) []float64 {
	out := make([]float64, N*C)
	for n := 0; n < N; n++ {
		x := inp[n*C : (n+1)*C]
		m := 0.0
		for _, v := range x {
			m += v
		}
		m /= float64(C)
		va := 0.0
		for _, v := range x {
			va += (v - m) * (v - m)
		}
		va /= float64(C)
		for i, v := range x {
			out[n*C+i] = (v-m)/math.Sqrt(va+eps)*w[i] + b[i]
		}
	}
	return out
}

func TestLayerNormForward(t *testing.T) {
	r := newRand(10)
	N, C := 5, 37
	inp := randn(r, N*C, 2)
	for i := range inp[:C] { // a row with a large offset: the two-pass variance must hold up
		inp[i] += 1000
	}
	w, b := randn(r, C, 1), randn(r, C, 1)
	out, mean, rstd := nan32(N*C), nan32(N), nan32(N)
	LayerNormForward(out, mean, rstd, inp, w, b, N, C, BertLayerNormEps)
	checkClose(t, "out", out, layerNorm64(to64(inp), to64(w), to64(b), N, C, BertLayerNormEps), 1e-4, 1e-4)

	// A constant row normalizes to 0 (out = bias), as with PyTorch's eps-inside-sqrt form.
	cst := fill(make([]float32, C), 3)
	LayerNormForward(out[:C], mean[:1], rstd[:1], cst, w, b, 1, C, BertLayerNormEps)
	checkClose(t, "constant row", out[:C], to64(b), 0, 0)
	if mean[0] != 3 {
		t.Fatalf("mean of constant row = %g", mean[0])
	}
	// nil mean and rstd are allowed (inference).
	LayerNormForward(out, nil, nil, inp, w, b, N, C, BertLayerNormEps)
}

func TestLayerNormBackwardGradCheck(t *testing.T) {
	r := newRand(11)
	N, C := 4, 9
	const eps = 1e-5
	inp, w, b := randn(r, N*C, 1.5), randn(r, C, 1), randn(r, C, 1)
	g := randn(r, N*C, 1)
	x64, w64, b64 := to64(inp), to64(w), to64(b)
	loss := func() float64 { return dot64(g, layerNorm64(x64, w64, b64, N, C, eps)) }

	out, mean, rstd := make([]float32, N*C), make([]float32, N), make([]float32, N)
	LayerNormForward(out, mean, rstd, inp, w, b, N, C, eps)
	dinp, dw, db := nan32(N*C), make([]float32, C), make([]float32, C)
	LayerNormBackward(dinp, dw, db, g, inp, w, mean, rstd, N, C)
	checkClose(t, "dinp", dinp, fdGrad(loss, x64, 1e-4), 1e-4, 1e-3)
	checkClose(t, "dweight", dw, fdGrad(loss, w64, 1e-4), 1e-4, 1e-3)
	checkClose(t, "dbias", db, fdGrad(loss, b64, 1e-4), 1e-4, 1e-3)

	dinp1, dw1, db1 := clone(dinp), clone(dw), clone(db)
	LayerNormBackward(dinp, dw, db, g, inp, w, mean, rstd, N, C)
	checkEqual(t, "dinp overwritten", dinp, dinp1)
	for i := range dw {
		if dw[i] != 2*dw1[i] || db[i] != 2*db1[i] {
			t.Fatalf("parameter grads did not accumulate at %d", i)
		}
	}
	// dinp may alias dout.
	alias := clone(g)
	LayerNormBackward(alias, nil, nil, alias, inp, w, mean, rstd, N, C)
	checkEqual(t, "dinp aliasing dout", alias, dinp1)
}

func TestLayerNormThreadInvariant(t *testing.T) {
	r := newRand(12)
	N, C := 97, 300
	inp, w, b, g := randn(r, N*C, 1), randn(r, C, 1), randn(r, C, 1), randn(r, N*C, 1)
	checkThreadInvariant(t, "layernorm", func() [][]float32 {
		out, mean, rstd := make([]float32, N*C), make([]float32, N), make([]float32, N)
		LayerNormForward(out, mean, rstd, inp, w, b, N, C, BertLayerNormEps)
		dinp, dw, db := make([]float32, N*C), make([]float32, C), make([]float32, C)
		LayerNormBackward(dinp, dw, db, g, inp, w, mean, rstd, N, C)
		return [][]float32{out, mean, rstd, dinp, dw, db}
	})
}

func TestLayerNormPanics(t *testing.T) {
	s := make([]float32, 12)
	mustPanic(t, "weight", func() { LayerNormForward(s, nil, nil, s, s[:3], s, 3, 4, 1e-12) })
	mustPanic(t, "rstd", func() { LayerNormBackward(s, nil, nil, s, s, s, s, s[:2], 3, 4) })
}

// AddLayerNormForward must equal Add followed by LayerNormForward bit for bit, serial
// and parallel (rows of 768 as in BERT-base, plus a width with a scalar tail).
func TestAddLayerNormForward(t *testing.T) {
	r := newRand(12)
	for _, sh := range [][2]int{{3, 37}, {700, 768}} {
		N, C := sh[0], sh[1]
		a, b := randn(r, N*C, 2), randn(r, N*C, 1)
		w, bias := randn(r, C, 1), randn(r, C, 1)
		wantRes, wantOut, wantMean, wantRstd := nan32(N*C), nan32(N*C), nan32(N), nan32(N)
		Add(wantRes, a, b)
		LayerNormForward(wantOut, wantMean, wantRstd, wantRes, w, bias, N, C, BertLayerNormEps)
		for _, threads := range []int{1, 3} {
			func() {
				defer parallel.SetThreads(parallel.SetThreads(threads))
				res, out, mean, rstd := nan32(N*C), nan32(N*C), nan32(N), nan32(N)
				AddLayerNormForward(out, mean, rstd, res, a, b, w, bias, N, C, BertLayerNormEps)
				for name, p := range map[string][2][]float32{"res": {res, wantRes}, "out": {out, wantOut}, "mean": {mean, wantMean}, "rstd": {rstd, wantRstd}} {
					for i := range p[0] {
						if math.Float32bits(p[0][i]) != math.Float32bits(p[1][i]) {
							t.Fatalf("%dx%d, %d threads: %s[%d] = %v, Add+LayerNorm %v", N, C, threads, name, i, p[0][i], p[1][i])
						}
					}
				}
			}()
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("short b did not panic")
		}
	}()
	AddLayerNormForward(make([]float32, 4), nil, nil, make([]float32, 4), make([]float32, 4), make([]float32, 3), make([]float32, 2), make([]float32, 2), 2, 2, BertLayerNormEps)
}
