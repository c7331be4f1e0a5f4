package model

import "math"

// arena hands out zeroed float32 slices from reusable chunks. A pass calls reset, then
// alloc for every buffer it needs. When a pass outgrows the arena, extra chunks are
// allocated (earlier slices stay valid); a pass with the same buffer sizes reuses them
// as they are, and reset merges them into one chunk big enough for the last pass when
// they hold more than twice what it needed, so a steady state of equal or smaller
// batch shapes allocates nothing.
type arena struct {
	chunks [][]float32
	cur    int // chunk being carved
	off    int // offset in chunks[cur]
	used   int // floats live now
	peak   int // most floats live at once in this pass
}

func (a *arena) reset() {
	// Chunks are kept as they are while they hold at most twice the last pass's peak:
	// a pass with the same sequence of buffer sizes carves them the same way again, so
	// nothing is allocated, and no merged copy is faulted in while the old chunks are
	// still referenced (that doubled the peak RSS of the second pass). Only a
	// fragmented arena (shapes that changed a lot) is merged into one chunk.
	if len(a.chunks) > 1 {
		total := 0
		for _, c := range a.chunks {
			total += len(c)
		}
		if total > 2*a.peak+1<<20 {
			a.chunks = [][]float32{make([]float32, a.peak+a.peak/8)}
		}
	}
	a.cur, a.off, a.used, a.peak = 0, 0, 0, 0
}

// arenaMark is a position to rewind to.
type arenaMark struct{ cur, off, used int }

// mark returns the current position; release(mark) frees everything allocated after
// it, so scratch buffers of one layer's backward are reused by the next layer.
func (a *arena) mark() arenaMark { return arenaMark{a.cur, a.off, a.used} }

func (a *arena) release(m arenaMark) { a.cur, a.off, a.used = m.cur, m.off, m.used }

func (a *arena) alloc(n int) []float32 {
	s := a.allocUninit(n)
	clear(s)
	return s
}

// allocUninit is alloc without the clearing: the slice holds whatever an earlier pass
// left there. Only for buffers that the next kernel overwrites completely (outputs of
// beta = 0 products, LayerNorm, GELU, Add, attention and dropout, and the activation
// gradients that kernels OVERWRITE).
func (a *arena) allocUninit(n int) []float32 {
	s := a.carve(n)
	if poisonUninit {
		for i := range s {
			s[i] = float32(math.NaN())
		}
	}
	return s
}

// poisonUninit (tests only) fills allocUninit's buffers with NaN, so a kernel that
// reads one before writing all of it shows up as NaN outputs.
var poisonUninit = false

// carveAlign is the alignment, in floats, of every carved buffer: 64 bytes, a cache
// line (chunks are large allocations, page-aligned), so that the GEMM micro-kernel's
// 16-float rows of C never straddle two lines whatever the batch shape.
const carveAlign = 16

func (a *arena) carve(n int) []float32 {
	a.used += (n + carveAlign - 1) &^ (carveAlign - 1) // with the padding
	a.peak = max(a.peak, a.used)
	for a.cur < len(a.chunks) {
		c := a.chunks[a.cur]
		if start := (a.off + carveAlign - 1) &^ (carveAlign - 1); start+n <= len(c) {
			s := c[start : start+n : start+n]
			a.off = start + n
			return s
		}
		a.cur++
		a.off = 0
	}
	size := max(n, 1<<16)
	a.chunks = append(a.chunks, make([]float32, size))
	a.off = n
	return a.chunks[a.cur][:n:n]
}

// intArena is arena for int32 index buffers.
type intArena struct {
	chunks [][]int32
	cur    int
	off    int
	used   int
}

func (a *intArena) reset() {
	if len(a.chunks) > 1 {
		a.chunks = [][]int32{make([]int32, a.used+a.used/8)}
	}
	a.cur, a.off, a.used = 0, 0, 0
}

func (a *intArena) alloc(n int) []int32 {
	a.used += n
	for a.cur < len(a.chunks) {
		c := a.chunks[a.cur]
		if a.off+n <= len(c) {
			s := c[a.off : a.off+n : a.off+n]
			a.off += n
			clear(s)
			return s
		}
		a.cur++
		a.off = 0
	}
	size := max(n, 1<<12)
	a.chunks = append(a.chunks, make([]int32, size))
	a.off = n
	return a.chunks[a.cur][:n:n]
}

// Alloc implements heads.Arena.
func (a *arena) Alloc(n int) []float32 { return a.alloc(n) }
