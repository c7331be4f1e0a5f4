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
