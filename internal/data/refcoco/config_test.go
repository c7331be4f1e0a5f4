package refcoco

import (
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
)

// TestFilesFromConfig: every RefCOCO+ path comes from DATASET_PATH as the
// original lays data/coco out; the precomputed features are VQA's 10-100ada
// folder (a .zip of it in ZIP_MODE).
func TestFilesFromConfig(t *testing.T) {
	for _, zip := range []bool{false, true} {
		yml := "MODULE: ResNetVLBERT\nDATASET:\n  DATASET: refcoco+\n  DATASET_PATH: /d/coco\n  ZIP_MODE: false\n"
		if zip {
			yml = "MODULE: ResNetVLBERT\nDATASET:\n  DATASET: refcoco+\n  DATASET_PATH: /d/coco\n  ZIP_MODE: true\n"
		}
		cfg, err := config.Parse([]byte(yml), "test.yaml", config.TaskRefCOCO)
		if err != nil {
			t.Fatal(err)
		}
		f := FromConfig(cfg)
		want := map[string]string{
			f.Refs:             "/d/coco/refcoco+/refs(unc).p",
			f.Instances:        "/d/coco/refcoco+/instances.json",
			f.COCO:             "/d/coco/annotations/instances_train2014.json",
			f.Proposals:        "/d/coco/refcoco+/proposal/res101_coco_minus_refer_notime_dets.json",
			f.Features(581857): "/d/coco/vgbua_res101_precomputed/trainval2014_resnet101_faster_rcnn_genome/581857.json",
			f.Image(581857):    "/d/coco/train2014/COCO_train2014_000000581857.jpg",
		}
		if zip {
			delete(want, f.Features(581857))
			delete(want, f.Image(581857))
			want[f.Features(7)] = "/d/coco/vgbua_res101_precomputed/trainval2014_resnet101_faster_rcnn_genome.zip@/trainval2014_resnet101_faster_rcnn_genome/7.json"
			want[f.Image(7)] = "/d/coco/train2014.zip@/train2014/COCO_train2014_000000000007.jpg"
		}
		for got, w := range want {
			if got != filepath.FromSlash(w) {
				t.Errorf("zip %v: %s, want %s", zip, got, w)
			}
		}
		if len(want) != 6 {
			t.Errorf("zip %v: two paths coincide: %v", zip, want)
		}
	}
}
