package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestCaffemodelErrors(t *testing.T) {
	want, cfg := canonicalFixture(t)
	good := EncodeCaffemodel(cfg, want, 1, false)
	dropped := Weights{}
	for k, v := range want {
		if k != "res3a_branch2b.weight" {
			dropped[k] = v
		}
	}
	var dup []byte
	dup = append(dup, good...)
	l := protowire.AppendTag(nil, layerName, protowire.BytesType)
	l = protowire.AppendString(l, "cls_score")
	l = protowire.AppendTag(l, layerType, protowire.BytesType)
	l = protowire.AppendString(l, "InnerProduct")
	b := protowire.AppendTag(nil, blobData, protowire.BytesType)
	b = protowire.AppendBytes(b, protowire.AppendFixed32(nil, 0))
	l = protowire.AppendTag(l, layerBlobs, protowire.BytesType)
	l = protowire.AppendBytes(l, b)
	dup = protowire.AppendTag(dup, netLayer, protowire.BytesType)
	dup = protowire.AppendBytes(dup, l)

	for name, tc := range map[string]struct {
		data []byte
		want []string
	}{
		"truncated":    {good[:len(good)-7], []string{"x.caffemodel", "layer"}},
		"missing blob": {EncodeCaffemodel(cfg, dropped, 1, false), []string{"x.caffemodel", "res3a_branch2b"}},
		"duplicate":    {dup, []string{"x.caffemodel", `"cls_score"`, "twice"}},
		"no weights":   {protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "net"), []string{"no layer has weights"}},
		"garbage":      {[]byte("name: \"ResNet-101\"\nlayer {\n"), []string{"x.caffemodel"}},
	} {
		_, err := DecodeCaffemodel(tc.data, "x.caffemodel")
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q lacks %q", name, err, s)
			}
		}
	}
}

func TestLoadUnknownFormat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "weights.dat")
	if err := os.WriteFile(p, []byte("this is not a weight file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{p, "none of the known formats", "caffemodel:", "torch.save:"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty.caffemodel")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "directory without") {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent.bin")); err == nil {
		t.Error("absent file: no error")
	}
}

func TestHFConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"bad format":  {"INPUT:\n  FORMAT: YUV\n", "INPUT.FORMAT"},
		"short mean":  {"MODEL:\n  PIXEL_MEAN: [1, 2]\n", "PIXEL_MEAN"},
		"zero std":    {"MODEL:\n  PIXEL_STD: [1, 0, 1]\n", "PIXEL_STD"},
		"bad weights": {"ROI_BOX_HEAD:\n  BBOX_REG_WEIGHTS: [10, 10, x, 5]\n", "BBOX_REG_WEIGHTS"},
		"not yaml":    {"MODEL: [\n", "cfg.yaml"},
	} {
		_, err := parseHFConfig([]byte(tc.yaml), "cfg.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cfg.yaml") {
			t.Errorf("%s: %v", name, err)
		}
	}
	c, err := parseHFConfig([]byte("model:\n  roi_box_head:\n    bbox_reg_weights: [1, 2, 3, 4]\n  anchor_generator:\n    sizes: [[32, 64]]\n"), "cfg.yaml")
	if err != nil || c.BoxRegWeights[2] != 3 || len(c.AnchorSizes) != 2 {
		t.Errorf("nested lower-case keys: %+v %v", c, err)
	}
}

func TestHFWithoutConfigAndBadKeys(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/hf/pytorch_model.bin")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "pytorch_model.bin")
	os.WriteFile(p, b, 0o644)
	r, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	// Without config.yaml the defaults (BGR, std 1) apply: the weights load
	// but conv1 differs from the fixture's RGB/std-folded one.
	if !strings.Contains(r.Summary(), "no config.yaml") {
		t.Errorf("summary does not say the config was missing:\n%s", r.Summary())
	}
	want, _ := canonicalFixture(t)
	if r.Weights["conv1.weight"].Equal(want["conv1.weight"]) {
		t.Error("conv1 should differ without the RGB/std config")
	}
	if !r.Weights["bbox_pred.weight"].Equal(want["bbox_pred.weight"]) {
		t.Error("bbox_pred should fold the default (10, 10, 5, 5)")
	}
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("ROI_BOX_HEAD:\n  RES5HALVE: true\n"), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "RES5HALVE") {
		t.Errorf("RES5HALVE: %v", err)
	}
}

// FuzzDecodeCaffemodel: the seeds are whole (tiny) networks of ~16 KB, and
// the fuzzing engine minimises every new input byte by byte for up to 60 s
// without reporting progress; run it with -fuzzminimizetime=2s.
func FuzzDecodeCaffemodel(f *testing.F) {
	w, cfg := tinyWeights()
	f.Add(EncodeCaffemodel(cfg, w, 1, false))
	f.Add(EncodeCaffemodel(cfg, w, 3, true))
	f.Add([]byte{})
	f.Add([]byte{0xa2, 0x06, 0x05, 0x0a, 0x03, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeCaffemodel(b, "fuzz.caffemodel")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.caffemodel") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := r.Config.Validate("fuzz", r.Weights); err != nil {
			t.Fatalf("accepted invalid weights: %v", err)
		}
	})
}

func FuzzParseHFConfig(f *testing.F) {
	if b, err := os.ReadFile("testdata/hf/config.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("MODEL:\n  PIXEL_MEAN: [1, 2, 3]\n"))
	f.Add([]byte("ANCHOR_GENERATOR:\n  SIZES: [[1]]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseHFConfig(b, "fuzz.yaml")
		if err != nil {
			return
		}
		if len(c.PixelMean) != 3 || len(c.PixelStd) != 3 || len(c.BoxRegWeights) != 4 || len(c.RPNRegWeights) != 4 {
			t.Fatalf("accepted config with wrong lengths: %+v", c)
		}
	})
}

// tinyWeights is a deterministic reduced-width weight set (no file needed).
func tinyWeights() (Weights, Config) {
	c := tinyConfig()
	c.Blocks = [4]int{1, 1, 1, 1}
	w := zeroWeights(c)
	i := 0
	for _, k := range sortedNames(w) {
		for j := range w[k].F32 {
			w[k].F32[j] = float32((i+j)%7) / 8
		}
		i++
	}
	return w, c
}
