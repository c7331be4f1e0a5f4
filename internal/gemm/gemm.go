// Package gemm is vlbert's single-precision matrix multiply (SGEMM).
//
// All matrices are row-major. Sgemm computes C = alpha*op(A)*op(B) + beta*C where
// op(X) is X or its transpose; A is m x k after op, B is k x n after op, C is m x n.
// Leading dimensions are row strides in elements. C must not alias A or B. Only the
// m x n window of C is written; elements between rows (ldc > n) are left untouched.
//
// The implementation follows the GotoBLAS/BLIS structure: op(B) is packed in KC x NC
// blocks, op(A) in MC x KC blocks, both into reused contiguous buffers (mutex free
// lists; no allocation per call once warm), and a register-blocked micro-kernel
// computes MR x NR tiles of C, all full tiles of one panel of an A block per call.
// The depth is split into equal blocks of at most KC. For short or narrow C, where a
// packed panel would be reused only a few times, the micro-kernels read A (and B when
// not transposed) in place instead. Micro-kernels are Go assembly for AVX-512 (12x32)
// and AVX2+FMA (6x16), chosen at run time from CPU features, and plain Go (4x4)
// everywhere else; the environment variable VLBERT_GEMM_KERNEL (generic, avx2,
// avx512) forces one, and VLBERT_GEMM_BLOCKING="mc,kc,nc" sets its cache blocking
// (for tuning on a new CPU). On amd64 the packing routines are AVX assembly that
// prefetch the rows they read next (weights and activations are rarely in cache, and
// one row's run of KC floats is too short for the hardware prefetcher). SgemmBias adds a bias row in
// the micro-kernel's final store instead of a separate pass over C.
// Work is split over parallel.Threads() workers by rows of C (by columns when C has
// few rows) in chunks that idle workers take (on parallel's worker pool, with pooled
// bookkeeping: a parallel product allocates nothing once warm either); the split
// never changes the order of the floating-point operations, so results do not depend
// on the thread count.
//
// OpenBLASSgemm is an optional comparison backend (the system's OpenBLAS, loaded at
// run time without cgo); nothing in vlbert requires it.
package gemm

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vlbert/vlbert/internal/parallel"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C. transA/transB select op.
// With beta == 0, C is overwritten without being read (NaNs in C do not propagate).
// It panics with a "gemm: ..." message on inconsistent sizes, before any work.
//
// The plain loop it replaces:
//
//	for i < m, j < n: C[i][j] = alpha * Σ_p op(A)[i][p]*op(B)[p][j] + beta*C[i][j]
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	sgemm(active, parallel.Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmBias computes C = alpha*op(A)*op(B) + beta*C and then adds bias[j] to every
// C[i][j] (bias has n elements; nil adds nothing), with the rounding of a separate
// pass after the product (the sum is rounded, then the bias added) but without that
// pass over C: each panel of C gets its bias while it is still in cache.
// It panics with a "gemm: ..." message on inconsistent sizes, before any work.
func SgemmBias(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if bias != nil && len(bias) < n {
		panic(fmt.Sprintf("gemm: bias has %d elements, needs %d", len(bias), n))
	}
	sgemmBias(active, parallel.Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
}

// SgemmStrided computes batch independent products
// C_i = alpha*op(A_i)*op(B_i) + beta*C_i for i < batch, where X_i is the matrix that
// starts at x[i*strideX] (so A_i is a[i*strideA:] with leading dimension lda).
// Strides of A and B may be 0 (one matrix shared by every product). The C matrices
// must not overlap: either one follows the other (strideC >= (m-1)*ldc+n), or they
// sit side by side in the rows of a wider matrix (n <= strideC and
// (batch-1)*strideC+n <= ldc, e.g. heads of an attention output [T, NH*hs]). Products run in parallel over the batch.
func SgemmStrided(transA, transB bool, batch, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int) {
	checkStrided(transA, transB, batch, m, n, k, len(a), lda, strideA, len(b), ldb, strideB, len(c), ldc, strideC)
	sgemmStrided(active, parallel.Threads(), transA, transB, batch, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC)
}

// KernelName names the micro-kernel that Sgemm dispatches to on this CPU:
// "avx512", "avx2" or "generic".
func KernelName() string { return active.name }

// Kernels lists the micro-kernels this CPU can run, fastest first.
func Kernels() []string {
	var names []string
	for _, k := range supportedKernels() {
		names = append(names, k.name)
	}
	return names
}

// SetKernel selects the micro-kernel by name (see Kernels) for all later calls and
// returns the previous name. It is meant for benchmarks and tests; it must not be
// called while a multiply runs.
func SetKernel(name string) (string, error) {
	k, err := kernelByName(name)
	if err != nil {
		return active.name, err
	}
	prev := active.name
	active = applyBlockingEnv(k)
	return prev, nil
}

// active is the kernel used by Sgemm and SgemmStrided.
var active = chooseKernel()

// chooseKernel returns the fastest supported kernel, or the one that
// VLBERT_GEMM_KERNEL names; an unknown or unsupported name falls back to the fastest
// with a message on stderr (a bad environment must not stop a long training run).
func chooseKernel() *kernel {
	k := supportedKernels()[0]
	if name := os.Getenv("VLBERT_GEMM_KERNEL"); name != "" {
		named, err := kernelByName(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vlbert: VLBERT_GEMM_KERNEL: %v; using %s\n", err, k.name)
		} else {
			k = named
		}
	}
	return applyBlockingEnv(k)
}

// applyBlockingEnv returns k with the blocking VLBERT_GEMM_BLOCKING sets, if any
// (a copy: the kernel tables keep their defaults), or k itself, with a message on
// stderr when the setting does not fit k.
func applyBlockingEnv(k *kernel) *kernel {
	spec := os.Getenv("VLBERT_GEMM_BLOCKING")
	if spec == "" {
		return k
	}
	blocked, err := withBlocking(k, spec)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vlbert: VLBERT_GEMM_BLOCKING: %v; using %d,%d,%d\n", err, k.mc, k.kc, k.nc)
		return k
	}
	return blocked
}

// withBlocking returns a copy of k with the cache blocking "mc,kc,nc" (for tuning on
// a new CPU: the A block is mc x kc floats, the B block kc x nc; mc a multiple of the
// tile's rows, nc of its columns).
func withBlocking(k *kernel, spec string) (*kernel, error) {
	bad := fmt.Errorf("gemm: blocking %q: want mc,kc,nc (three integers)", spec)
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		return nil, bad
	}
	var v [3]int
	for i, part := range parts {
		var err error
		if v[i], err = strconv.Atoi(strings.TrimSpace(part)); err != nil {
			return nil, bad
		}
	}
	mc, kc, nc := v[0], v[1], v[2]
	if mc <= 0 || mc%k.mr != 0 || mc > 1<<16 || kc <= 0 || kc > 1<<16 || nc <= 0 || nc%k.nr != 0 || nc > 1<<20 {
		return nil, fmt.Errorf("gemm: blocking %q for kernel %s: want mc a multiple of %d in (0, 65536], kc in (0, 65536], nc a multiple of %d in (0, 1048576]", spec, k.name, k.mr, k.nr)
	}
	c := *k
	c.mc, c.kc, c.nc = mc, kc, nc
	return &c, nil
}

