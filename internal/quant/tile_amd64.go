//go:build amd64

package quant

import (
	"fmt"
	"os"

	"golang.org/x/sys/cpu"
)

var (
	hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasVNNI = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI
)

//go:generate go run asm/gen.go

// useAVX2 selects the assembly row quantizer and min/max; tests switch it off to
// run the Go ones.
var useAVX2 = hasAVX2

// tileKernel is the micro-kernel Forward uses: "avx512vnni", "avx2" or "generic",
// the fastest this CPU runs unless the environment variable VLBERT_INT8_KERNEL
// names another (for comparisons).
var tileKernel = pickKernel(os.Getenv("VLBERT_INT8_KERNEL"))

// Kernels lists the micro-kernels this CPU can run, fastest first.
func Kernels() []string {
	var k []string
	if hasVNNI {
		k = append(k, "avx512vnni")
	}
	if hasAVX2 {
		k = append(k, "avx2")
	}
	return append(k, "generic")
}

// KernelName is the micro-kernel in use.
func KernelName() string { return tileKernel }

func pickKernel(want string) string {
	have := Kernels()
	if want == "" {
		return have[0]
	}
	for _, k := range have {
		if k == want {
			return k
		}
	}
	fmt.Fprintf(os.Stderr, "vlbert: VLBERT_INT8_KERNEL=%q is not one of %v on this CPU; using %s\n", want, have, have[0])
	return have[0]
}

// tileU8S8 is tileGeneric in AVX2 (VPMADDUBSW + VPMADDWD + VPADDD), for a full
// mr x nr tile; groups >= 1.
//
//go:noescape
func tileU8S8(groups int, a *uint8, lda int, b *int8, y *float32, ldy int, sx, zx, sw, sumW, bias *float32)

// tileVNNI is tileU8S8 with AVX512-VNNI's VPDPBUSD; bit-identical results.
//
//go:noescape
func tileVNNI(groups int, a *uint8, lda int, b *int8, y *float32, ldy int, sx, zx, sw, sumW, bias *float32)

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
	tileWith(tileKernel, groups, a, lda, b, y, ldy, sx, zx, sw, sumW, bias)
}

func tileWith(kernel string, groups int, a []uint8, lda int, b []int8, y []float32, ldy int, sx, zx, sw, sumW, bias []float32) {
	if kernel == "generic" {
		tileGeneric(groups, a, lda, b, y, ldy, sx, zx, sw, sumW, bias)
		return
	}
	// The assembly reads and writes exactly these ranges.
	_ = a[(mr-1)*lda+groups*kq-1]
	_ = b[groups*nr*kq-1]
	_ = y[(mr-1)*ldy+nr-1]
	_, _, _, _, _ = sx[mr-1], zx[mr-1], sw[nr-1], sumW[nr-1], bias[nr-1]
	if kernel == "avx512vnni" {
		tileVNNI(groups, &a[0], lda, &b[0], &y[0], ldy, &sx[0], &zx[0], &sw[0], &sumW[0], &bias[0])
		return
	}
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
