// Package parallel runs loops over index ranges on a fixed pool of goroutines.
//
// vlbert's kernels split work by rows, heads or blocks; For hands each worker one
// contiguous chunk so that results are deterministic whatever the thread count
// (each output element is written by exactly one worker, in the same order).
//
// Workers are long-lived, so a call costs no goroutine start. The loop body escapes
// to the heap (one small allocation per call when it captures variables): handing a
// pointer into the caller's stack to another goroutine is unsafe, because the
// runtime may move that stack (growth, or shrinking during GC) while workers run.
// A chunk that finds no idle worker runs on the calling goroutine, so nested For
// calls never deadlock.
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

type task struct {
	fn     *func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
}

var wgPool = sync.Pool{New: func() any { return new(sync.WaitGroup) }}

var (
	tasks     = make(chan task) // unbuffered: a send succeeds only when a worker is idle
	poolMu    sync.Mutex
	poolSize  int
	spawnedOK atomic.Int32
)

// ensureWorkers starts workers until n are running.
func ensureWorkers(n int) {
	if int(spawnedOK.Load()) >= n {
		return
	}
	poolMu.Lock()
	for poolSize < n {
		poolSize++
		go worker()
	}
	spawnedOK.Store(int32(poolSize))
	poolMu.Unlock()
}

func worker() {
	for t := range tasks {
		(*t.fn)(t.lo, t.hi)
		t.wg.Done()
	}
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
	ensureWorkers(workers - 1)
	// The wait group lives on the heap (pooled, so still no allocation):
	// a goroutine's stack can move while it waits (the GC shrinks stacks of
	// parked goroutines, calls grow them), and a worker's Done on the old
	// stack copy would be lost, leaving Wait blocked forever.
	wgp := wgPool.Get().(*sync.WaitGroup)
	defer wgPool.Put(wgp)
	fnp := &fn
	for w := 1; w < workers; w++ {
		lo, hi := w*n/workers, (w+1)*n/workers
		wgp.Add(1)
		select {
		case tasks <- task{fnp, lo, hi, wgp}:
		default: // every worker is busy (or this is a nested call): run it here
			fn(lo, hi)
			wgp.Done()
		}
	}
	fn(0, n/workers)
	wgp.Wait()
}
