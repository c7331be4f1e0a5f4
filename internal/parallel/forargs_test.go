package parallel

import (
	"sync/atomic"
	"testing"
)

type hitArgs struct{ hits []int32 }

func TestForArgsCoversRangeOnce(t *testing.T) {
	for _, th := range []int{1, 2, 3, 8} {
		prev := SetThreads(th)
		for _, n := range []int{0, 1, 2, 7, 100, 1001} {
			for _, minChunk := range []int{0, 1, 16} {
				hits := make([]int32, n)
				ForArgs(n, minChunk, hitArgs{hits}, func(a *hitArgs, lo, hi int) {
					for i := lo; i < hi; i++ {
						a.hits[i]++
					}
				})
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("threads=%d n=%d minChunk=%d: index %d visited %d times", th, n, minChunk, i, h)
					}
				}
			}
		}
		SetThreads(prev)
	}
}

// TestForArgsSameChunksAsFor checks that ForArgs splits exactly as For does
// (results that depend on chunk boundaries stay bit-identical after conversion).
func TestForArgsSameChunksAsFor(t *testing.T) {
	prev := SetThreads(3)
	defer SetThreads(prev)
	type ownerArgs struct{ owner []int }
	for _, n := range []int{1, 5, 64, 1000} {
		want, got := make([]int, n), make([]int, n)
		For(n, 4, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				want[i] = lo
			}
		})
		ForArgs(n, 4, ownerArgs{got}, func(a *ownerArgs, lo, hi int) {
			for i := lo; i < hi; i++ {
				a.owner[i] = lo
			}
		})
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("n=%d index %d: For chunk starts at %d, ForArgs at %d", n, i, want[i], got[i])
			}
		}
	}
}

type nestArgs struct{ total []int32 }
type innerArgs struct {
	total []int32
	i     int
}

func TestForArgsNestedDoesNotDeadlock(t *testing.T) {
	prev := SetThreads(4)
	defer SetThreads(prev)
	total := make([]int32, 64)
	ForArgs(8, 1, nestArgs{total}, func(a *nestArgs, lo, hi int) {
		for i := lo; i < hi; i++ {
			ForArgs(8, 1, innerArgs{a.total, i}, func(b *innerArgs, lo2, hi2 int) {
				for j := lo2; j < hi2; j++ {
					atomic.AddInt32(&b.total[b.i*8+j], 1)
				}
			})
		}
	})
	for i, v := range total {
		if v != 1 {
			t.Fatalf("cell %d visited %d times", i, v)
		}
	}
}

type deepArgs struct {
	sum   []int
	depth int
}

// TestForArgsSurvivesStackMoves grows stacks while workers hold the box.
func TestForArgsSurvivesStackMoves(t *testing.T) {
	prev := SetThreads(4)
	defer SetThreads(prev)
	for round := 0; round < 200; round++ {
		sum := make([]int, 4)
		ForArgs(4, 1, deepArgs{sum, 200 + round}, func(a *deepArgs, lo, hi int) {
			for i := lo; i < hi; i++ {
				a.sum[i] = deep(a.depth)
			}
		})
		for i, v := range sum {
			if v != 200+round {
				t.Fatalf("round %d chunk %d: %d", round, i, v)
			}
		}
	}
}

type addArgs struct {
	data []float32
	v    float32
}

func TestForArgsAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	prev := SetThreads(2)
	defer SetThreads(prev)
	data := make([]float32, 4096)
	step := func() {
		ForArgs(len(data), 16, addArgs{data, 1}, func(a *addArgs, lo, hi int) {
			for i := lo; i < hi; i++ {
				a.data[i] += a.v
			}
		})
		ForArgs(len(data), len(data), addArgs{data, 1}, func(a *addArgs, lo, hi int) { // serial path
			for i := lo; i < hi; i++ {
				a.data[i] -= a.v
			}
		})
	}
	for range 10 {
		step()
	}
	if got := testing.AllocsPerRun(200, step); got != 0 {
		t.Fatalf("ForArgs allocates %v times per call pair, want 0", got)
	}
	for i, v := range data {
		if v != 0 {
			t.Fatalf("data[%d] = %v after +1 -1 rounds", i, v)
		}
	}
}

func BenchmarkForArgsOverhead(b *testing.B) {
	data := make([]float32, 1024)
	b.ReportAllocs()
	for b.Loop() {
		ForArgs(len(data), 16, addArgs{data, 1}, func(a *addArgs, lo, hi int) {
			for i := lo; i < hi; i++ {
				a.data[i] += a.v
			}
		})
	}
}
