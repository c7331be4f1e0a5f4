package detect

import (
	"testing"

	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/visual"
)

// testImage is a w x h photo with a bright square on grey.
func testImage(w, h int) *visual.RGBImage {
	img := &visual.RGBImage{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(120)
			if x > w/4 && x < w/2 && y > h/4 && y < h/2 {
				v = 240
			}
			copy(img.Pix[3*(y*w+x):], []uint8{v, v / 2, 255 - v})
		}
	}
	return img
}

// TestDetectWithGivenBoxes: DetectWith's detections are Detect's, and its
// features at given boxes are what the head computes for those boxes as
// RoIs (im_detect with boxes): here the detections' own proposals, so both
// heads must agree row for row. DetectAt gives the same rows.
func TestDetectWithGivenBoxes(t *testing.T) {
	n := reducedNetwork(t)
	n.TestScale, n.TestMaxSize = 96, 128
	img := testImage(80, 64)
	want, err := n.Detect(img)
	if err != nil {
		t.Fatal(err)
	}
	if want.Image.H != 96 || want.Image.W != 120 {
		t.Fatalf("test scale 96 (max 128) of 80x64: network input %dx%d, want 120x96", want.Image.W, want.Image.H)
	}
	s := float32(want.Image.Scale)
	boxes := make([]Box, min(len(want.RoIs), 5))
	for i := range boxes {
		r := want.RoIs[i]
		boxes[i] = Box{r[0] / s, r[1] / s, r[2] / s, r[3] / s}
	}
	det, given, err := n.DetectWith(img, boxes)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "detections' pool5", det.Head.Pool5, want.Head.Pool5, 0, 0)
	F := n.FeatureDim()
	closeTo(t, "pool5 at given boxes", given.Head.Pool5, want.Head.Pool5[:len(boxes)*F], 1e-5, 1e-4)
	NC := n.Cfg.NumClasses
	closeTo(t, "cls_prob at given boxes", given.Head.ClsProb, want.Head.ClsProb[:len(boxes)*NC], 1e-5, 1e-4)
	at, err := n.DetectAt(img, boxes)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "DetectAt pool5", at.Head.Pool5, given.Head.Pool5, 0, 0)
	sel := SelectGiven(given, boxes)
	if len(sel.Index) != len(boxes) || sel.Boxes[0] != boxes[0] || sel.Index[len(boxes)-1] != len(boxes)-1 {
		t.Fatalf("SelectGiven: %+v", sel)
	}
	if _, _, err := n.DetectWith(img, nil); err == nil {
		t.Fatal("DetectWith without boxes: no error")
	}
}

// TestTestScaleFlags: a release's test size reaches the network, and a
// half-set size is refused.
func TestTestScaleFlags(t *testing.T) {
	cfg := reducedConfig()
	r := &importer.Result{Format: importer.FormatVlbert, Path: "x", Weights: RandomWeights(cfg, goldenSeed), Config: cfg, Flags: importer.CaffeFlags()}
	n, err := LoadResult(r)
	if err != nil {
		t.Fatal(err)
	}
	if n.TestScale != 600 || n.TestMaxSize != 1000 {
		t.Fatalf("default test size %d/%d, want 600/1000", n.TestScale, n.TestMaxSize)
	}
	r.Flags.TestScale, r.Flags.TestMaxSize = 192, 320
	if n, err = LoadResult(r); err != nil || n.TestScale != 192 || n.TestMaxSize != 320 {
		t.Fatalf("test size %d/%d (%v), want 192/320", n.TestScale, n.TestMaxSize, err)
	}
	r.Flags.TestMaxSize = 0
	if _, err := LoadResult(r); err == nil {
		t.Fatal("test scale without a max size: no error")
	}
}
