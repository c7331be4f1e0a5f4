// Package proto holds measurement prototypes for the performance recommendations in
// bench/README.md: each benchmark times the current code path against a candidate
// change at VL-BERT-base shapes (batch 8, L = 101, N = 808 rows). Run single-threaded:
//
//	go test ./bench/proto -run X -bench . -benchtime 3x -cpu 1
//
// Besides ns/op they report cpu-ms/op (process CPU time), which is steadier on a
// shared machine. Nothing here is used by vlbert itself.
package proto

import (
	"math"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/kernels"
	"github.com/vlbert/vlbert/internal/optim"
	"github.com/vlbert/vlbert/internal/parallel"
)

const (
	N = 8 * 101 // rows: batch 8 x sequence 101
	H = 768
	I = 3072
)

func randSlice(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 3))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * 0.5)
	}
	return s
}

func cpuMs() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

// run times fn b.N times single-threaded and reports CPU ms per op.
func run(b *testing.B, fn func()) {
	prev := parallel.SetThreads(1)
	defer parallel.SetThreads(prev)
	fn()
	b.ResetTimer()
	c0 := cpuMs()
	for range b.N {
		fn()
	}
	b.ReportMetric((cpuMs()-c0)/float64(b.N), "cpu-ms/op")
}

// Q, K and V projections: three products with the same input (today) against one
// product with the concatenated [3H, H] weight.
func BenchmarkQKVForwardSeparate(b *testing.B) {
	x, w := randSlice(N*H, 1), randSlice(3*H*H, 2)
	out := make([]float32, 3*N*H)
	run(b, func() {
		for i := range 3 {
			kernels.LinearForward(out[i*N*H:(i+1)*N*H], x, w[i*H*H:(i+1)*H*H], nil, N, H, H)
		}
	})
}

func BenchmarkQKVForwardFused(b *testing.B) {
	x, w := randSlice(N*H, 1), randSlice(3*H*H, 2)
	out := make([]float32, 3*N*H)
	run(b, func() { kernels.LinearForward(out, x, w, nil, N, H, 3*H) })
}

// Backward input gradient of Q, K, V: three products plus two Adds (today) against one
// product over k = 3H with dq|dk|dv stored side by side ([N, 3H]).
func BenchmarkQKVBackwardDxSeparate(b *testing.B) {
	d, w := randSlice(3*N*H, 1), randSlice(3*H*H, 2)
	dx, tmp := make([]float32, N*H), make([]float32, N*H)
	run(b, func() {
		kernels.LinearBackward(dx, nil, nil, d[:N*H], nil, w[:H*H], N, H, H)
		kernels.LinearBackward(tmp, nil, nil, d[N*H:2*N*H], nil, w[H*H:2*H*H], N, H, H)
		kernels.Add(dx, dx, tmp)
		kernels.LinearBackward(tmp, nil, nil, d[2*N*H:], nil, w[2*H*H:], N, H, H)
		kernels.Add(dx, dx, tmp)
	})
}

func BenchmarkQKVBackwardDxFused(b *testing.B) {
	d, w := randSlice(3*N*H, 1), randSlice(3*H*H, 2)
	dx := make([]float32, N*H)
	run(b, func() { gemm.Sgemm(false, false, N, H, 3*H, 1, d, 3*H, w, H, 0, dx, H) })
}

// The FFN up-projection followed by GELU over [N, I] (today: a separate GELU pass).
func BenchmarkFFNUpThenGELU(b *testing.B) {
	x, w := randSlice(N*H, 1), randSlice(I*H, 2)
	ff1, g := make([]float32, N*I), make([]float32, N*I)
	run(b, func() {
		kernels.LinearForward(ff1, x, w, nil, N, H, I)
		kernels.GELUForward(g, ff1)
	})
}

func BenchmarkFFNUpOnly(b *testing.B) {
	x, w := randSlice(N*H, 1), randSlice(I*H, 2)
	ff1 := make([]float32, N*I)
	run(b, func() { kernels.LinearForward(ff1, x, w, nil, N, H, I) })
}

func BenchmarkGELUForward(b *testing.B) {
	x := randSlice(N*I, 1)
	out := make([]float32, N*I)
	run(b, func() { kernels.GELUForward(out, x) })
}

func BenchmarkGELUBackward(b *testing.B) {
	x, d := randSlice(N*I, 1), randSlice(N*I, 2)
	out := make([]float32, N*I)
	run(b, func() { kernels.GELUBackward(out, x, d) })
}

// The arena clears every buffer it hands out; a VL-BERT-base training step takes about
// 1.5 GB of activations and 1 GB of backward scratch. This is the cost of clearing
// 256 MB (scale by 10 for a step).
func BenchmarkArenaClear256MB(b *testing.B) {
	buf := make([]float32, 64<<20)
	run(b, func() { clear(buf) })
}

// The optimizer update of the whole parameter arena, as the benchmark's training step
// does it: global norm, clip scale, AdamW, zero grad (four passes), on 16M parameters
// (the model has 115M: scale by 7.2).
const nParams = 16 << 20

func newAdam(b *testing.B) (*optim.AdamW, []float32, []float32) {
	p, g := randSlice(nParams, 1), randSlice(nParams, 2)
	params := []optim.Param{{Name: "w", Offset: 0, Size: nParams}}
	groups, err := optim.BuildGroups(params, nil, 1e-5, 1e-4)
	if err != nil {
		b.Fatal(err)
	}
	return optim.NewAdamW(params, groups, nParams), p, g
}

func BenchmarkAdamWStepToday(b *testing.B) {
	o, p, g := newAdam(b)
	g0 := append([]float32(nil), g...)
	run(b, func() {
		copy(g, g0) // stands in for backward writing the gradients
		optim.ClipGradNorm(g, 1)
		o.Step(p, g, nil)
		clear(g)
	})
}

// BenchmarkAdamWStepFused is the candidate: norm pass, then one pass that scales by the
// clip coefficient, updates m, v, p in float32 (no float64 round trips) and zeroes g.
func BenchmarkAdamWStepFused(b *testing.B) {
	_, p, g := newAdam(b)
	m, v := make([]float32, nParams), make([]float32, nParams)
	g0 := append([]float32(nil), g...)
	step := 0
	run(b, func() {
		copy(g, g0)
		norm := optim.GradNorm(g)
		coef := min(optim.ClipCoef(norm, 1), 1)
		step++
		bc1, bc2 := 1-math.Pow(0.9, float64(step)), 1-math.Pow(0.999, float64(step))
		adamFused(p, g, m, v, coef, 0.9, 0.999, 1e-6, float32(-1e-5*math.Sqrt(bc2)/bc1), float32(-1e-5*1e-4))
	})
}

func adamFused(p, g, m, v []float32, coef, b1, b2, eps, negStep, negDecay float32) {
	ob1, ob2 := 1-b1, 1-b2
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for j := range p {
		gj := g[j] * coef
		mj := b1*m[j] + ob1*gj
		vj := b2*v[j] + ob2*gj*gj
		m[j], v[j] = mj, vj
		pj := p[j] + negStep*mj/(float32(math.Sqrt(float64(vj)))+eps)
		p[j] = pj + negDecay*pj
		g[j] = 0
	}
}

// The copy that stands in for backward, to subtract from the two above.
func BenchmarkAdamWCopyOnly(b *testing.B) {
	_, _, g := newAdam(b)
	g0 := append([]float32(nil), g...)
	run(b, func() { copy(g, g0) })
}
