//go:build !amd64

package quant

var useAVX2 = false // no assembly here; a variable so that tests can set it

func tile(groups int, a []uint8, lda int, b []int8, y []float32, ldy int, sx, zx, sw, sumW, bias []float32) {
	tileGeneric(groups, a, lda, b, y, ldy, sx, zx, sw, sumW, bias)
}

func minMax(x []float32) (lo, hi float32) { return minMaxGeneric(x) }

func quantizeInto(q []uint8, x []float32, inv, z float32) { quantizeGeneric(q, x, inv, z) }
