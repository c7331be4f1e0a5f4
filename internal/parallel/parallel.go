// Package parallel runs loops over index ranges on a fixed pool of goroutines.
//
// vlbert's kernels split work by rows, heads or blocks; For hands each worker one
// contiguous chunk so that results are deterministic whatever the thread count
// (each output element is written by exactly one worker, in the same order).
//
// Workers are long-lived, so a call costs no goroutine start. For's loop body
// escapes to the heap (a small allocation per call when it captures variables):
// handing a pointer into the caller's stack to another goroutine is unsafe, because
// the runtime may move that stack (growth, or shrinking during GC) while workers
// run. ForArgs avoids that allocation: the caller's inputs travel in an args value
// copied into a pooled heap box, and the body is a non-capturing function. A chunk
// that finds no idle worker runs on the calling goroutine, so nested calls never
// deadlock.
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

// runner is what a worker runs: a For body or a ForArgs box.
type runner interface{ run(lo, hi int) }

// funcRunner wraps For's heap copy of the body (pointer-shaped, so converting it to
// a runner does not allocate).
type funcRunner struct{ fn *func(lo, hi int) }

func (f funcRunner) run(lo, hi int) { (*f.fn)(lo, hi) }

type task struct {
	r      runner
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
		t.r.run(t.lo, t.hi)
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
	workers := workersFor(n, minChunk)
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
	fr := funcRunner{&fn}
	for w := 1; w < workers; w++ {
		lo, hi := w*n/workers, (w+1)*n/workers
		wgp.Add(1)
		select {
		case tasks <- task{fr, lo, hi, wgp}:
		default: // every worker is busy (or this is a nested call): run it here
			fn(lo, hi)
			wgp.Done()
		}
	}
	fn(0, n/workers)
	wgp.Wait()
}

// workersFor is the number of chunks For and ForArgs split [0, n) into.
func workersFor(n, minChunk int) int {
	if minChunk < 1 {
		minChunk = 1
	}
	workers := Threads()
	if maxW := (n + minChunk - 1) / minChunk; workers > maxW {
		workers = maxW
	}
	return workers
}

// box is the reused heap home of one ForArgs call: its args, body and wait group.
type box[A any] struct {
	args A
	fn   func(a *A, lo, hi int)
	wg   sync.WaitGroup
}

func (b *box[A]) run(lo, hi int) { b.fn(&b.args, lo, hi) }

// boxPools maps the type token any((*A)(nil)) to the *FreeList[box[A]] of idle boxes.
var boxPools sync.Map

func boxPool[A any]() *FreeList[box[A]] {
	key := any((*A)(nil)) // a typed nil pointer: converting it does not allocate
	if p, ok := boxPools.Load(key); ok {
		return p.(*FreeList[box[A]])
	}
	p, _ := boxPools.LoadOrStore(key, new(FreeList[box[A]]))
	return p.(*FreeList[box[A]])
}

// ForArgs is For without the per-call allocation: it calls fn(&args', lo, hi) on
// the same disjoint chunks of [0, n) that For would use, where args' is a copy of
// args kept in a reused heap box that every chunk shares (fn may write to it only
// with its own synchronization; usually it just reads).
//
// fn must be a function literal that captures nothing (or a top-level function):
// such a function value is static and costs no allocation, whereas a capturing
// closure is allocated on every call, which is what ForArgs exists to avoid. Pass
// every input through args instead, e.g.
//
//	type scaleArgs struct{ x []float32; s float32 }
//	parallel.ForArgs(len(x), 1024, scaleArgs{x, s}, func(a *scaleArgs, lo, hi int) {
//		for i := lo; i < hi; i++ {
//			a.x[i] *= a.s
//		}
//	})
//
// Chunking, determinism and the nesting rule (a chunk with no idle worker runs on
// the caller) are those of For.
func ForArgs[A any](n, minChunk int, args A, fn func(a *A, lo, hi int)) {
	if n <= 0 {
		return
	}
	pool := boxPool[A]()
	b := pool.Get()
	b.args, b.fn = args, fn
	workers := workersFor(n, minChunk)
	if workers <= 1 {
		fn(&b.args, 0, n)
	} else {
		ensureWorkers(workers - 1)
		for w := 1; w < workers; w++ {
			lo, hi := w*n/workers, (w+1)*n/workers
			b.wg.Add(1)
			select {
			case tasks <- task{b, lo, hi, &b.wg}:
			default: // every worker is busy (or this is a nested call): run it here
				fn(&b.args, lo, hi)
				b.wg.Done()
			}
		}
		fn(&b.args, 0, n/workers)
		b.wg.Wait()
	}
	// Drop the references args held so that the pool does not keep them alive.
	var zero A
	b.args, b.fn = zero, nil
	pool.Put(b)
}
