//go:build !amd64

package gemm

// allKernels lists every kernel, fastest first; generic must be last.
var allKernels = []*kernel{generic}

// hasTranspose says whether transposeStrip can run: no assembly here.
const hasTranspose = false

func transposeStrip(src *float32, lds int, dst *float32, ldd int, blocks int) {
	panic("gemm: transposeStrip needs amd64")
}

// hasPack says whether the assembly packing routines can run: no assembly here.
const hasPack = false

func packA6(dst *float32, src *float32, lda int, kc int) { panic("gemm: packA6 needs amd64") }
func packAT6(dst *float32, src *float32, lda int, panels int, kc int) {
	panic("gemm: packAT6 needs amd64")
}
func packB16(dst *float32, src *float32, ldb int, kc int) { panic("gemm: packB16 needs amd64") }
