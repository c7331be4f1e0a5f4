package detect

import (
	"math"
	"testing"
)

// TestNMSMatchesTorchvision: on tie-free boxes, the original's NMS (+1 areas)
// equals torchvision.ops.nms on the boxes widened by one pixel.
func TestNMSMatchesTorchvision(t *testing.T) {
	z := readNpz(t, "ops.npz")
	boxes, scores := boxesOf(z["nms_boxes"]), z["nms_scores"].F32
	for _, tc := range []struct {
		key    string
		thresh float32
	}{{"nms_keep_3", 0.3}, {"nms_keep_5", 0.5}, {"nms_keep_7", 0.7}} {
		equalInts(t, tc.key, NMS(boxes, scores, tc.thresh, 0), ints(z[tc.key]))
		// limit stops early with the same prefix.
		want := ints(z[tc.key])
		equalInts(t, tc.key+" limit", NMS(boxes, scores, tc.thresh, 5), want[:min(5, len(want))])
	}
}

// TestRoIPoolMatchesTorchvision: torchvision.ops.roi_pool rounds and bins as
// Caffe's ROIPooling, including a point RoI, a half-way rounding, a RoI wholly
// outside the map (empty bins = 0) and reversed corners.
func TestRoIPoolMatchesTorchvision(t *testing.T) {
	z := readNpz(t, "ops.npz")
	f := z["roi_feat"]
	C, H, W := f.Shape[0], f.Shape[1], f.Shape[2]
	rois := boxesOf(z["roi_boxes"])
	out := make([]float32, len(rois)*C*7*7)
	RoIPool(out, f.F32, C, H, W, rois, 7, 1.0/16, false)
	closeTo(t, "roi_pool", out, z["roi_pooled"].F32, 0, 0)
	for i := 2 * C * 49; i < 3*C*49; i++ {
		if out[i] != 0 {
			t.Fatalf("RoI outside the map: output %d = %v, want 0", i, out[i])
		}
	}
}

// TestNMSOriginalConventions: the +1 areas, strict '>' and tie order of
// lib/nms (gpu_nms + nms_kernel.cu) and numpy's argsort()[::-1].
func TestNMSOriginalConventions(t *testing.T) {
	// Two 10x10 boxes (+1: 11x11 = 121) shifted by 1: inter 10·11 = 110,
	// IoU = 110/132 = 0.8333 — without +1 it would be 90/110 = 0.818.
	a, b := Box{0, 0, 10, 10}, Box{1, 0, 11, 10}
	if got := iouCaffe(a, b); math.Abs(float64(got)-110.0/132) > 1e-6 {
		t.Fatalf("IoU %v, want 110/132", got)
	}
	// IoU exactly at the threshold is kept (suppression is IoU > thresh):
	// [0,0,9,9] and [0,0,19,9] have inter 100, union 200.
	c, d := Box{0, 0, 9, 9}, Box{0, 0, 19, 9}
	if got := iouCaffe(c, d); got != 0.5 {
		t.Fatalf("IoU %v, want 0.5", got)
	}
	equalInts(t, "IoU == thresh", NMS([]Box{c, d}, []float32{0.9, 0.8}, 0.5, 0), []int{0, 1})
	equalInts(t, "IoU > thresh", NMS([]Box{c, d}, []float32{0.9, 0.8}, 0.49, 0), []int{0})
	// Ties: numpy's (stable, small-array) argsort()[::-1] puts the higher
	// index first, so of two identical boxes with equal scores the second is kept.
	equalInts(t, "tie", NMS([]Box{a, a}, []float32{0.5, 0.5}, 0.7, 0), []int{1})
	// Degenerate boxes: a point has area 1 under +1 and overlaps itself fully;
	// a reversed box has negative width and is kept alone (IoU <= 0).
	p := Box{5, 5, 5, 5}
	if got := iouCaffe(p, p); got != 1 {
		t.Fatalf("point IoU %v, want 1", got)
	}
	rev := Box{10, 10, 2, 2}
	equalInts(t, "reversed", NMS([]Box{rev, a}, []float32{0.9, 0.8}, 0.3, 0), []int{0, 1})
}

func TestAnchors(t *testing.T) {
	// py-faster-rcnn's well-known anchors for scales (8, 16, 32) at ratio 0.5
	// and 1, and the extra scale 4 of bottom-up-attention.
	got := generateAnchors(16, []float64{0.5, 1, 2}, []float64{4, 8, 16, 32})
	want := map[int][4]float64{
		0: {-38, -16, 53, 31}, 1: {-84, -40, 99, 55}, 3: {-360, -184, 375, 199},
		5: {-56, -56, 71, 71}, 10: {-80, -168, 95, 183},
	}
	if len(got) != 48 {
		t.Fatalf("%d anchor coordinates, want 48", len(got))
	}
	for i, w := range want {
		for k := range w {
			if got[4*i+k] != w[k] {
				t.Fatalf("anchor %d = %v, want %v", i, got[4*i:4*i+4], w)
			}
		}
	}
}

func TestCaffeMaxPool(t *testing.T) {
	// 6x6 input, kernel 3 stride 2 no pad: Caffe gives ceil(3/2)+1 = 3 outputs
	// per axis (PyTorch floor mode: 2); the last window is clipped to 2 columns.
	if got := caffePoolSize(6, 3, 2, 0); got != 3 {
		t.Fatalf("pool size %d, want 3", got)
	}
	in := make([]float32, 36)
	for i := range in {
		in[i] = float32(i % 7)
	}
	out := make([]float32, 9)
	maxPoolCaffe(out, in, 1, 6, 6, 3, 2, 0)
	// Plane value at (h, w) = (6h+w) mod 7; window (2, 2) covers rows 4..5, cols 4..5.
	var want float32
	for h := 4; h < 6; h++ {
		for w := 4; w < 6; w++ {
			want = max(want, float32((6*h+w)%7))
		}
	}
	if out[8] != want {
		t.Fatalf("clipped window max %v, want %v", out[8], want)
	}
}