// Blocking is the active kernel's cache blocking: mc, kc, nc.
func Blocking() (mc, kc, nc int) { return active.mc, active.kc, active.nc }

func kernelByName(name string) (*kernel, error) {
	for _, k := range supportedKernels() {
		if k.name == name {
			return k, nil
		}
	}
	for _, k := range allKernels {
		if k.name == name {
			return nil, fmt.Errorf("gemm: kernel %q is not supported by this CPU (supported: %v)", name, Kernels())
		}
	}
	return nil, fmt.Errorf("gemm: unknown kernel %q (supported: %v)", name, Kernels())
}

// supportedKernels returns the kernels this CPU can run, fastest first; the generic
// kernel is always last.
func supportedKernels() []*kernel {
	var ks []*kernel
	for _, k := range allKernels {
		if k.supported() {
			ks = append(ks, k)
		}
	}
	return ks
}

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
	checkMatrix("A", rowsA, colsA, lda, lenA)
	checkMatrix("B", rowsB, colsB, ldb, lenB)
	checkMatrix("C", m, n, ldc, lenC)
}

// checkMatrix panics unless a rows x cols matrix with leading dimension ld fits in
// length elements.
func checkMatrix(name string, rows, cols, ld, length int) {
	if ld < max(cols, 1) {
		panic(fmt.Sprintf("gemm: leading dimension of %s is %d, less than its %d columns", name, ld, cols))
	}
	if need := footprint(rows, cols, ld); length < need {
		panic(fmt.Sprintf("gemm: %s has %d elements, needs %d for %dx%d with ld %d", name, length, need, rows, cols, ld))
	}
}

// footprint is the number of elements a rows x cols matrix with leading dimension
// ld spans.
func footprint(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

func checkStrided(transA, transB bool, batch, m, n, k, lenA, lda, strideA, lenB, ldb, strideB, lenC, ldc, strideC int) {
	if batch < 0 || m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension batch=%d m=%d n=%d k=%d", batch, m, n, k))
	}
	if strideA < 0 || strideB < 0 || strideC < 0 {
		panic(fmt.Sprintf("gemm: negative stride strideA=%d strideB=%d strideC=%d", strideA, strideB, strideC))
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	check := func(name string, rows, cols, ld, stride, length int) {
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("gemm: leading dimension of %s is %d, less than its %d columns", name, ld, cols))
		}
		fp := footprint(rows, cols, ld)
		if batch == 0 || fp == 0 {
			return
		}
		if need := (batch-1)*stride + fp; length < need {
			panic(fmt.Sprintf("gemm: %s has %d elements, needs %d for %d matrices %dx%d with ld %d, stride %d", name, length, need, batch, rows, cols, ld, stride))
		}
	}
	check("A", rowsA, colsA, lda, strideA, lenA)
	check("B", rowsB, colsB, ldb, strideB, lenB)
	check("C", m, n, ldc, strideC, lenC)
	// The C matrices may follow each other (stride >= footprint) or sit side by side
	// within the rows of one wider matrix (heads of an attention output).
	fp := footprint(m, n, ldc)
	if batch > 1 && fp > 0 && strideC < fp && (strideC < n || (batch-1)*strideC+n > ldc) {
		panic(fmt.Sprintf("gemm: C matrices overlap: %d matrices %dx%d with ld %d and stride %d", batch, m, n, ldc, strideC))
	}
}
