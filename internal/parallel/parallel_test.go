package parallel

import "testing"

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

// TestForSurvivesStackMoves runs loop bodies that grow the caller's stack while
// workers hold the body: a body or wait group left on the moving stack would be
// read stale and lose updates or hang.
func TestForSurvivesStackMoves(t *testing.T) {
	prev := SetThreads(4)
	defer SetThreads(prev)
	for round := 0; round < 200; round++ {
		sum := make([]int, 4)
		For(4, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				sum[i] = deep(200 + round)
			}
		})
		for i, v := range sum {
			if v != 200+round {
				t.Fatalf("round %d chunk %d: %d", round, i, v)
			}
		}
	}
}

//go:noinline
func deep(n int) int {
	var pad [64]byte
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + 1 + int(pad[n%64])
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
