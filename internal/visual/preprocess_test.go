package visual

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

func TestResizeSizeMatchesGetSize(t *testing.T) {
	// Expected values from the original get_size run in Python.
	for _, c := range [][6]int{
		{640, 480, 600, 1000, 800, 600},
		{480, 640, 600, 1000, 600, 800},
		{1, 1, 600, 1000, 600, 600},
		{1000, 1, 600, 1000, 1000, 1},
		{1, 1000, 600, 1000, 1, 1000},
		{333, 500, 600, 1000, 600, 900},
		{500, 333, 600, 1200, 900, 600},
		{1920, 1080, 600, 1000, 999, 562},
		{1920, 1080, 600, 1200, 1066, 600},
		{600, 800, 600, 1000, 600, 800},
		{800, 600, 600, 1000, 800, 600},
		{601, 999, 600, 1000, 600, 997},
		{3, 7, 600, 1000, 428, 998},
		{1024, 683, 600, 1000, 899, 600},
		{2, 2000, 600, 1000, 1, 1000},
		{375, 500, 600, 1000, 600, 800},
		{640, 427, 600, 1200, 899, 600},
	} {
		ow, oh := ResizeSize(c[0], c[1], c[2], c[3])
		if ow != c[4] || oh != c[5] {
			t.Errorf("ResizeSize(%d, %d, %d, %d) = %d, %d; want %d, %d", c[0], c[1], c[2], c[3], ow, oh, c[4], c[5])
		}
	}
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestResizeBilinearMatchesPIL(t *testing.T) {
	raw, err := os.ReadFile("testdata/pil_resize.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		W, H  int
		Pix   string
		Cases []struct {
			W, H int
			Pix  string
		}
		OneTo600 string `json:"one_to_600"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	img := &RGBImage{W: ref.W, H: ref.H, Pix: b64(t, ref.Pix)}
	for _, c := range ref.Cases {
		got := ResizeBilinear(img, c.W, c.H)
		want := b64(t, c.Pix)
		diff := 0
		for i := range want {
			if got.Pix[i] != want[i] {
				diff++
			}
		}
		if diff != 0 {
			t.Errorf("%dx%d -> %dx%d: %d of %d bytes differ from PIL", ref.W, ref.H, c.W, c.H, diff, len(want))
		}
	}
	one := &RGBImage{W: 1, H: 1, Pix: []uint8{10, 200, 30}}
	got := ResizeBilinear(one, 600, 600)
	if !bytes.Equal(got.Pix[:30], b64(t, ref.OneTo600)) {
		t.Errorf("1x1 -> 600x600 differs from PIL: %v", got.Pix[:30])
	}
}

func TestDecodeImageMatchesPIL(t *testing.T) {
	raw, err := os.ReadFile("testdata/pil_decode.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]string
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	for name, maxMean := range map[string]float64{"gray.png": 0, "rgba.png": 0, "rgb.jpg": 0.1, "rgb420odd.jpg": 0.1, "rgb422.jpg": 0.1, "rgb444.jpg": 0.1, "cmyk.jpg": 0.1} {
		f, err := os.Open("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		img, err := DecodeImage(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := b64(t, ref[name])
		if len(img.Pix) != len(want) {
			t.Fatalf("%s: %d bytes, PIL %d", name, len(img.Pix), len(want))
		}
		var sum, worst float64
		for i := range want {
			d := math.Abs(float64(img.Pix[i]) - float64(want[i]))
			sum += d
			worst = max(worst, d)
		}
		mean := sum / float64(len(want))
		t.Logf("%s: mean abs diff from PIL %.3f, max %.0f", name, mean, worst)
		if mean > maxMean {
			t.Errorf("%s: mean abs diff %.3f > %.1f", name, mean, maxMean)
		}
	}
}

// pngHeader returns a PNG signature and a valid IHDR claiming w x h, with no data.
func pngHeader(w, h uint32) []byte {
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	binary.Write(&buf, binary.BigEndian, uint32(13))
	chunk := append([]byte("IHDR"), ihdr...)
	buf.Write(chunk)
	binary.Write(&buf, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return buf.Bytes()
}

func TestDecodeImageLimits(t *testing.T) {
	_, err := DecodeImage(bytes.NewReader(pngHeader(20000, 20000)))
	if !errors.Is(err, ErrImageTooLarge) {
		t.Fatalf("400-megapixel header: err %v, want ErrImageTooLarge", err)
	}
	if _, err := DecodeImageLimit(bytes.NewReader(pngHeader(300, 300)), 1000); !errors.Is(err, ErrImageTooLarge) {
		t.Fatalf("limit 1000 pixels: err %v, want ErrImageTooLarge", err)
	}
	if _, err := DecodeImage(bytes.NewReader([]byte("not an image"))); err == nil {
		t.Fatal("garbage decoded")
	}
	if _, err := DecodeImage(bytes.NewReader(pngHeader(10, 10))); err == nil {
		t.Fatal("truncated PNG decoded")
	}
}

func encodePNG(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPreprocessOnePixel(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	src.Pix = []uint8{10, 200, 30, 255}
	p, err := DecodeAndPreprocess(bytes.NewReader(encodePNG(t, src)), []float32{0, 0, 0, 0}, DefaultTransform())
	if err != nil {
		t.Fatal(err)
	}
	if p.W != 600 || p.H != 600 || p.ImInfo != [4]float32{600, 600, 600, 600} {
		t.Fatalf("1x1 image -> %dx%d, im_info %v", p.W, p.H, p.ImInfo)
	}
	// BGR: 30, 200, 10 minus the means, everywhere.
	for c, v := range []float32{30, 200, 10} {
		want := v - PixelMeansBGR[c]
		if got := p.Image[c*600*600+12345]; got != want {
			t.Fatalf("channel %d: %g, want %g", c, got, want)
		}
	}
}

func TestPreprocessBoxesFlipClampAndMask(t *testing.T) {
	img := NewRGBImage(4, 2) // 4x2 -> 1200x600 with SCALES 600/1200, ratio 300
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 5)
	}
	boxes := []float32{
		1, 0, 2, 1, // inside
		-5, -1, 10, 5, // partly outside: clamped
	}
	tr := Transform{MinSize: 600, MaxSize: 1200}
	p, err := Preprocess(img, boxes, tr)
	if err != nil {
		t.Fatal(err)
	}
	if p.W != 1200 || p.H != 600 || p.ImInfo[2] != 300 || p.ImInfo[3] != 300 {
		t.Fatalf("size %dx%d im_info %v", p.W, p.H, p.ImInfo)
	}
	want := []float32{300, 0, 600, 300, 0, 0, 1199, 599}
	for i := range want {
		if p.Boxes[i] != want[i] {
			t.Fatalf("boxes %v, want %v", p.Boxes, want)
		}
	}
	tr.Flip = true
	pf, err := Preprocess(img, boxes, tr)
	if err != nil {
		t.Fatal(err)
	}
	// x' = w-1-x with w = 1200: (300, 600) -> (599, 899).
	if pf.Boxes[0] != 599 || pf.Boxes[2] != 899 || pf.Boxes[1] != 0 || pf.Boxes[3] != 300 {
		t.Fatalf("flipped boxes %v", pf.Boxes[:4])
	}
	for c := 0; c < 3; c++ {
		for y := 0; y < p.H; y += 97 {
			for x := 0; x < p.W; x += 89 {
				a := p.Image[(c*p.H+y)*p.W+x]
				b := pf.Image[(c*p.H+y)*p.W+(p.W-1-x)]
				if a != b {
					t.Fatalf("flip: pixel (%d,%d,%d) %g vs mirrored %g", c, y, x, a, b)
				}
			}
		}
	}
	// Pixel masking: rows int(y1)..int(y2), columns int(x1)..int(x2), inclusive.
	MaskPixels(p.Image, p.H, p.W, []float32{2.7, 1.2, 5.9, 3.99})
	for c := 0; c < 3; c++ {
		for y := 0; y < 6; y++ {
			for x := 0; x < 8; x++ {
				inside := y >= 1 && y <= 3 && x >= 2 && x <= 5
				v := p.Image[(c*p.H+y)*p.W+x]
				if inside != (v == 0) {
					t.Fatalf("mask: pixel (%d,%d,%d) = %g, inside=%v", c, y, x, v, inside)
				}
			}
		}
	}
	MaskPixels(p.Image, p.H, p.W, []float32{1199, 599, 1199, 599}) // corner pixel, no overrun
	if p.Image[(2*p.H+599)*p.W+1199] != 0 {
		t.Fatal("corner not masked")
	}
	if _, err := Preprocess(img, []float32{0, 0, float32(math.NaN()), 1}, tr); err == nil {
		t.Fatal("NaN box accepted")
	}
	if _, err := Preprocess(img, []float32{0, 0, 1}, tr); err == nil {
		t.Fatal("ragged boxes accepted")
	}
}

func TestPadBatchAndRoIs(t *testing.T) {
	a := &Prepared{W: 2, H: 1, Image: []float32{1, 2, 3, 4, 5, 6}, Boxes: []float32{0, 0, 1, 0}}
	b := &Prepared{W: 1, H: 2, Image: []float32{7, 8, 9, 10, 11, 12}, Boxes: []float32{0, 0, 0, 1, 0, 1, 0, 1}}
	batch, H, W := PadBatch(nil, []*Prepared{a, b})
	want := []float32{1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0, 0, 7, 0, 8, 0, 9, 0, 10, 0, 11, 0, 12, 0}
	if H != 2 || W != 2 || maxAbsDiff32(batch, want) != 0 {
		t.Fatalf("batch %dx%d %v", H, W, batch)
	}
	rois := RoIs([]*Prepared{a, b})
	wantR := []float32{0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1, 0, 1}
	if maxAbsDiff32(rois, wantR) != 0 {
		t.Fatalf("rois %v", rois)
	}
}

func FuzzDecodeAndPreprocess(f *testing.F) {
	for _, name := range []string{"gray.png", "rgba.png", "rgb.jpg", "rgb420odd.jpg", "rgb422.jpg", "cmyk.jpg"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, float32(1), float32(2), float32(30), float32(20), false)
	}
	f.Add(pngHeader(1<<20, 1<<20), float32(0), float32(0), float32(0), float32(0), true)
	f.Fuzz(func(t *testing.T, data []byte, x1, y1, x2, y2 float32, flip bool) {
		tr := Transform{MinSize: 16, MaxSize: 24, Flip: flip}
		// A small pixel bound keeps each input fast; the code path is DecodeImage's.
		img, err := DecodeImageLimit(bytes.NewReader(data), 1<<16)
		if err != nil {
			return
		}
		p, err := Preprocess(img, []float32{x1, y1, x2, y2}, tr)
		if err != nil {
			return
		}
		if len(p.Image) != 3*p.W*p.H || p.W <= 0 || p.H <= 0 {
			t.Fatalf("image %dx%d with %d values", p.W, p.H, len(p.Image))
		}
		b := p.Boxes
		if b[0] < 0 || b[2] > float32(p.W-1) || b[1] < 0 || b[3] > float32(p.H-1) {
			t.Fatalf("box %v not clamped to %dx%d", b, p.W, p.H)
		}
		MaskPixels(p.Image, p.H, p.W, b)
	})
}

func TestPreprocessBlankAndForwardPrepared(t *testing.T) {
	tr := DefaultTransform()
	tr.MinSize, tr.MaxSize = 40, 64
	img := NewRGBImage(30, 20)
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	boxes := []float32{0, 0, 29, 19, 3, 4, 12, 15}
	p, err := Preprocess(img, boxes, tr)
	if err != nil {
		t.Fatal(err)
	}
	blank, err := PreprocessBlank(30, 20, boxes, tr)
	if err != nil {
		t.Fatal(err)
	}
	if blank.W != p.W || blank.H != p.H || blank.ImInfo != p.ImInfo || maxAbsDiff32(blank.Boxes, p.Boxes) != 0 {
		t.Fatalf("blank geometry %+v differs from %+v", blank, p)
	}
	for _, v := range blank.Image {
		if v != 0 {
			t.Fatal("blank image not zero")
		}
	}
	n := NewNetwork(tinyConfig(1, 2))
	randomizeParams(rand.New(rand.NewPCG(1, 2)), n.Params)
	feats := n.ForwardPrepared([]*Prepared{p, blank}, nil)
	if len(feats) != 4*n.Cfg.FeatureDim() {
		t.Fatalf("%d features", len(feats))
	}
	got := append([]float32(nil), feats...)
	batch, H, W := PadBatch(nil, []*Prepared{p, blank})
	want := n.Forward(batch, 2, H, W, RoIs([]*Prepared{p, blank}), 4, nil)
	if maxAbsDiff32(got, want) != 0 {
		t.Fatal("ForwardPrepared differs from PadBatch+RoIs+Forward")
	}
}

func ExampleResizeSize() {
	fmt.Println(ResizeSize(640, 480, 600, 1000))
	fmt.Println(ResizeSize(1920, 1080, 600, 1000))
	// Output:
	// 800 600
	// 999 562
}
