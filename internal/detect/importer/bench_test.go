package importer

import (
	"testing"
)

// BenchmarkDecodeCaffemodelFull decodes a synthetic caffemodel of the
// published ResNet-101 size (about 64M parameters, 256 MB).
func BenchmarkDecodeCaffemodelFull(b *testing.B) {
	c := Default()
	w := zeroWeights(c)
	for _, t := range w {
		for i := range t.F32 {
			t.F32[i] = float32(i%13) / 16
		}
	}
	data := EncodeCaffemodel(c, w, 1, false)
	w = nil
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		if _, err := DecodeCaffemodel(data, "full.caffemodel"); err != nil {
			b.Fatal(err)
		}
	}
}
