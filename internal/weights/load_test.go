package weights

import (
	"path/filepath"
	"testing"
)

// A converted file and the original give the same canonical weights.
func TestReadModelWeightsBothFormats(t *testing.T) {
	orig, err := ReadModelWeights(golden + "pretrain_ckpt_zip.model")
	if err != nil {
		t.Fatal(err)
	}
	ck := readGolden(t, "pretrain_ckpt_zip.model")
	sd, _, _ := Canonicalize(ck.Keys, ck.StateDict)
	out := filepath.Join(t.TempDir(), "pt.safetensors")
	delete(sd, "vlbert.mlm_head.predictions.decoder.weight") // written once, as vlbert convert does
	sd["optimizer.exp_avg.x"] = NewF32([]float32{1}, 1)
	if err := WriteSafetensors(out, sd, map[string]string{"tied.vlbert.mlm_head.predictions.decoder.weight": "vlbert.word_embeddings.weight"}); err != nil {
		t.Fatal(err)
	}
	if IsSafetensors(golden+"pretrain_ckpt_zip.model") || !IsSafetensors(out) {
		t.Fatal("format detection wrong")
	}
	back, err := ReadModelWeights(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(orig) || len(orig) != 61 {
		t.Fatalf("%d tensors from safetensors, %d from torch", len(back), len(orig))
	}
	for k, v := range orig {
		if !back[k].Equal(v) {
			t.Errorf("%s differs", k)
		}
	}
}
