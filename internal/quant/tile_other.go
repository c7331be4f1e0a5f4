//go:build !amd64

package quant

// useAVX2 is always false here (a variable so that tests can set it).
var useAVX2 = false

const hasAVX2 = false

var tileKernel = "generic"

// Kernels lists the micro-kernels this CPU can run.
func Kernels() []string { return []string{"generic"} }

// KernelName is the micro-kernel in use.
func KernelName() string { return tileKernel }

func tile(groups int, a []uint8, lda int, b []int8, y []float32, ldy int, sx, zx, sw, sumW, bias []float32) {
	tileGeneric(groups, a, lda, b, y, ldy, sx, zx, sw, sumW, bias)
}

func tileWith(kernel string, groups int, a []uint8, lda int, b []int8, y []float32, ldy int, sx, zx, sw, sumW, bias []float32) {
	tileGeneric(groups, a, lda, b, y, ldy, sx, zx, sw, sumW, bias)
}

func minMax(x []float32) (lo, hi float32) { return minMaxGeneric(x) }

func quantizeInto(q []uint8, x []float32, inv, z float32) { quantizeGeneric(q, x, inv, z) }
