package cc

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/tokenizer"
)

func TestFromConfig(t *testing.T) {
	root := t.TempDir()
	for src, dst := range map[string]string{
		"testdata/train_frcnn.json": "train_frcnn.json",
		featureFile:                 "train_frcnn/cc_00001234.json",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(root, dst)), 0o755)
		if err := os.WriteFile(filepath.Join(root, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	yml := "DATASET:\n- DATASET: conceptual_captions\n  DATASET_PATH: '" + root + "'\n  TRAIN_IMAGE_SET: train\n  ADD_IMAGE_AS_A_BOX: true\n  SEQ_LEN: 64\n" +
		"- DATASET: general_corpus\n  TRAIN_ANNOTATION_FILE: x.doc\n" +
		"NETWORK:\n  IMAGE_FEAT_PRECOMPUTED: true\n  WITH_REL_LOSS: false\n  WITH_MLM_LOSS: true\n  WITH_MVRC_LOSS: true\n" +
		"SCALES:\n- 600\n- 1000\nTRAIN:\n  FLIP_PROB: 0.5\n"
	cfg, err := config.Parse([]byte(yml), "pt.yaml", config.TaskPretrain)
	if err != nil {
		t.Fatal(err)
	}
	d, err := FromConfig(cfg, &cfg.Datasets[0], "train", tokenizer.Default(true), zipfs.New())
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || !d.Precomputed || d.SeqLen != 64 || d.WithRelTask || !d.WithMVRC || d.Transform.FlipProb != 0.5 {
		t.Fatalf("dataset %+v", d)
	}
	ex, err := d.Example(1, rand.New(rand.NewPCG(1, 1)))
	if err != nil || ex.NumBoxes != 4 || len(ex.ImInfo) != 5 {
		t.Errorf("example %v", err)
	}
	if _, err := FromConfig(cfg, &cfg.Datasets[0], "test", nil, nil); err == nil {
		t.Error("test mode accepted")
	}
}
