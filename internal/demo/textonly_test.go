package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/synth/synthtest"
	"github.com/vlbert/vlbert/internal/data/vcr"
)

// TestBlankVCR checks the regions of the text-only VCR evaluation carry
// nothing: every box the whole image, every feature zero, in the metadata and
// the feature files the VCR reader opens; the questions are unchanged.
func TestBlankVCR(t *testing.T) {
	cfg := synth.DefaultConfig()
	cfg.TrainScenes, cfg.ValScenes, cfg.ImageSize = 2, 3, 64
	w, err := synth.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	if err := synthtest.Write(w, data); err != nil {
		t.Fatal(err)
	}
	// The VCR features in the VCR directory's own feature directory, as the
	// demo's detect phase writes them (features at VCR's given boxes).
	src := filepath.Join(data, synth.Layout.VCR)
	if err := os.Rename(filepath.Join(data, "vgbua_res101_precomputed"), filepath.Join(src, "vgbua_res101_precomputed")); err != nil {
		t.Fatal(err)
	}
	if vcr.FeatureDir(src) != filepath.Join(src, synth.Layout.Features) {
		t.Fatalf("VCR features read from %s", vcr.FeatureDir(src))
	}
	dst, err := blankVCR(src, "val.jsonl", "vcr1images")
	if err != nil {
		t.Fatal(err)
	}
	if dst != filepath.Join(data+"-blank", "vcr") {
		t.Fatalf("blanked VCR directory %s", dst)
	}
	a, _ := os.ReadFile(filepath.Join(src, "val.jsonl"))
	b, err := os.ReadFile(filepath.Join(dst, "val.jsonl"))
	if err != nil || string(a) != string(b) {
		t.Fatalf("val.jsonl not copied as is: %v", err)
	}
	anns, err := vcr.ReadAnnotations(filepath.Join(dst, "val.jsonl"), false)
	if err != nil {
		t.Fatal(err)
	}
	var rd osReader
	for _, an := range anns {
		mp := filepath.Join(dst, "vcr1images", filepath.FromSlash(an.MetadataFn))
		mb, err := os.ReadFile(mp)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := vcr.ParseMetadata(strings.NewReader(string(mb)), mp)
		if err != nil {
			t.Fatal(err)
		}
		whole := [4]float32{0, 0, float32(meta.Width - 1), float32(meta.Height - 1)}
		if len(meta.Boxes) != len(an.Objects) {
			t.Fatalf("%s: %d boxes for %d objects", mp, len(meta.Boxes), len(an.Objects))
		}
		for _, bx := range meta.Boxes {
			if [4]float32{float32(bx[0]), float32(bx[1]), float32(bx[2]), float32(bx[3])} != whole {
				t.Fatalf("%s: box %v, want the whole image %v", mp, bx, whole)
			}
		}
		img := filepath.Base(an.ImgFn)
		rec, err := features.LoadJSON(rd, filepath.Join(vcr.FeatureDir(dst), strings.TrimSuffix(img, ".png")+".json"), features.VQAOptions())
		if err != nil {
			t.Fatal(err)
		}
		if rec.NumBoxes != len(an.Objects) || rec.FeatureDim == 0 {
			t.Fatalf("%s: %d boxes of %d features", img, rec.NumBoxes, rec.FeatureDim)
		}
		for i := 0; i < rec.NumBoxes; i++ {
			if [4]float32(rec.Boxes[4*i:4*i+4]) != whole {
				t.Fatalf("%s: feature box %v", img, rec.Boxes[4*i:4*i+4])
			}
		}
		for i, v := range rec.Features {
			if v != 0 {
				t.Fatalf("%s: feature %d is %g", img, i, v)
			}
		}
	}
}

type osReader struct{}

func (osReader) ReadFile(p string) ([]byte, error) { return os.ReadFile(p) }
