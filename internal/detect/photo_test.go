package detect

import (
	"testing"
)

// TestPhotoEndToEnd runs the reduced-width detector on a real photograph at
// the test settings (short side 600) and compares generate_tsv's selection
// with the PyTorch reference: every selected box matched (IoU >= 0.99),
// features within 1e-3 relative, classes and attributes equal.
func TestPhotoEndToEnd(t *testing.T) {
	z := readNpz(t, "photo.npz")
	n := reducedNetwork(t)
	res, err := n.Detect(loadPhoto(t))
	if err != nil {
		t.Fatal(err)
	}
	if float32(res.Image.Scale) != z["im_scale"].F32[0] || res.Image.H != int(z["blob_shape"].I64[1]) || res.Image.W != int(z["blob_shape"].I64[2]) {
		t.Fatalf("scaled image %dx%d (scale %v), reference %v", res.Image.H, res.Image.W, res.Image.Scale, z["blob_shape"].I64)
	}
	if len(res.RoIs) != len(z["rois"].F32)/4 {
		t.Fatalf("%d proposals, reference %d", len(res.RoIs), len(z["rois"].F32)/4)
	}
	for _, tc := range []struct {
		key  string
		conf float64
	}{{"sel_index", 0.2}, {"sel_index_c15", 0.15}} {
		o, _ := DefaultSelect(RuleGenerateTSV)
		o.Conf = tc.conf
		sel, err := Select(res, o)
		if err != nil {
			t.Fatal(err)
		}
		want := ints(z[tc.key])
		if len(sel.Index) != len(want) {
			t.Fatalf("conf %v: %d boxes, reference %d", tc.conf, len(sel.Index), len(want))
		}
		if tc.key != "sel_index" {
			continue
		}
		F := n.FeatureDim()
		NC, NA := n.Cfg.NumClasses, n.Cfg.NumAttributes
		wantBoxes := boxesOf(z["sel_boxes"])
		for i, k := range sel.Index {
			if iou := iouCaffe(sel.Boxes[i], wantBoxes[i]); iou < 0.99 {
				t.Fatalf("box %d: %v, reference %v (IoU %v)", i, sel.Boxes[i], wantBoxes[i], iou)
			}
			closeTo(t, "selected features", res.Head.Pool5[k*F:(k+1)*F], z["sel_features"].F32[i*F:(i+1)*F], 1e-4, 1e-3)
			if c := argmaxCaffe(res.Head.ClsProb[k*NC : (k+1)*NC]); c != int(z["sel_cls"].I64[i]) {
				t.Fatalf("box %d: class %d, reference %d", i, c, z["sel_cls"].I64[i])
			}
			if a := argmaxCaffe(res.Head.AttrProb[k*NA : (k+1)*NA]); a != int(z["sel_attr"].I64[i]) {
				t.Fatalf("box %d: attribute %d, reference %d", i, a, z["sel_attr"].I64[i])
			}
		}
	}
	for _, s := range Stages {
		if _, ok := res.StagesMs[s]; !ok {
			t.Errorf("StagesMs has no %q", s)
		}
	}
}
