package importer

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/weights"
)

// canonicalFixture is testdata/canonical.pth (gen_releases.py), the map the
// HF and MILVLG fixtures were built from.
func canonicalFixture(t *testing.T) (Weights, Config) {
	t.Helper()
	ck, err := weights.ReadTorch("testdata/canonical.pth")
	if err != nil {
		t.Fatal(err)
	}
	w := Weights(ck.StateDict)
	c, err := InferConfig("canonical.pth", w, Default())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate("canonical.pth", w); err != nil {
		t.Fatal(err)
	}
	return w, c
}

func requireSameWeights(t *testing.T, what string, got, want Weights) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for _, k := range sortedNames(want) {
		g, ok := got[k]
		if !ok {
			t.Fatalf("%s: missing %s", what, k)
		}
		if !g.Equal(want[k]) {
			i := 0
			for i < len(g.F32) && i < len(want[k].F32) && g.F32[i] == want[k].F32[i] {
				i++
			}
			t.Fatalf("%s: %s differs: shape %v vs %v, first difference at %d", what, k, g.Shape, want[k].Shape, i)
		}
	}
}

// TestReleasesRoundTrip: a caffemodel (V2 and V1/legacy encodings), an HF
// pytorch_model.bin + config.yaml and a MILVLG .pth built from one canonical
// map all load back to exactly that map, and through vlbert's safetensors.
func TestReleasesRoundTrip(t *testing.T) {
	want, cfg := canonicalFixture(t)
	dir := t.TempDir()
	for _, legacy := range []bool{false, true} {
		p := filepath.Join(dir, "net.caffemodel")
		if err := os.WriteFile(p, EncodeCaffemodel(cfg, want, 2, legacy), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Load(p)
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		if r.Format != FormatCaffemodel || r.Flags.BoxCoding != BoxCodingCaffe || r.Flags.PixelMeans != CaffeMeans || !r.Flags.StemPoolCeil {
			t.Errorf("caffemodel result %s %+v", r.Format, r.Flags)
		}
		requireSameWeights(t, "caffemodel", r.Weights, want)
	}

	hf, err := Load("testdata/hf") // the directory: pytorch_model.bin + config.yaml
	if err != nil {
		t.Fatal(err)
	}
	requireSameWeights(t, "HF", hf.Weights, want)
	if hf.Format != FormatHF || hf.Flags.BoxCoding != BoxCodingDetectron2 || hf.Flags.PixelMeans != CaffeMeans || hf.Flags.Proposals == nil || hf.Flags.Proposals.PostNMSTopK != 300 {
		t.Errorf("HF flags %+v", hf.Flags)
	}
	// Anchor channel 0 is size 64, ratio 0.5: w = sqrt(64^2/0.5), offset 0.
	if a := hf.Flags.Anchors; len(a) != 12 || math.Abs(float64(a[0][2])-math.Sqrt(64*64/0.5)/2) > 1e-3 {
		t.Errorf("HF anchors %v", a)
	}
	summary := hf.Summary()
	for _, s := range []string{"hf-frcnn", "background moved", "PIXEL_STD", "reversed", "[10 10 5 5]"} {
		if !strings.Contains(summary, s) {
			t.Errorf("HF summary lacks %q:\n%s", s, summary)
		}
	}

	mv, err := Load("testdata/milvlg/bua-caffe-frcn-r101-tiny.pth")
	if err != nil {
		t.Fatal(err)
	}
	requireSameWeights(t, "MILVLG", mv.Weights, want)
	if mv.Format != FormatMILVLG || mv.Flags.BoxCoding != BoxCodingCaffe || mv.Flags.DeltaScaleClamp == 0 {
		t.Errorf("MILVLG flags %+v", mv.Flags)
	}

	st := filepath.Join(dir, "detector.safetensors")
	if err := WriteVlbert(st, hf); err != nil {
		t.Fatal(err)
	}
	back, err := Load(st)
	if err != nil {
		t.Fatal(err)
	}
	requireSameWeights(t, "safetensors", back.Weights, want)
	if back.Format != FormatVlbert || back.Config.NumClasses != cfg.NumClasses || !slices.Equal(back.Flags.Anchors, hf.Flags.Anchors) ||
		*back.Flags.Proposals != *hf.Flags.Proposals || back.Flags.BoxCoding != hf.Flags.BoxCoding {
		t.Errorf("safetensors round trip: %+v / %+v", back.Config, back.Flags)
	}
}
