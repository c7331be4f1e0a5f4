package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
)

// TestTrainDetectorCommand: `vlbert train --cfg` with a detector config
// trains, exports the detector and prints held-out mAP / recall.
func TestTrainDetectorCommand(t *testing.T) {
	dir := t.TempDir()
	w, err := synth.Generate(synth.Config{Seed: 2, TrainScenes: 4, ValScenes: 2, ImageSize: 64, MinObjects: 1, MaxObjects: 2})
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "det")
	if err := synth.WriteDetection(w, data); err != nil {
		t.Fatal(err)
	}
	cfg := `MODULE: BottomUpAttentionDetector
OUTPUT_PATH: '` + filepath.Join(dir, "out") + `'
MODEL_PREFIX: tiny
LOG_FREQUENT: 2
DATASET:
  TRAIN_ANNOTATIONS: '` + filepath.Join(data, "instances_train.json") + `'
  VAL_ANNOTATIONS: '` + filepath.Join(data, "instances_val.json") + `'
  IMAGE_ROOT: '` + data + `'
NETWORK:
  STEM_WIDTH: 4
  BLOCKS: [1, 1, 1, 1]
  BOTTLENECK: [2, 4, 4, 8]
  EXPANSION: 2
  RPN_WIDTH: 8
  EMBED_DIM: 4
  ATTR_HIDDEN: 8
  POOLED_SIZE: 4
  ANCHOR_SCALES: [2]
  ANCHOR_RATIOS: [1]
  FROZEN: [conv1]
TRAIN:
  SCALES: [128]
  MAX_SIZE: 128
  BATCH_SIZE: 16
  RPN_BATCHSIZE: 16
  RPN_PRE_NMS_TOP_N: 100
  RPN_POST_NMS_TOP_N: 20
TEST:
  SCALES: [128]
  MAX_SIZE: 128
  RPN_PRE_NMS_TOP_N: 100
  RPN_POST_NMS_TOP_N: 20
SOLVER:
  BASE_LR: 0.001
  MAX_ITER: 6
`
	path := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runTrain(context.Background(), trainOptions{cfg: path}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"done: 6 iterations", "detector: ", "val: 2 images", "AP@0.5 circle"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "tiny", "tiny-final.safetensors")); err != nil {
		t.Error(err)
	}
	// An unknown key is an error naming it.
	if err := os.WriteFile(path, []byte(cfg+"BOGUS: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(context.Background(), trainOptions{cfg: path}, &out); err == nil || !strings.Contains(err.Error(), "BOGUS") {
		t.Errorf("unknown key: %v", err)
	}
}
