//go:build !amd64

package gemm

// allKernels lists every kernel, fastest first; generic must be last.
var allKernels = []*kernel{generic}

// hasTranspose says whether transposeStrip can run: no assembly here.
const hasTranspose = false

func transposeStrip(src *float32, lds int, dst *float32, ldd int, blocks int) {
	panic("gemm: transposeStrip needs amd64")
}
