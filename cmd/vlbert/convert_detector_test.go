package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/detect/importer"
)

// TestConvertDetector: the HF and MILVLG fixtures of internal/detect/importer
// convert to vlbert's detector safetensors, with a summary, and load back
// as the same canonical weights.
func TestConvertDetector(t *testing.T) {
	for _, tc := range []struct{ ckpt, format string }{
		{"../../internal/detect/importer/testdata/hf/pytorch_model.bin", "hf-frcnn"},
		{"../../internal/detect/importer/testdata/milvlg/bua-caffe-frcn-r101-tiny.pth", "milvlg-bua"},
	} {
		out := filepath.Join(t.TempDir(), "detector.safetensors")
		var stdout bytes.Buffer
		if err := runConvert(context.Background(), convertOptions{ckpt: tc.ckpt, out: out}, &stdout); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{tc.format, "115 tensors", "box coding", "wrote " + out} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("summary lacks %q:\n%s", want, stdout.String())
			}
		}
		src, err := importer.Load(tc.ckpt)
		if err != nil {
			t.Fatal(err)
		}
		back, err := importer.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if back.Format != importer.FormatVlbert || len(back.Weights) != len(src.Weights) || back.Flags.BoxCoding != src.Flags.BoxCoding {
			t.Fatalf("%s: read back %s with %d tensors", tc.ckpt, back.Format, len(back.Weights))
		}
		for k, w := range src.Weights {
			if !back.Weights[k].Equal(w) {
				t.Errorf("%s: %s changed", tc.ckpt, k)
			}
		}
	}
}
