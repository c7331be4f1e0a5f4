// Package parallel runs loops over index ranges on a fixed number of goroutines.
//
// vlbert's kernels split work by rows, heads or blocks; For hands each worker one
// contiguous chunk so that results are deterministic whatever the thread count
// (each output element is written by exactly one worker, in the same order).
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// Threads returns the number of workers that For uses.
func Threads() int { return int(threads.Load()) }

// SetThreads sets the number of workers (at least 1) and returns the previous value.
func SetThreads(n int) int {
	if n < 1 {
		n = 1
	}
	return int(threads.Swap(int32(n)))
}

// For calls fn(lo, hi) on disjoint chunks that cover [0, n). Chunks hold at least
// minChunk indices, so that tiny loops stay on the calling goroutine. fn must be safe
// to run concurrently on disjoint ranges.
func For(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if minChunk < 1 {
		minChunk = 1
	}
	workers := Threads()
	if maxW := (n + minChunk - 1) / minChunk; workers > maxW {
		workers = maxW
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		lo, hi := w*n/workers, (w+1)*n/workers
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	fn(0, n/workers)
	wg.Wait()
}
