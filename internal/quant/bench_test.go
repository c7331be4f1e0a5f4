package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vlbert/vlbert/internal/gemm"
)

// BenchmarkLinear times the int8 Linear against the float32 one (SgemmBias) at
// BERT-base's shapes for batch 8 x 100 tokens; GMAC/s is multiply-adds per second.
func BenchmarkLinear(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, sh := range [][3]int{{800, 768, 768}, {800, 3072, 768}, {800, 768, 3072}, {8, 768, 768}} {
		m, n, k := sh[0], sh[1], sh[2]
		x, w, bias := randFloats(rng, m*k, 1), randFloats(rng, n*k, 0.02), randFloats(rng, n, 0.1)
		y := make([]float32, m*n)
		l, err := NewLinear(w, bias, n, k)
		if err != nil {
			b.Fatal(err)
		}
		report := func(b *testing.B) {
			b.ReportMetric(float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		}
		b.Run(fmt.Sprintf("int8/%dx%dx%d", m, n, k), func(b *testing.B) {
			for b.Loop() {
				l.Forward(y, x, m)
			}
			report(b)
		})
		b.Run(fmt.Sprintf("fp32/%dx%dx%d", m, n, k), func(b *testing.B) {
			for b.Loop() {
				gemm.SgemmBias(false, true, m, n, k, 1, x, k, w, k, 0, y, n, bias)
			}
			report(b)
		})
	}
}
