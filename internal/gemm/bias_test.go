package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBias checks SgemmBias bit for bit against the product followed by a separate
// bias pass: every path (direct loop, k = 0, packed and in place, row- and
// column-split workers, partial edge panels, several depth and row blocks).
func TestBias(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	shapes := [][3]int{{3, 5, 2}, {4, 7, 0}, {37, 50, 19}, {5, 200, 300}, {150, 37, 300}}
	for _, k := range testKernels(t) {
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}} {
				for _, mode := range []packMode{packAuto, packAlways, packNever} {
					for _, threads := range []int{1, 3} {
						tc := newCase(rng, tr[0], tr[1], s[0], s[1], s[2], 0.7, 0.5, 3)
						bias := make([]float32, tc.n)
						for i := range bias {
							bias[i] = rng.Float32() - 0.5
						}
						prev := packing
						packing = mode
						want := append([]float32(nil), tc.c...)
						sgemm(k, threads, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.a, tc.lda, tc.b, tc.ldb, tc.beta, want, tc.ldc)
						for i := 0; i < tc.m; i++ {
							for j := 0; j < tc.n; j++ {
								want[i*tc.ldc+j] += bias[j]
							}
						}
						got := append([]float32(nil), tc.c...)
						sgemmBias(k, threads, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.a, tc.lda, tc.b, tc.ldb, tc.beta, got, tc.ldc, bias)
						packing = prev
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s %v mode %d threads %d: C[%d] = %g, want %g", k.name, tc, mode, threads, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
	// The exported entry point checks the bias length.
	defer func() {
		if recover() == nil {
			t.Error("SgemmBias with a short bias did not panic")
		}
	}()
	SgemmBias(false, false, 2, 3, 1, 1, make([]float32, 2), 1, make([]float32, 3), 3, 0, make([]float32, 6), 3, make([]float32, 2))
}
