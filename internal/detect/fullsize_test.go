package detect

import (
	"os"
	"testing"

	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/npy"
)

// TestFullSizePhoto compares the full-size network (importer.Default, seeded
// weights) on the test photo with the PyTorch reference's output, written by
//
//	/usr/bin/python3 bench/detect_torch.py run internal/detect/testdata/chelsea_240x160.png \
//	    --out /tmp/full_ref.npz --seed 7 --fold
//
// and named by VLBERT_DETECT_FULL_REF. It takes about a minute of CPU, too
// long for CI, and the reference output (features of up to 100 boxes at
// 2048-d) is not stored, so it runs only on request.
func TestFullSizePhoto(t *testing.T) {
	ref := os.Getenv("VLBERT_DETECT_FULL_REF")
	if ref == "" {
		t.Skip("full-size comparison runs only with VLBERT_DETECT_FULL_REF=<detect_torch.py run output> (about a minute; see the doc comment)")
	}
	z, err := npy.ReadNpz(ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg := importer.Default()
	n, err := Load(cfg, RandomWeights(cfg, goldenSeed), "random")
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Detect(loadPhoto(t))
	if err != nil {
		t.Fatal(err)
	}
	o, _ := DefaultSelect(RuleGenerateTSV)
	sel, err := Select(res, o)
	if err != nil {
		t.Fatal(err)
	}
	wantRoIs := boxesOf(z["rois"])
	sameRoIs := 0
	for i := range min(len(res.RoIs), len(wantRoIs)) {
		if iouCaffe(res.RoIs[i], wantRoIs[i]) >= 0.99 {
			sameRoIs++
		}
	}
	t.Logf("proposals: %d, reference %d, %d equal in place (IoU >= 0.99)", len(res.RoIs), len(wantRoIs), sameRoIs)
	want := boxesOf(z["sel_boxes"])
	t.Logf("selected %d boxes, reference %d; stages %v", len(sel.Index), len(want), res.StagesMs)
	F, NC, NA := n.FeatureDim(), n.Cfg.NumClasses, n.Cfg.NumAttributes
	matched, used := 0, make([]bool, len(want))
	for i, k := range sel.Index {
		j := -1
		for c := range want {
			if !used[c] && iouCaffe(sel.Boxes[i], want[c]) >= 0.99 {
				j = c
				break
			}
		}
		if j < 0 {
			t.Errorf("box %d %v has no reference box with IoU >= 0.99", i, sel.Boxes[i])
			continue
		}
		used[j] = true
		matched++
		closeTo(t, "features", res.Head.Pool5[k*F:(k+1)*F], z["sel_features"].F32[j*F:(j+1)*F], 1e-4, 1e-3)
		if c := argmaxCaffe(res.Head.ClsProb[k*NC : (k+1)*NC]); c != int(z["sel_cls"].I64[j]) {
			t.Errorf("box %d: class %d, reference %d", i, c, z["sel_cls"].I64[j])
		}
		if a := argmaxCaffe(res.Head.AttrProb[k*NA : (k+1)*NA]); a != int(z["sel_attr"].I64[j]) {
			t.Errorf("box %d: attribute %d, reference %d", i, a, z["sel_attr"].I64[j])
		}
	}
	if len(sel.Index) != len(want) {
		t.Errorf("%d boxes selected, reference %d", len(sel.Index), len(want))
	}
	t.Logf("%d of %d selected boxes matched", matched, len(want))
}
