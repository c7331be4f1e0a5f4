package vqa

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/tokenizer"
)

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFromConfig lays the fixtures out as the original data/coco tree and builds
// the val dataset from a YAML config.
func TestFromConfig(t *testing.T) {
	root := t.TempDir()
	copyFile(t, "testdata/questions.json", filepath.Join(root, "vqa/v2_OpenEnded_mscoco_val2014_questions.json"))
	copyFile(t, "testdata/annotations.json", filepath.Join(root, "vqa/v2_mscoco_val2014_annotations.json"))
	copyFile(t, "testdata/answers_vqa.txt", filepath.Join(root, "vqa/answers_vqa.txt"))
	copyFile(t, "testdata/instances_val2014.json", filepath.Join(root, "annotations/instances_val2014.json"))
	for _, id := range []string{"9", "42"} {
		copyFile(t, "../features/testdata/"+id+".json",
			filepath.Join(root, "vgbua_res101_precomputed/trainval2014_resnet101_faster_rcnn_genome", id+".json"))
	}
	yml := "DATASET:\n  DATASET: vqa\n  DATASET_PATH: '" + root + "'\n  ANSWER_VOCAB_FILE: '" + root + "/vqa/answers_vqa.txt'\n" +
		"  VAL_IMAGE_SET: val2014\n  ADD_IMAGE_AS_A_BOX: true\n  BOXES: '10-100ada'\n  USE_IMDB: false\n" +
		"NETWORK:\n  IMAGE_FEAT_PRECOMPUTED: true\nSCALES:\n- 600\n- 1000\nVAL:\n  FLIP_PROB: 0\n"
	cfg, err := config.Parse([]byte(yml), "test.yaml", config.TaskVQA)
	if err != nil {
		t.Fatal(err)
	}
	d, err := FromConfig(cfg, "val", tokenizer.Default(true), zipfs.New())
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.Entries[0].Width != 640 || d.Vocab.Len() != 9 || !d.Precomputed {
		t.Fatalf("dataset %d entries, vocab %d", d.Len(), d.Vocab.Len())
	}
	ex, err := d.Example(0, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if ex.NumBoxes != 5 || ex.ImInfo[0] != 800 || ex.Label[d.Vocab.Index("red")] != 1 {
		t.Errorf("example: %d boxes, im_info %v", ex.NumBoxes, ex.ImInfo)
	}
	if g := d.GroupIDs(); g[0] != 0 || g[1] != 0 {
		t.Errorf("groups %v", g)
	}
	if _, err := FromConfig(cfg, "bogus", nil, nil); err == nil {
		t.Error("bad mode accepted")
	}
	cfg.Dataset().UseIMDB = true
	if _, err := FromConfig(cfg, "val", nil, nil); err == nil {
		t.Error("USE_IMDB accepted")
	}
}
