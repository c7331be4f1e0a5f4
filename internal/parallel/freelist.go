package parallel

import "sync"

// FreeList is a mutex-guarded stack of idle items (scratch buffers, argument
// boxes). Unlike sync.Pool it never allocates in the steady state (sync.Pool
// allocates queue nodes when items move between Ps, as they do between a caller
// and the workers) and does not drop its items at every GC, which made the next
// kernel call allocate again; it holds at most as many items as were ever in use
// at once. The zero value is an empty list.
type FreeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

// Get returns an idle item, or a new zero one.
func (f *FreeList[T]) Get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.items); n > 0 {
		x := f.items[n-1]
		f.items[n-1] = nil
		f.items = f.items[:n-1]
		return x
	}
	return new(T)
}

// Put makes x idle.
func (f *FreeList[T]) Put(x *T) {
	f.mu.Lock()
	f.items = append(f.items, x)
	f.mu.Unlock()
}
