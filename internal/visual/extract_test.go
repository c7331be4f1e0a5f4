package visual

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// extractTinyConfig is a small C4 network (FeatureDim 128) for fast tests.
func extractTinyConfig() Config {
	return Config{Blocks: [3]int{1, 1, 1}, HeadBlocks: 2, Width: 4, StrideIn1x1: true, C5Dilated: true,
		RoIAlign: DefaultRoIAlign}
}

func readChelsea(t testing.TB) *RGBImage {
	t.Helper()
	f, err := os.Open("testdata/chelsea.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := DecodeImage(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestCheckBoxes(t *testing.T) {
	nan := float32(math.NaN())
	cases := []struct {
		name  string
		boxes []float32
		want  []float32
		err   string
	}{
		{"inside", []float32{1, 2, 30, 40}, []float32{1, 2, 30, 40}, ""},
		{"degenerate", []float32{5, 5, 5, 5}, []float32{5, 5, 5, 5}, ""},
		{"clamped", []float32{-10, -3, 120, 70.5}, []float32{0, 0, 99, 49}, ""},
		{"second bad", []float32{0, 0, 1, 1, 10, 0, 5, 3}, nil, "box 1"},
		{"y2<y1", []float32{0, 9, 3, 2}, nil, "x2 < x1 or y2 < y1"},
		{"outside", []float32{100, 0, 120, 10}, nil, "wholly outside"},
		{"outside left", []float32{-20, 0, -1, 10}, nil, "wholly outside"},
		{"nan", []float32{0, nan, 3, 3}, nil, "non-finite"},
		{"empty", nil, nil, "no boxes"},
		{"ragged", []float32{1, 2, 3}, nil, "multiple of 4"},
		{"too many", make([]float32, 4*(MaxExtractBoxes+1)), nil, "over the limit"},
	}
	for _, c := range cases {
		got, err := CheckBoxes(c.boxes, 100, 50)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if _, err := CheckBoxes([]float32{0, 0, 1, 1}, 0, 5); err == nil {
		t.Error("image size 0x5 accepted")
	}
}

// TestExtractMatchesForward checks Extract against the plain Forward of the
// preprocessed image: same features, whatever the head chunk size, and boxes
// reported in original pixels.
func TestExtractMatchesForward(t *testing.T) {
	img := readChelsea(t)
	boxes := []float32{10, 20, 200, 250, 150, 50, 440, 299, 0, 0, 450, 299, -5, 100, 500, 400, 60, 60, 61, 61}
	net := NewNetwork(extractTinyConfig())
	net.InitRandom(7)
	ex := NewExtractor(net)
	ex.HeadChunk = 2
	res, err := ex.Extract(img, boxes)
	if err != nil {
		t.Fatal(err)
	}
	R, K := 5, net.Cfg.FeatureDim()
	if res.NumBoxes != R || res.FeatureDim != K || len(res.Features) != R*K || res.ImageW != 451 || res.ImageH != 300 {
		t.Fatalf("result %d boxes, dim %d, %d values, image %dx%d", res.NumBoxes, res.FeatureDim, len(res.Features), res.ImageW, res.ImageH)
	}
	wantBoxes := slices.Clone(boxes)
	wantBoxes[12], wantBoxes[14], wantBoxes[15] = 0, 450, 299
	if !slices.Equal(res.Boxes, wantBoxes) {
		t.Fatalf("boxes %v, want %v", res.Boxes, wantBoxes)
	}
	clamped, _ := CheckBoxes(boxes, img.W, img.H)
	p, err := Preprocess(img, clamped, DefaultTransform())
	if err != nil {
		t.Fatal(err)
	}
	if p.W != 902 || p.H != 600 {
		t.Fatalf("resized to %dx%d, want 902x600", p.W, p.H)
	}
	ref := NewNetwork(extractTinyConfig())
	ref.InitRandom(7)
	want := ref.ForwardPrepared([]*Prepared{p}, nil)
	if d := maxAbsDiff32(res.Features, want); d != 0 {
		t.Fatalf("chunked extraction differs from Forward by %g", d)
	}
	var nonzero int
	for _, v := range res.Features {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite feature %g", v)
		}
		if v != 0 {
			nonzero++
		}
	}
	if nonzero < len(res.Features)/4 {
		t.Fatalf("only %d of %d features are non-zero", nonzero, len(res.Features))
	}
	// Different boxes give different features.
	if slices.Equal(res.Features[:K], res.Features[K:2*K]) {
		t.Fatal("boxes 0 and 1 have identical features")
	}
	// Thread count does not change the result.
	withThreads(1, func() {
		res1, err := ex.Extract(img, boxes)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff32(res1.Features, res.Features); d != 0 {
			t.Fatalf("1 thread differs by %g", d)
		}
	})
}

func TestExtractErrors(t *testing.T) {
	net := NewNetwork(extractTinyConfig())
	net.InitRandom(1)
	ex := NewExtractor(net)
	if _, err := ex.Extract(nil, []float32{0, 0, 1, 1}); err == nil {
		t.Error("nil image accepted")
	}
	img := NewRGBImage(1, 1)
	if _, err := ex.Extract(img, []float32{0, 0, 3, 3}); err != nil {
		t.Errorf("1x1 image with a clamped box: %v", err)
	}
	if _, err := ex.Extract(img, []float32{2, 2, 3, 3}); err == nil {
		t.Error("box outside a 1x1 image accepted")
	}
	// Too elongated to resize: the short side would become 0.
	if _, err := ex.Extract(NewRGBImage(5000, 1), []float32{0, 0, 1, 0}); err == nil {
		t.Error("5000x1 image accepted")
	}
}

// BenchmarkResNet101Forward600x1000 times one 600x1000 image through the
// ResNet-101 C4 backbone and the dilated res5 head (inference mode, random
// weights) with 36 and 100 boxes, the bottom-up-attention box counts. The
// sub-benchmarks time the backbone alone and the head alone (RoIAlign, res5,
// average pool over a fixed body4 map); one image costs backbone + head.
// Besides ns/op they report min/median/max wall seconds of the timed
// iterations and the process CPU seconds per iteration (on a shared, loaded
// machine wall time is inflated; with one thread CPU time is close to the
// unloaded wall time). It is slow (seconds per iteration): run it with
//
//	GOMAXPROCS=1 go test ./internal/visual -run XXX -bench ResNet101Forward600x1000 -benchtime 3x
//
// bench/resnet_torch.py times the same shapes with PyTorch.
func BenchmarkResNet101Forward600x1000(b *testing.B) {
	net := NewNetwork(ResNet101C4())
	net.InitRandom(1)
	ex := NewExtractor(net)
	img := make([]float32, 3*600*1000)
	for i := range img {
		img[i] = float32(i%251) - 125
	}
	boxesFor := func(R int) []float32 {
		boxes := make([]float32, 0, 4*R)
		for r := 0; r < R; r++ {
			x1, y1 := float32(r*97%800), float32(r*61%450)
			boxes = append(boxes, x1, y1, x1+40+float32(r*13%160), y1+30+float32(r*7%120))
		}
		return boxes
	}
	timed := func(b *testing.B, fn func()) {
		ts := make([]float64, 0, b.N)
		b.ResetTimer()
		cpu0 := processCPUSeconds()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			fn()
			ts = append(ts, time.Since(t0).Seconds())
		}
		cpu := (processCPUSeconds() - cpu0) / float64(b.N)
		slices.Sort(ts)
		b.ReportMetric(ts[0], "min-s")
		b.ReportMetric(ts[len(ts)/2], "med-s")
		b.ReportMetric(ts[len(ts)-1], "max-s")
		b.ReportMetric(cpu, "cpu-s/op")
	}
	var feat []float32
	var FH, FW int
	b.Run("backbone", func(b *testing.B) {
		timed(b, func() { feat, FH, FW = net.Backbone(img, 1, 600, 1000) })
	})
	if feat == nil {
		feat, FH, FW = net.Backbone(img, 1, 600, 1000)
	}
	for _, R := range []int{36, 100} {
		boxes := boxesFor(R)
		out := make([]float32, R*net.Cfg.FeatureDim())
		b.Run(fmt.Sprintf("head-boxes=%d", R), func(b *testing.B) {
			timed(b, func() { ex.head(out, feat, FH, FW, boxes) })
		})
	}
}
