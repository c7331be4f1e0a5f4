//go:build noopenblas || !((linux || darwin) && (amd64 || arm64))

package gemm

import "errors"

var errNoOpenBLAS = errors.New("gemm: OpenBLAS backend not built in (noopenblas tag or platform without purego)")

// OpenBLASAvailable reports whether an OpenBLAS library could be loaded.
func OpenBLASAvailable() bool { return false }

func openblasError() error { return errNoOpenBLAS }

// OpenBLASInfo names the loaded library and OpenBLAS's core type.
func OpenBLASInfo() (lib, core string, err error) { return "", "", errNoOpenBLAS }

// OpenBLASSetThreads sets OpenBLAS's own thread count.
func OpenBLASSetThreads(n int) {}

// OpenBLASSgemm is Sgemm computed by OpenBLAS; not available on this platform.
func OpenBLASSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic(errNoOpenBLAS.Error())
}
