package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	gonumblas "gonum.org/v1/gonum/blas/gonum"
)

// benchShapes are BERT-base linear layers for 8 sequences of 100 tokens:
// M=800 rows, (K, N) = QKV/output projection, FFN up, FFN down.
var benchShapes = [][3]int{{800, 768, 768}, {800, 768, 3072}, {800, 3072, 768}}

func randFloats(n int) []float32 {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32() - 0.5
	}
	return x
}

type sgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

func benchSgemm(b *testing.B, m, k, n int, fn sgemmFunc) {
	a, bm, c := randFloats(m*k), randFloats(k*n), make([]float32, m*n)
	fn(false, false, m, n, k, 1, a, k, bm, n, 0, c, n) // warm-up: buffers, library load
	b.ResetTimer()
	for range b.N {
		fn(false, false, m, n, k, 1, a, k, bm, n, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemm: vlbert's kernels on 1 and 2 threads at the M=800 shapes.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, kern := range supportedKernels() {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("M%dK%dN%d/%s/threads=%d", s[0], s[1], s[2], kern.name, threads), func(b *testing.B) {
					benchSgemm(b, s[0], s[1], s[2], func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) {
						sgemm(kern, threads, transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
					})
				})
			}
		}
	}
}

// BenchmarkGonum: gonum's pure-Go Sgemm at the same shapes (its own threading).
func BenchmarkGonum(b *testing.B) {
	impl := gonumblas.Implementation{}
	for _, s := range benchShapes {
		b.Run(fmt.Sprintf("M%dK%dN%d", s[0], s[1], s[2]), func(b *testing.B) {
			benchSgemm(b, s[0], s[1], s[2], func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) {
				impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
			})
		})
	}
}

// BenchmarkOpenBLAS: the system OpenBLAS, when it loads, on 1 and 2 threads.
func BenchmarkOpenBLAS(b *testing.B) {
	if !OpenBLASAvailable() {
		b.Skip(openblasError())
	}
	for _, s := range benchShapes {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("M%dK%dN%d/threads=%d", s[0], s[1], s[2], threads), func(b *testing.B) {
				OpenBLASSetThreads(threads)
				benchSgemm(b, s[0], s[1], s[2], OpenBLASSgemm)
			})
		}
	}
}

// BenchmarkAttention: the batched products of BERT-base attention for 8 sequences
// of 100 tokens, 12 heads of 64: scores Q·Kᵀ (100x64x100) and probs·V (100x100x64).
func BenchmarkAttention(b *testing.B) {
	const batch, t, hs = 8 * 12, 100, 64
	q, kk, c := randFloats(batch*t*hs), randFloats(batch*t*hs), make([]float32, batch*t*t)
	for _, kern := range supportedKernels() {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("scores/%s/threads=%d", kern.name, threads), func(b *testing.B) {
				for range b.N {
					sgemmStrided(kern, threads, false, true, batch, t, t, hs, 1, q, hs, t*hs, kk, hs, t*hs, 0, c, t, t*t)
				}
				b.ReportMetric(2*float64(batch*t*t*hs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(fmt.Sprintf("values/%s/threads=%d", kern.name, threads), func(b *testing.B) {
				for range b.N {
					sgemmStrided(kern, threads, false, false, batch, t, hs, t, 1, c, t, t*t, kk, hs, t*hs, 0, q, hs, t*hs)
				}
				b.ReportMetric(2*float64(batch*t*t*hs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkAttentionOpenBLAS: the same batch as one cblas_sgemm call per product
// (OpenBLAS on one thread; no batched interface), for comparison.
func BenchmarkAttentionOpenBLAS(b *testing.B) {
	if !OpenBLASAvailable() {
		b.Skip(openblasError())
	}
	const batch, t, hs = 8 * 12, 100, 64
	q, kk, c := randFloats(batch*t*hs), randFloats(batch*t*hs), make([]float32, batch*t*t)
	OpenBLASSetThreads(1)
	b.Run("scores/threads=1", func(b *testing.B) {
		for range b.N {
			for i := range batch {
				OpenBLASSgemm(false, true, t, t, hs, 1, q[i*t*hs:], hs, kk[i*t*hs:], hs, 0, c[i*t*t:], t)
			}
		}
		b.ReportMetric(2*float64(batch*t*t*hs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("values/threads=1", func(b *testing.B) {
		for range b.N {
			for i := range batch {
				OpenBLASSgemm(false, false, t, hs, t, 1, c[i*t*t:], t, kk[i*t*hs:], hs, 0, q[i*t*hs:], hs)
			}
		}
		b.ReportMetric(2*float64(batch*t*t*hs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
