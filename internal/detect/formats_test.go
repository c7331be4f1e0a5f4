package detect

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/detect/importer"
)

// TestReleasesGiveIdenticalDetections: the synthetic HF frcnn-vg-finetuned
// and MILVLG files of internal/detect/importer/testdata, written from one
// canonical weight map, import to the same weights, so with the same
// behaviour flags they give identical detections on the photo; each also
// runs with its own flags (the HF file's detectron2 conventions).
func TestReleasesGiveIdenticalDetections(t *testing.T) {
	load := func(p string) *importer.Result {
		r, err := importer.Load(filepath.FromSlash(p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	hf := load("importer/testdata/hf/pytorch_model.bin")
	milvlg := load("importer/testdata/milvlg/bua-caffe-frcn-r101-tiny.pth")
	photo := loadPhoto(t)
	run := func(r *importer.Result, flags importer.Flags) (*Result, *Selection) {
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
		return res, sel
	}
	for _, flags := range []importer.Flags{importer.CaffeFlags(), milvlg.Flags} {
		resA, selA := run(milvlg, flags)
		resB, selB := run(hf, flags)
		if len(resA.RoIs) == 0 || len(selA.Index) == 0 {
			t.Fatalf("no detections (%d proposals)", len(resA.RoIs))
		}
		if !slices.Equal(selA.Index, selB.Index) || !slices.Equal(selA.Boxes, selB.Boxes) ||
			!slices.Equal(resA.Head.Pool5, resB.Head.Pool5) || !slices.Equal(resA.Head.ClsProb, resB.Head.ClsProb) ||
			!slices.Equal(resA.Head.AttrProb, resB.Head.AttrProb) {
			t.Fatalf("flags %+v: MILVLG and HF weights detect differently", flags)
		}
	}
	// Each with its own flags: the HF file runs its detectron2 conventions.
	res, sel := run(hf, hf.Flags)
	if len(res.RoIs) == 0 || len(sel.Index) == 0 {
		t.Fatalf("HF flags: %d proposals, %d boxes", len(res.RoIs), len(sel.Index))
	}
	for _, b := range res.RoIs {
		if b[0] < 0 || b[2] > float32(res.Image.W) || b[2]-b[0] <= 0 {
			t.Fatalf("HF proposal %v outside [0, %d]", b, res.Image.W)
		}
	}
}
