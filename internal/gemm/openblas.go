//go:build !noopenblas && (linux || darwin) && (amd64 || arm64)

package gemm

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/ebitengine/purego"
)

// OpenBLAS is an optional comparison backend: the system's OpenBLAS, loaded at run
// time with purego (no cgo), when a library is installed. vlbert never needs it.
// OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS are read by the library when it loads,
// so they must be in the process environment from the start.
//
// purego makes even CGO_ENABLED=0 binaries link libc dynamically; build with
// -tags noopenblas for a static binary without this backend.

var openblas struct {
	once     sync.Once
	err      error
	lib      string
	sgemm    func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	threads  func(n int32)
	corename func() string
}

// openblasNames are the library names tried in order.
var openblasNames = map[string][]string{
	"linux":  {"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0", "libopenblaso.so.0"},
	"darwin": {"libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib", "/usr/local/opt/openblas/lib/libopenblas.dylib"},
}

func loadOpenBLAS() {
	var errs []error
	for _, name := range openblasNames[runtime.GOOS] {
		h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := registerOpenBLAS(h); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		openblas.lib = name
		return
	}
	openblas.err = fmt.Errorf("gemm: no OpenBLAS library: %w", errors.Join(errs...))
}

func registerOpenBLAS(h uintptr) (err error) {
	defer func() {
		// purego.RegisterLibFunc panics on a missing symbol.
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	purego.RegisterLibFunc(&openblas.sgemm, h, "cblas_sgemm")
	purego.RegisterLibFunc(&openblas.threads, h, "openblas_set_num_threads")
	purego.RegisterLibFunc(&openblas.corename, h, "openblas_get_corename")
	return nil
}

// OpenBLASAvailable reports whether an OpenBLAS library could be loaded.
func OpenBLASAvailable() bool { return openblasError() == nil }

func openblasError() error {
	openblas.once.Do(loadOpenBLAS)
	return openblas.err
}

// OpenBLASInfo names the loaded library and the core type OpenBLAS chose for this
// CPU (set OPENBLAS_CORETYPE before the process starts to override it).
func OpenBLASInfo() (lib, core string, err error) {
	if err := openblasError(); err != nil {
		return "", "", err
	}
	return openblas.lib, openblas.corename(), nil
}

// OpenBLASSetThreads sets OpenBLAS's own thread count.
func OpenBLASSetThreads(n int) {
	if openblasError() == nil {
		openblas.threads(int32(max(n, 1)))
	}
}

// OpenBLASSgemm is Sgemm computed by OpenBLAS's cblas_sgemm (row-major). It panics
// when OpenBLAS is not available, or on the same shape errors as Sgemm.
func OpenBLASSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if err := openblasError(); err != nil {
		panic(err.Error())
	}
	if m == 0 || n == 0 {
		return
	}
	const rowMajor, noTrans, trans = 101, 111, 112
	ta, tb := int32(noTrans), int32(noTrans)
	if transA {
		ta = trans
	}
	if transB {
		tb = trans
	}
	// BLAS wants valid pointers even when k == 0; one element keeps them non-nil.
	var dummy [1]float32
	pa, pb := &dummy[0], &dummy[0]
	if len(a) > 0 {
		pa = &a[0]
	}
	if len(b) > 0 {
		pb = &b[0]
	}
	openblas.sgemm(rowMajor, ta, tb, int32(m), int32(n), int32(k), alpha, pa, int32(lda), pb, int32(ldb), beta, &c[0], int32(ldc))
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
}
