package kernels

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/parallel"
)

// need panics unless s holds at least n elements.
func need(fn, name string, s []float32, n int) {
	if len(s) < n {
		panic(fmt.Sprintf("kernels: %s: %s has %d elements, need %d", fn, name, len(s), n))
	}
}

// needOpt is need for an optional (nil-able) argument.
func needOpt(fn, name string, s []float32, n int) {
	if s != nil {
		need(fn, name, s, n)
	}
}

// sameLen panics unless a and b have equal lengths (elementwise kernels).
func sameLen(fn, nameA string, a []float32, nameB string, b []float32) {
	if len(a) != len(b) {
		panic(fmt.Sprintf("kernels: %s: %s has %d elements, %s has %d", fn, nameA, len(a), nameB, len(b)))
	}
}

// nonNeg panics if any size is negative.
func nonNeg(fn string, sizes ...int) {
	for _, s := range sizes {
		if s < 0 {
			panic(fmt.Sprintf("kernels: %s: negative size %d", fn, s))
		}
	}
}

// Chunk sizes for parallel.For: enough work per goroutine to pay for its start.
const (
	elemChunk = 1 << 15 // elementwise kernels, in elements
)

// rowChunk returns a minChunk in rows so that each chunk covers about elemChunk/4 elements.
func rowChunk(cols int) int {
	if cols <= 0 {
		return 1
	}
	return max(1, (elemChunk/4)/cols)
}

// serial reports whether parallel.For(n, minChunk, ...) would run on the calling goroutine
// alone. Kernels then call their loop body directly, so that no closure is created: with
// one thread, steady-state calls do not allocate.
func serial(n, minChunk int) bool {
	return parallel.Threads() == 1 || n <= minChunk
}
