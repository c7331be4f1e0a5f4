package features

import "testing"

// BenchmarkParseJSON100 decodes a full-size Conceptual Captions file: 100 boxes
// with 2048-d features and 1601 class scores (about 1.9 MB of JSON).
func BenchmarkParseJSON100(b *testing.B) {
	im := makeFakeImage(1, 640, 480, 100, DefaultFeatureDim, DefaultNumClasses, 2)
	data := im.json(true)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseJSON("b.json", data, CCOptions(true)); err != nil {
			b.Fatal(err)
		}
	}
}
