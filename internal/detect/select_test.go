package detect

import (
	"slices"
	"testing"
)

// selectionFixture: 4 RoIs, 3 classes (0 = background). RoIs 0 and 1
// overlap heavily (IoU 0.83 under +1), 2 and 3 are apart from everything.
func selectionFixture() *Result {
	rois := []Box{{0, 0, 10, 10}, {1, 0, 11, 10}, {50, 50, 60, 70}, {100, 0, 120, 30}}
	prob := []float32{
		0.1, 0.7, 0.2, // RoI 0: class 1 best
		0.2, 0.6, 0.2, // RoI 1: class 1 suppressed by RoI 0; class 2 ties RoI 0's 0.2
		0.5, 0.15, 0.35,
		0.85, 0.1, 0.05,
	}
	return &Result{Image: &Image{Scale: 2, W: 200, H: 200}, RoIs: rois,
		Head: HeadOutput{R: 4, ClsProb: prob, BboxPred: make([]float32, 4*12)}}
}

func TestSelectGenerateTSV(t *testing.T) {
	res := selectionFixture()
	o, _ := DefaultSelect(RuleGenerateTSV)
	o.MinBoxes, o.MaxBoxes, o.Conf = 1, 3, 0.3
	sel, err := Select(res, o)
	if err != nil {
		t.Fatal(err)
	}
	// max_conf: RoI 0 0.7 (class 1); RoI 1: class 1 suppressed (0.6 < 0.7,
	// IoU > 0.3), class 2: scores 0.2 (RoI 0) and 0.2 (RoI 1) tie, the
	// higher index (RoI 1) is first and suppresses RoI 0, so RoI 1 gets 0.2;
	// RoI 2 0.35 (class 2); RoI 3 0.1. conf 0.3 keeps 0 and 2, in index order.
	if !slices.Equal(sel.Index, []int{0, 2}) || !slices.Equal(sel.Conf, []float32{0.7, 0.35}) {
		t.Fatalf("selection %v conf %v, want [0 2] [0.7 0.35]", sel.Index, sel.Conf)
	}
	// Boxes are the RPN boxes divided by im_scale.
	if sel.Boxes[1] != (Box{25, 25, 30, 35}) {
		t.Fatalf("box %v, want the RoI / 2", sel.Boxes[1])
	}
	// Fewer than MinBoxes pass: the top MinBoxes by max_conf.
	o.MinBoxes, o.Conf = 3, 0.9
	sel, _ = Select(res, o)
	if !slices.Equal(sel.Index, []int{0, 2, 1}) {
		t.Fatalf("min boxes: %v, want [0 2 1]", sel.Index)
	}
	// More than MaxBoxes pass: the top MaxBoxes.
	o.MinBoxes, o.MaxBoxes, o.Conf = 1, 1, 0
	sel, _ = Select(res, o)
	if !slices.Equal(sel.Index, []int{0}) {
		t.Fatalf("max boxes: %v, want [0]", sel.Index)
	}
	if _, err := Select(res, SelectOptions{Rule: "nope", MaxBoxes: 1}); err == nil {
		t.Fatal("unknown rule accepted")
	}
}

func TestSelectHFDemo(t *testing.T) {
	res := selectionFixture()
	o, _ := DefaultSelect(RuleHFDemo)
	o.MinBoxes, o.MaxBoxes, o.HFNMS = 3, 36, []float32{0.5, 0.9}
	sel, err := Select(res, o)
	if err != nil {
		t.Fatal(err)
	}
	// Best foreground class per RoI: 0.7, 0.6, 0.35, 0.1; zero deltas keep the
	// boxes. Without +1, RoIs 0 and 1 have IoU 90/110 = 0.82: NMS 0.5 keeps
	// 0, 2, 3 (3 >= MinBoxes), so 0.9 is not tried.
	if !slices.Equal(sel.Index, []int{0, 2, 3}) {
		t.Fatalf("hf_demo selection %v, want [0 2 3]", sel.Index)
	}
	o.MinBoxes = 4 // 0.5 keeps 3 < 4: the next threshold keeps all four
	sel, _ = Select(res, o)
	if !slices.Equal(sel.Index, []int{0, 1, 2, 3}) {
		t.Fatalf("hf_demo with min 4: %v, want [0 1 2 3]", sel.Index)
	}
}
