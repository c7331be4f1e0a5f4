//go:build amd64

package quant

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernels; tests switch it off to run the Go ones.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// tileU8S8 is tileGeneric in AVX2 (VPMADDUBSW + VPMADDWD + VPADDD), for a full
// mr x nr tile; groups >= 1.
//
//go:noescape
func tileU8S8(groups int, a *uint8, lda int, b *int8, y *float32, ldy int, sx, zx, sw, sumW, bias *float32)

// minMaxAVX returns the minimum and maximum of x[:n] and whether any is NaN; n is a
// positive multiple of 8.
//
//go:noescape
func minMaxAVX(x *float32, n int) (lo, hi float32, nan bool)

// quantizeAVX is quantizeGeneric on x[:n], n a positive multiple of 32.
//
//go:noescape
func quantizeAVX(q *uint8, x *float32, n int, inv, z float32)

func tile(groups int, a []uint8, lda int, b []int8, y []float32, ldy int, sx, zx, sw, sumW, bias []float32) {
	if !useAVX2 {
		tileGeneric(groups, a, lda, b, y, ldy, sx, zx, sw, sumW, bias)
		return
	}
	// The assembly reads and writes exactly these ranges.
	_ = a[(mr-1)*lda+groups*kq-1]
	_ = b[groups*nr*kq-1]
	_ = y[(mr-1)*ldy+nr-1]
	_, _, _, _, _ = sx[mr-1], zx[mr-1], sw[nr-1], sumW[nr-1], bias[nr-1]
	tileU8S8(groups, &a[0], lda, &b[0], &y[0], ldy, &sx[0], &zx[0], &sw[0], &sumW[0], &bias[0])
}

// minMax returns the smallest and largest element of x (len ≥ 1), NaN if x holds one.
func minMax(x []float32) (lo, hi float32) {
	n := len(x) &^ 7
	if !useAVX2 || n == 0 {
		return minMaxGeneric(x)
	}
	lo, hi, nan := minMaxAVX(&x[0], n)
	if nan {
		return nanF, nanF
	}
	for _, v := range x[n:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

func quantizeInto(q []uint8, x []float32, inv, z float32) {
	n := len(x) &^ 31
	if useAVX2 && n > 0 {
		_ = q[n-1]
		quantizeAVX(&q[0], &x[0], n, inv, z)
	} else {
		n = 0
	}
	quantizeGeneric(q[n:], x[n:len(q)], inv, z)
}
