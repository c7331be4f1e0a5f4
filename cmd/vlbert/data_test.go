package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func copyTo(t *testing.T, src, dst string) {
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

func TestDataCheckVQA(t *testing.T) {
	root := t.TempDir()
	vq, ft := "../../internal/data/vqa/testdata/", "../../internal/data/features/testdata/"
	copyTo(t, vq+"questions.json", filepath.Join(root, "vqa/v2_OpenEnded_mscoco_val2014_questions.json"))
	copyTo(t, vq+"annotations.json", filepath.Join(root, "vqa/v2_mscoco_val2014_annotations.json"))
	copyTo(t, vq+"answers_vqa.txt", filepath.Join(root, "vqa/answers_vqa.txt"))
	copyTo(t, vq+"instances_val2014.json", filepath.Join(root, "annotations/instances_val2014.json"))
	boxDir := filepath.Join(root, "vgbua_res101_precomputed/trainval2014_resnet101_faster_rcnn_genome")
	copyTo(t, ft+"9.json", filepath.Join(boxDir, "9.json"))
	copyTo(t, ft+"42.json", filepath.Join(boxDir, "42.json"))
	cfg := filepath.Join(root, "vqa.yaml")
	yml := "DATASET:\n  DATASET: vqa\n  DATASET_PATH: '" + root + "'\n  ANSWER_VOCAB_FILE: '" + root + "/vqa/answers_vqa.txt'\n" +
		"  VAL_IMAGE_SET: val2014\n  ADD_IMAGE_AS_A_BOX: true\n  BOXES: '10-100ada'\n  USE_IMDB: false\nSCALES: [600, 1000]\nNETWORK:\n  IMAGE_FEAT_PRECOMPUTED: true\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	opts := dataCheckOptions{Cfg: cfg, Mode: "val", N: 0, Workers: 2}
	if err := runDataCheck(context.Background(), opts, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"vqa val: 3 questions, 9 answers", "built 3 of 3 examples, 0 failed", "boxes [3,5,2052]", "ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// A truncated feature file is reported with its path and fails the check.
	b, _ := os.ReadFile(filepath.Join(boxDir, "42.json"))
	if err := os.WriteFile(filepath.Join(boxDir, "42.json"), b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := runDataCheck(context.Background(), opts, &out)
	if err == nil || !strings.Contains(err.Error(), "2 examples failed") || !strings.Contains(out.String(), "42.json") {
		t.Errorf("broken file: %v\n%s", err, out.String())
	}
}

func TestDataCheckPretrain(t *testing.T) {
	root := t.TempDir()
	copyTo(t, "../../internal/data/cc/testdata/train_frcnn.json", filepath.Join(root, "cc/train_frcnn.json"))
	copyTo(t, "../../internal/data/features/testdata/cc_00001234.json", filepath.Join(root, "cc/train_frcnn/cc_00001234.json"))
	copyTo(t, "../../internal/data/corpus/testdata/wiki.doc", filepath.Join(root, "wiki.doc"))
	cfg := filepath.Join(root, "pt.yaml")
	yml := "DATASET:\n- DATASET: conceptual_captions\n  DATASET_PATH: '" + root + "/cc'\n  TRAIN_IMAGE_SET: train\n  ADD_IMAGE_AS_A_BOX: true\n" +
		"- DATASET: general_corpus\n  TRAIN_ANNOTATION_FILE: '" + root + "/wiki.doc'\n  SEQ_LEN: 64\n  MIN_SEQ_LEN: 64\n" +
		"SCALES: [600, 1000]\nNETWORK:\n  IMAGE_FEAT_PRECOMPUTED: true\n  WITH_MLM_LOSS: true\n  WITH_MVRC_LOSS: true\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runDataCheck(context.Background(), dataCheckOptions{Cfg: cfg, Mode: "train", N: 2, Workers: 1}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"conceptual_captions train: 3 captions", "built 2 of 2 examples", "mvrc_labels [2,4,1601]", "general_corpus train: 5 lines", "text [2,64]", "ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
