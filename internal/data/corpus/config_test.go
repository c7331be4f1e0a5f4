package corpus

import (
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/tokenizer"
)

func TestFromConfig(t *testing.T) {
	ds := &config.Dataset{TrainAnnotationFile: "testdata/bc1g.doc+testdata/wiki.doc", ValAnnotationFile: "testdata/bc1g.doc", SeqLen: 32, MinSeqLen: 40}
	d, err := FromConfig(ds, "train", tokenizer.Default(true))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Corpus.Close()
	if d.Len() != 6 || d.SeqLen != 32 || d.MinSeqLen != 40 {
		t.Errorf("dataset %d lines, seq %d/%d", d.Len(), d.SeqLen, d.MinSeqLen)
	}
	v, err := FromConfig(ds, "val", tokenizer.Default(true))
	if err != nil || v.Len() != 1 {
		t.Errorf("val: %v", err)
	}
	v.Corpus.Close()
	if _, err := FromConfig(ds, "test", nil); err == nil {
		t.Error("test mode accepted")
	}
}
