package gemm

import (
	"fmt"
	"testing"
)

// BenchmarkTile measures a micro-kernel alone on L1-resident panels: the ceiling
// that packing and blocking can approach.
func BenchmarkTile(b *testing.B) {
	for _, kern := range supportedKernels() {
		const kc = 256
		b.Run(fmt.Sprintf("%s/k=%d", kern.name, kc), func(b *testing.B) {
			a, bp := randFloats(kc*kern.mr), randFloats(kc*kern.nr)
			c := make([]float32, kern.mr*kern.nr)
			for range b.N {
				kern.tile(kc, &a[0], 1, kern.mr, &bp[0], kern.nr, &c[0], kern.nr, 1, 1)
			}
			b.ReportMetric(2*float64(kc*kern.mr*kern.nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
