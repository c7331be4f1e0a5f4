package detect

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
)

// releaseFixtures loads the three synthetic releases built from one
// canonical weight map (importer/testdata/canonical.pth, gen_releases.py):
// the committed HF frcnn-vg-finetuned and MILVLG files, and a caffemodel
// written here from canonical.pth (BatchNorm statistics stored times 2, as
// Caffe's moving-average factor allows; the fold back is exact).
func releaseFixtures(t *testing.T) (caffe, hf, milvlg *importer.Result) {
	t.Helper()
	load := func(p string) *importer.Result {
		t.Helper()
		r, err := importer.Load(filepath.FromSlash(p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ck, err := weights.ReadTorch(filepath.FromSlash("importer/testdata/canonical.pth"))
	if err != nil {
		t.Fatal(err)
	}
	w := importer.Weights(ck.StateDict)
	cfg, err := importer.InferConfig("canonical.pth", w, importer.Default())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tiny.caffemodel")
	if err := os.WriteFile(p, importer.EncodeCaffemodel(cfg, w, 2, false), 0o644); err != nil {
		t.Fatal(err)
	}
	caffe = load(p)
	if caffe.Format != importer.FormatCaffemodel || !reflect.DeepEqual(caffe.Flags, importer.CaffeFlags()) {
		t.Fatalf("caffemodel imported as %s with flags %+v, want the Caffe flags", caffe.Format, caffe.Flags)
	}
	return caffe, load("importer/testdata/hf/pytorch_model.bin"), load("importer/testdata/milvlg/bua-caffe-frcn-r101-tiny.pth")
}

// detectWith runs an import under the given behaviour flags on the photo
// and applies generate_tsv's default selection.
func detectWith(t *testing.T, r *importer.Result, flags importer.Flags, photo *visual.RGBImage) (*Network, *Result, *Selection) {
	t.Helper()
	r2 := *r
	r2.Flags = flags
	n, err := LoadResult(&r2)
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Detect(photo)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := DefaultSelect(RuleGenerateTSV)
	sel, err := Select(res, o)
	if err != nil {
		t.Fatal(err)
	}
	return n, res, sel
}

func sameDetections(resA *Result, selA *Selection, resB *Result, selB *Selection) bool {
	return slices.Equal(resA.RoIs, resB.RoIs) && slices.Equal(selA.Index, selB.Index) &&
		slices.Equal(selA.Boxes, selB.Boxes) && slices.Equal(resA.Head.Pool5, resB.Head.Pool5) &&
		slices.Equal(resA.Head.ClsProb, resB.Head.ClsProb) && slices.Equal(resA.Head.AttrProb, resB.Head.AttrProb)
}

// TestReleasesGiveIdenticalDetections: a caffemodel, an HF
// pytorch_model.bin and a MILVLG .pth built from the same weights import to
// the same network, so under the Caffe flags they give bit-identical
// detections on the photo (proposals, selected boxes, features, class and
// attribute probabilities), and those match the PyTorch reference
// (bench/detect_torch.py) run on the same weights and photo
// (testdata/releases.npz): every selected box matched with IoU >= 0.99,
// features within 1e-3 relative, classes and attributes equal. The HF and
// MILVLG files also agree under MILVLG's flags, and the HF file runs with
// its own detectron2 flags.
func TestReleasesGiveIdenticalDetections(t *testing.T) {
	caffe, hf, milvlg := releaseFixtures(t)
	photo := loadPhoto(t)

	n, res, sel := detectWith(t, caffe, importer.CaffeFlags(), photo)
	if len(res.RoIs) == 0 || len(sel.Index) == 0 {
		t.Fatalf("no detections (%d proposals)", len(res.RoIs))
	}
	for _, other := range []*importer.Result{hf, milvlg} {
		_, resB, selB := detectWith(t, other, importer.CaffeFlags(), photo)
		if !sameDetections(res, sel, resB, selB) {
			t.Fatalf("Caffe flags: %s and the caffemodel detect differently", other.Format)
		}
	}
	compareWithReference(t, n, res, sel, readNpz(t, "releases.npz"))

	_, resA, selA := detectWith(t, milvlg, milvlg.Flags, photo)
	_, resB, selB := detectWith(t, hf, milvlg.Flags, photo)
	if len(selA.Index) == 0 || !sameDetections(resA, selA, resB, selB) {
		t.Fatalf("MILVLG flags %+v: MILVLG and HF weights detect differently (%d boxes)", milvlg.Flags, len(selA.Index))
	}

	// Each with its own flags: the HF file runs its detectron2 conventions.
	_, res, sel = detectWith(t, hf, hf.Flags, photo)
	if len(res.RoIs) == 0 || len(sel.Index) == 0 {
		t.Fatalf("HF flags: %d proposals, %d boxes", len(res.RoIs), len(sel.Index))
	}
	for _, b := range res.RoIs {
		if b[0] < 0 || b[2] > float32(res.Image.W) || b[2]-b[0] <= 0 {
			t.Fatalf("HF proposal %v outside [0, %d]", b, res.Image.W)
		}
	}
}

// compareWithReference matches each selected box to one of the reference's
// (IoU >= 0.99, each reference box used once: the order of near-equal
// max_conf values may differ in the last bits) and compares that pair's
// features (1e-3 relative, 1e-4 absolute), class and attribute. The tiny
// release weights give the same class and attribute to every box, so the
// pair's whole class and attribute probability rows are compared as well.
func compareWithReference(t *testing.T, n *Network, res *Result, sel *Selection, z map[string]*npy.Array) {
	t.Helper()
	if float32(res.Image.Scale) != z["im_scale"].F32[0] || res.Image.H != int(z["blob_shape"].I64[1]) || res.Image.W != int(z["blob_shape"].I64[2]) {
		t.Fatalf("scaled image %dx%d (scale %v), reference %v", res.Image.H, res.Image.W, res.Image.Scale, z["blob_shape"].I64)
	}
	if len(res.RoIs) != len(z["rois"].F32)/4 {
		t.Fatalf("%d proposals, reference %d", len(res.RoIs), len(z["rois"].F32)/4)
	}
	want := ints(z["sel_index"])
	if len(sel.Index) != len(want) {
		t.Fatalf("%d boxes selected, reference %d", len(sel.Index), len(want))
	}
	F := n.FeatureDim()
	NC, NA := n.Cfg.NumClasses, n.Cfg.NumAttributes
	wantBoxes := boxesOf(z["sel_boxes"])
	used := make([]bool, len(want))
	classes := map[int]bool{}
	for i, k := range sel.Index {
		j := -1
		for c := range wantBoxes {
			if !used[c] && iouCaffe(sel.Boxes[i], wantBoxes[c]) >= 0.99 {
				j = c
				break
			}
		}
		if j < 0 {
			t.Fatalf("box %d %v has no reference box with IoU >= 0.99", i, sel.Boxes[i])
		}
		used[j] = true
		closeTo(t, "selected features", res.Head.Pool5[k*F:(k+1)*F], z["sel_features"].F32[j*F:(j+1)*F], 1e-4, 1e-3)
		c := argmaxCaffe(res.Head.ClsProb[k*NC : (k+1)*NC])
		if c != int(z["sel_cls"].I64[j]) {
			t.Fatalf("box %d: class %d, reference %d", i, c, z["sel_cls"].I64[j])
		}
		classes[c] = true
		if a := argmaxCaffe(res.Head.AttrProb[k*NA : (k+1)*NA]); a != int(z["sel_attr"].I64[j]) {
			t.Fatalf("box %d: attribute %d, reference %d", i, a, z["sel_attr"].I64[j])
		}
		closeTo(t, "class probabilities", res.Head.ClsProb[k*NC:(k+1)*NC], z["sel_cls_prob"].F32[j*NC:(j+1)*NC], 1e-5, 1e-3)
		closeTo(t, "attribute probabilities", res.Head.AttrProb[k*NA:(k+1)*NA], z["sel_attr_prob"].F32[j*NA:(j+1)*NA], 1e-5, 1e-3)
	}
	t.Logf("%d proposals, %d boxes matched, %d distinct classes", len(res.RoIs), len(sel.Index), len(classes))
}
