// Package gemm is vlbert's single-precision matrix multiply (SGEMM).
//
// All matrices are row-major. Sgemm computes C = alpha*op(A)*op(B) + beta*C where
// op(X) is X or its transpose; A is m x k after op, B is k x n after op, C is m x n.
// Leading dimensions are row strides in elements. C must not alias A or B.
//
// PLACEHOLDER: this file holds the reference loop; the packed, blocked and
// assembly-accelerated implementation replaces it behind the same API.
package gemm

import "fmt"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C. transA/transB select op.
// With beta == 0, C is overwritten without being read (NaNs in C do not propagate).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		for j := range crow {
			var sum float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				sum += av * bv
			}
			if beta == 0 {
				crow[j] = alpha * sum
			} else {
				crow[j] = alpha*sum + beta*crow[j]
			}
		}
	}
}

// SgemmStrided computes batch independent products
// C_i = alpha*op(A_i)*op(B_i) + beta*C_i, where X_i starts at x[i*strideX].
func SgemmStrided(transA, transB bool, batch, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int) {
	if batch < 0 {
		panic(fmt.Sprintf("gemm: negative batch %d", batch))
	}
	for i := 0; i < batch; i++ {
		Sgemm(transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc)
	}
}

// KernelName names the micro-kernel that Sgemm dispatches to on this CPU.
func KernelName() string { return "reference" }

func checkArgs(transA, transB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	check := func(name string, rows, cols, ld, length int) {
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("gemm: leading dimension of %s is %d, less than its %d columns", name, ld, cols))
		}
		if rows > 0 && cols > 0 && length < (rows-1)*ld+cols {
			panic(fmt.Sprintf("gemm: %s has %d elements, needs %d for %dx%d with ld %d", name, length, (rows-1)*ld+cols, rows, cols, ld))
		}
	}
	check("A", rowsA, colsA, lda, lenA)
	check("B", rowsB, colsB, ldb, lenB)
	check("C", m, n, ldc, lenC)
}
