package gemm

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/parallel"
)

// Epilogue is element-wise work applied to each block of C right after its last
// depth block, while the block is still in cache, instead of in separate passes
// over C:
//
//	C[i][j] = act(C[i][j]·RowScale[i] + RowBias[i] + Residual[i·LDR+j])
//
// where C[i][j] is alpha·op(A)·op(B) + beta·C as computed by Sgemm, a nil
// RowScale multiplies by 1, a nil RowBias or Residual adds nothing, and act is
// max(·, 0) with ReLU and the identity otherwise. The operations run in that
// order in float32, so the result equals the separate passes bit for bit
// (a frozen batch norm after a convolution is RowScale/RowBias per output
// channel, then the block's residual and ReLU).
type Epilogue struct {
	RowScale []float32 // [m] or nil
	RowBias  []float32 // [m] or nil
	Residual []float32 // m x n with leading dimension LDR, or nil; must not alias C
	LDR      int
	ReLU     bool
}

func (e *Epilogue) empty() bool {
	return e == nil || (e.RowScale == nil && e.RowBias == nil && e.Residual == nil && !e.ReLU)
}

// check panics unless the epilogue's vectors fit an m x n product.
func (e *Epilogue) check(m, n int) {
	if e == nil {
		return
	}
	if e.RowScale != nil && len(e.RowScale) < m {
		panic(fmt.Sprintf("gemm: epilogue RowScale has %d elements, needs %d", len(e.RowScale), m))
	}
	if e.RowBias != nil && len(e.RowBias) < m {
		panic(fmt.Sprintf("gemm: epilogue RowBias has %d elements, needs %d", len(e.RowBias), m))
	}
	if e.Residual != nil {
		checkMatrix("epilogue Residual", m, n, e.LDR, len(e.Residual))
	}
}

// apply runs the epilogue on rows [i0, i1) x columns [j0, j1) of C: the
// AVX2 loop for whole groups of 8 columns, the same arithmetic in Go for the
// rest. A missing scale is a multiplication by 1 and a missing bias an
// addition of 0, both exact.
func (e *Epilogue) apply(c []float32, ldc, i0, i1, j0, j1 int) {
	n8 := 0
	if hasEpilogueAVX2 {
		n8 = (j1 - j0) &^ 7
	}
	for i := i0; i < i1; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		s, b := float32(1), float32(0)
		if e.RowScale != nil {
			s = e.RowScale[i]
		}
		if e.RowBias != nil {
			b = e.RowBias[i]
		}
		var res []float32
		if e.Residual != nil {
			res = e.Residual[i*e.LDR+j0 : i*e.LDR+j1]
			res = res[:len(row)]
		}
		if n8 > 0 {
			var rp *float32
			if res != nil {
				rp = &res[0]
			}
			epilogueRowAVX2(&row[0], rp, n8, s, b, e.ReLU)
		}
		tail := row[n8:]
		switch {
		case res != nil && e.ReLU:
			for j, v := range tail {
				tail[j] = max(v*s+b+res[n8+j], 0)
			}
		case res != nil:
			for j, v := range tail {
				tail[j] = v*s + b + res[n8+j]
			}
		case e.ReLU:
			for j, v := range tail {
				tail[j] = max(v*s+b, 0)
			}
		default:
			for j, v := range tail {
				tail[j] = v*s + b
			}
		}
	}
}

// BPacker supplies op(B) panel by panel instead of as a stored matrix: the
// convolutions of package visual pack their im2col panels straight from the
// image (implicit GEMM), so the whole im2col matrix never exists.
type BPacker interface {
	// PackB writes rows [p0, p0+kc) x columns [j0, j0+nw) of op(B) into dst as
	// kc rows of nr floats (element [p][j] at dst[(p-p0)·nr + j-j0]), and zeros
	// in columns nw..nr-1. It is called concurrently for disjoint panels.
	PackB(dst []float32, p0, kc, j0, nw, nr int)
}

// SgemmEpilogue is Sgemm followed by the epilogue ep (nil: none), applied to
// each finished block of C in cache. It panics with a "gemm: ..." message on
// inconsistent sizes, before any work.
func SgemmEpilogue(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	ep.check(m, n)
	fused(active, parallel.Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, nil, beta, c, ldc, ep)
}

// SgemmPacked computes C = ep(alpha·op(A)·B + beta·C) where B (k x n) is
// never stored: bp packs its panels as the product needs them. ep may be nil.
// It panics with a "gemm: ..." message on inconsistent sizes, before any work.
func SgemmPacked(transA bool, m, n, k int, alpha float32, a []float32, lda int, bp BPacker, beta float32, c []float32, ldc int, ep *Epilogue) {
	if bp == nil {
		panic("gemm: SgemmPacked with a nil BPacker")
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("A", rowsA, colsA, lda, len(a))
	checkMatrix("C", m, n, ldc, len(c))
	ep.check(m, n)
	fused(active, parallel.Threads(), transA, false, m, n, k, alpha, a, lda, nil, 0, bp, beta, c, ldc, ep)
}

// fused runs one checked product with an optional B packer and epilogue.
func fused(kern *kernel, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, bp BPacker, beta float32, c []float32, ldc int, ep *Epilogue) {
	if m == 0 || n == 0 {
		return
	}
	if ep.empty() {
		ep = nil
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		if ep != nil {
			ep.apply(c, ldc, 0, m, 0, n)
		}
		return
	}
	if bp == nil && ep == nil {
		sgemmBias(kern, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
		return
	}
	if bp == nil && m*n*k <= smallWork {
		smallGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		ep.apply(c, ldc, 0, m, 0, n)
		return
	}
	packedEx(kern, threads, nil, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil, bp, ep)
}
