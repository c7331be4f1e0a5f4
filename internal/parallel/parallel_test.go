package parallel

import (
	"runtime"
	"testing"
)

func TestForCoversRangeOnce(t *testing.T) {
	for _, th := range []int{1, 2, 3, 8} {
		prev := SetThreads(th)
		for _, n := range []int{0, 1, 2, 7, 100, 1001} {
			for _, minChunk := range []int{0, 1, 16} {
				hits := make([]int32, n)
				For(n, minChunk, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						hits[i]++
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

func TestForNestedDoesNotDeadlock(t *testing.T) {
	prev := SetThreads(4)
	defer SetThreads(prev)
	var total [64]int
	For(8, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			For(8, 1, func(lo2, hi2 int) {
				for j := lo2; j < hi2; j++ {
					total[i*8+j]++
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

func TestForAllocatesNothing(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("zero-allocation For needs the amd64 noescape helper")
	}
	prev := SetThreads(2)
	defer SetThreads(prev)
	data := make([]float32, 1<<12)
	allocs := testing.AllocsPerRun(100, func() {
		For(len(data), 64, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				data[i] += 1
			}
		})
	})
	if allocs != 0 {
		t.Fatalf("For allocates %.1f times per call", allocs)
	}
}

func BenchmarkForOverhead(b *testing.B) {
	data := make([]float32, 1024)
	b.ReportAllocs()
	for b.Loop() {
		For(len(data), 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				data[i]++
			}
		})
	}
}
