package kernels

import (
	"github.com/vlbert/vlbert/internal/parallel"
)

// Allocation-free parallel loops. parallel.For's body is a closure over the kernel's
// arguments, which escapes to the workers and is allocated on every call;
// parallel.ForArgs instead copies the arguments into a pooled heap box and takes a
// body that captures nothing. The helpers below cover the kernels' common shapes
// (f is a top-level function, so passing it allocates nothing either); kernels with
// other shapes pass their own args struct.

// elemArgs is an elementwise loop over up to three slices: f(o[lo:hi], x[lo:hi], y[lo:hi]).
type elemArgs struct {
	o, x, y []float32
	f2      func(o, x []float32)
	f3      func(o, x, y []float32)
}

// forElems2 runs f(o[lo:hi], x[lo:hi]) over chunks of [0, n).
func forElems2(n, minChunk int, o, x []float32, f func(o, x []float32)) {
	parallel.ForArgs(n, minChunk, elemArgs{o: o, x: x, f2: f}, func(a *elemArgs, lo, hi int) {
		a.f2(a.o[lo:hi], a.x[lo:hi])
	})
}

// forElems3 runs f(o[lo:hi], x[lo:hi], y[lo:hi]) over chunks of [0, n).
func forElems3(n, minChunk int, o, x, y []float32, f func(o, x, y []float32)) {
	parallel.ForArgs(n, minChunk, elemArgs{o: o, x: x, y: y, f3: f}, func(a *elemArgs, lo, hi int) {
		a.f3(a.o[lo:hi], a.x[lo:hi], a.y[lo:hi])
	})
}

// rowArgs is a loop over rows (or blocks) of up to four slices with one size argument.
type rowArgs struct {
	s0, s1, s2, s3 []float32
	c              int
	f2             func(s0, s1 []float32, lo, hi, c int)
	f3             func(s0, s1, s2 []float32, lo, hi, c int)
	f4             func(s0, s1, s2, s3 []float32, lo, hi, c int)
}

// forRows2 runs f(s0, s1, lo, hi, c) over chunks of [0, n).
func forRows2(n, minChunk int, s0, s1 []float32, c int, f func(s0, s1 []float32, lo, hi, c int)) {
	parallel.ForArgs(n, minChunk, rowArgs{s0: s0, s1: s1, c: c, f2: f}, func(a *rowArgs, lo, hi int) {
		a.f2(a.s0, a.s1, lo, hi, a.c)
	})
}

// forRows3 runs f(s0, s1, s2, lo, hi, c) over chunks of [0, n).
func forRows3(n, minChunk int, s0, s1, s2 []float32, c int, f func(s0, s1, s2 []float32, lo, hi, c int)) {
	parallel.ForArgs(n, minChunk, rowArgs{s0: s0, s1: s1, s2: s2, c: c, f3: f}, func(a *rowArgs, lo, hi int) {
		a.f3(a.s0, a.s1, a.s2, lo, hi, a.c)
	})
}

// forRows4 runs f(s0, s1, s2, s3, lo, hi, c) over chunks of [0, n).
func forRows4(n, minChunk int, s0, s1, s2, s3 []float32, c int, f func(s0, s1, s2, s3 []float32, lo, hi, c int)) {
	parallel.ForArgs(n, minChunk, rowArgs{s0: s0, s1: s1, s2: s2, s3: s3, c: c, f4: f}, func(a *rowArgs, lo, hi int) {
		a.f4(a.s0, a.s1, a.s2, a.s3, lo, hi, a.c)
	})
}

// maskArgs applies a dropout mask: m.apply(dst[lo:hi], src[lo:hi], base+lo).
type maskArgs struct {
	dst, src []float32
	m        masker
	base     uint64
}

func forMask(n, minChunk int, dst, src []float32, m masker, base uint64) {
	parallel.ForArgs(n, minChunk, maskArgs{dst, src, m, base}, func(a *maskArgs, lo, hi int) {
		a.m.apply(a.dst[lo:hi], a.src[lo:hi], a.base+uint64(lo))
	})
}
