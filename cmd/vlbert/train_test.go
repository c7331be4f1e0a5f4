package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/synth/synthtest"
)

// tinyTrainSets shrink configs/synth/vqa.yaml to a model that trains one
// epoch on a tiny world in about a second.
func tinyTrainSets(world, out string) setFlags {
	return setFlags{"DATASET.DATASET_PATH=" + world, "DATASET.ANSWER_VOCAB_FILE=" + filepath.Join(world, synth.Layout.Answers), "OUTPUT_PATH=" + out, "NUM_WORKERS_PER_GPU=1",
		"NETWORK.VLBERT.hidden_size=32", "NETWORK.VLBERT.visual_size=32", "NETWORK.IMAGE_FINAL_DIM=32",
		"NETWORK.VLBERT.num_hidden_layers=1", "NETWORK.VLBERT.num_attention_heads=2", "NETWORK.VLBERT.intermediate_size=64",
		"TRAIN.END_EPOCH=1", "TRAIN.BATCH_IMAGES=8", "VAL.BATCH_IMAGES=8", "TEST.BATCH_IMAGES=8"}
}

func writeTinyWorld(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	w, err := synth.Generate(synth.Config{Seed: 3, TrainScenes: 4, ValScenes: 2, ImageSize: 64, MinObjects: 2, MaxObjects: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := synthtest.Write(w, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTrainEvalTest runs vlbert train, eval and test on a tiny synthetic world.
func TestTrainEvalTest(t *testing.T) {
	world, out := writeTinyWorld(t), t.TempDir()
	cfg := "../../configs/synth/vqa.yaml"
	var buf bytes.Buffer
	if err := runTrain(context.Background(), trainOptions{cfg: cfg, sets: tinyTrainSets(world, out)}, &buf); err != nil {
		t.Fatal(err)
	}
	log := buf.String()
	if !strings.Contains(log, "done: 1 epochs") || !strings.Contains(log, "Val-SoftAcc=") {
		t.Errorf("train output lacks the summary:\n%s", log)
	}
	dir := filepath.Join(out, "vqa", "train2014_train")
	best := filepath.Join(dir, "vl-bert_synth_vqa-best.safetensors")
	for _, f := range []string{filepath.Join(dir, "vl-bert_synth_vqa-0000.safetensors"), best, filepath.Join(dir, "metrics.jsonl"), filepath.Join(dir, "vqa.yaml")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("train output: %v", err)
		}
	}

	buf.Reset()
	if err := runEval(context.Background(), evalOptions{cfg: cfg, ckpt: best, split: "val", sets: tinyTrainSets(world, out)}, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Val-SoftAcc=") || !strings.Contains(buf.String(), "Val-AnsLoss=") {
		t.Errorf("eval output %q", buf.String())
	}

	buf.Reset()
	if err := runTest(context.Background(), testOptions{cfg: cfg, ckpt: best, split: "val2014", sets: tinyTrainSets(world, out)}, &buf); err != nil {
		t.Fatal(err)
	}
	file := strings.TrimSpace(buf.String())
	if file != filepath.Join(dir, "vqa_vqa2_val2014.json") {
		t.Fatalf("test wrote %q", file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var res []struct {
		QuestionID *int64  `json:"question_id"`
		Answer     *string `json:"answer"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 2*synth.QuestionsPerScene {
		t.Errorf("%d results, want one per val question (%d)", len(res), 2*synth.QuestionsPerScene)
	}
	for _, r := range res {
		if r.QuestionID == nil || r.Answer == nil || *r.Answer == "" {
			t.Fatalf("result %s lacks question_id or answer", b)
		}
	}
}

func TestTrainResumeWithoutCheckpoint(t *testing.T) {
	world, out := writeTinyWorld(t), t.TempDir()
	err := runTrain(context.Background(), trainOptions{cfg: "../../configs/synth/vqa.yaml", sets: tinyTrainSets(world, out), resume: true}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no checkpoint") {
		t.Fatalf("--resume without a checkpoint: %v", err)
	}
}

func TestTrainFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"train"}, &stdout, &stderr); code != 2 {
		t.Errorf("train without --cfg: exit %d, want 2", code)
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"train", "--cfg", "../../configs/synth/vqa.yaml", "--set", "NO_SUCH_KEY=1"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "NO_SUCH_KEY") {
		t.Errorf("unknown --set key: exit %d, stderr %q", code, stderr.String())
	}
	if code := run(context.Background(), []string{"eval", "--cfg", "x", "--ckpt", "y", "--split", "test"}, &stdout, &stderr); code != 2 {
		t.Errorf("eval --split test: exit %d, want 2", code)
	}
}
