package importer

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSniff(t *testing.T) {
	dir := t.TempDir()
	w, c := tinyWeights()
	caffe := filepath.Join(dir, "net.bin") // not named .caffemodel: found by content
	os.WriteFile(caffe, EncodeCaffemodel(c, w, 1, false), 0o644)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("\nhello, not weights\n"), 0o644)
	r, err := DecodeCaffemodel(EncodeCaffemodel(c, w, 1, false), "x")
	if err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "d.safetensors")
	if err := WriteVlbert(st, r); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"testdata/hf/pytorch_model.bin":                  FormatHF,
		"testdata/milvlg/bua-caffe-frcn-r101-tiny.pth":   FormatMILVLG,
		"testdata/canonical.pth":                         "",
		"../../../testdata/golden/vqa_ckpt_legacy.model": "",
		"../../../testdata/golden/vqa_ckpt_zip.model":    "",
		caffe:                        FormatCaffemodel,
		text:                         "",
		st:                           FormatVlbert,
		filepath.Join(dir, "absent"): "",
	} {
		if got := Sniff(path); got != want {
			t.Errorf("Sniff(%s) = %q, want %q", path, got, want)
		}
	}
}
