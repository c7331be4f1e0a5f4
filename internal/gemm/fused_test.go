package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// storedB is a BPacker over a stored matrix op(B), to check SgemmPacked against
// the product that packs the same matrix itself.
type storedB struct {
	b      []float32
	ldb    int
	transB bool
}

func (s storedB) PackB(dst []float32, p0, kc, j0, nw, nr int) {
	packPanelB(dst, s.transB, s.b, s.ldb, p0, kc, j0, nw, nr)
}

// TestEpilogue checks SgemmEpilogue and SgemmPacked bit for bit against the
// plain product followed by a separate pass of the same arithmetic, over the
// direct loop, k = 0, packed and in-place panels, row- and column-split
// workers, partial edge panels and several depth blocks.
func TestEpilogue(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	shapes := [][3]int{{3, 5, 2}, {4, 7, 0}, {37, 50, 19}, {5, 200, 300}, {150, 37, 300}, {64, 300, 600}}
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32() - 0.5
		}
		return v
	}
	for _, k := range testKernels(t) {
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}} {
				for _, threads := range []int{1, 3} {
					for variant := 0; variant < 4; variant++ {
						tc := newCase(rng, tr[0], tr[1], s[0], s[1], s[2], 0.7, 0.5, 3)
						ep := &Epilogue{ReLU: variant != 1}
						if variant != 2 {
							ep.RowScale, ep.RowBias = vec(tc.m), vec(tc.m)
						}
						if variant >= 2 {
							ep.LDR = tc.n + 2
							ep.Residual = vec(tc.m * ep.LDR)
						}
						finish := func(c []float32) []float32 {
							for i := 0; i < tc.m; i++ {
								for j := 0; j < tc.n; j++ {
									v := c[i*tc.ldc+j]
									if ep.RowScale != nil {
										v = v*ep.RowScale[i] + ep.RowBias[i]
									}
									if ep.Residual != nil {
										v += ep.Residual[i*ep.LDR+j]
									}
									if ep.ReLU {
										v = max(v, 0)
									}
									c[i*tc.ldc+j] = v
								}
							}
							return c
						}
						want := append([]float32(nil), tc.c...)
						sgemm(k, threads, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.a, tc.lda, tc.b, tc.ldb, tc.beta, want, tc.ldc)
						finish(want)
						got := append([]float32(nil), tc.c...)
						fused(k, threads, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.a, tc.lda, tc.b, tc.ldb, nil, tc.beta, got, tc.ldc, ep)
						same(t, got, want, "epilogue", k.name, tc, threads)
						if tc.k == 0 {
							continue
						}
						// The packer always packs: compare with the product that packs too.
						prev := packing
						packing = packAlways
						want = append(want[:0], tc.c...)
						packed(k, threads, nil, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.a, tc.lda, tc.b, tc.ldb, tc.beta, want, tc.ldc, nil)
						packing = prev
						finish(want)
						got = append(got[:0], tc.c...)
						fused(k, threads, tc.transA, false, tc.m, tc.n, tc.k, tc.alpha, tc.a, tc.lda, nil, 0, storedB{tc.b, tc.ldb, tc.transB}, tc.beta, got, tc.ldc, ep)
						same(t, got, want, "packer", k.name, tc, threads)
					}
				}
			}
		}
	}
}

func same(t *testing.T, got, want []float32, what, kern string, tc *gemmCase, threads int) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s %s %v threads %d: C[%d] = %g, want %g", what, kern, tc, threads, i, got[i], want[i])
		}
	}
}

// TestEpiloguePanics checks the exported entry points' size checks.
func TestEpiloguePanics(t *testing.T) {
	cases := map[string]func(){
		"short RowBias": func() {
			SgemmEpilogue(false, false, 2, 3, 1, 1, make([]float32, 2), 1, make([]float32, 3), 3, 0, make([]float32, 6), 3, &Epilogue{RowBias: make([]float32, 1)})
		},
		"short Residual": func() {
			SgemmEpilogue(false, false, 2, 3, 1, 1, make([]float32, 2), 1, make([]float32, 3), 3, 0, make([]float32, 6), 3, &Epilogue{Residual: make([]float32, 5), LDR: 3})
		},
		"nil packer": func() {
			SgemmPacked(false, 2, 3, 1, 1, make([]float32, 2), 1, nil, 0, make([]float32, 6), 3, nil)
		},
		"short C": func() {
			SgemmPacked(false, 2, 3, 1, 1, make([]float32, 2), 1, storedB{make([]float32, 3), 3, false}, 0, make([]float32, 5), 3, nil)
		},
	}
	for name, fn := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			fn()
		}()
	}
}
