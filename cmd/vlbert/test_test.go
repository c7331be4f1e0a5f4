package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyVCRSets shrink configs/synth/vcr.yaml (DATASET.TASK task unless
// empty) to a model that trains one epoch on the tiny world in well under a
// second.
func tinyVCRSets(world, out, task string) setFlags {
	s := setFlags{"DATASET.DATASET_PATH=" + filepath.Join(world, "vcr"), "OUTPUT_PATH=" + out,
		"NUM_WORKERS_PER_GPU=1", "NETWORK.VLBERT.hidden_size=32", "NETWORK.VLBERT.visual_size=32", "NETWORK.IMAGE_FINAL_DIM=32",
		"NETWORK.VLBERT.num_hidden_layers=1", "NETWORK.VLBERT.num_attention_heads=2", "NETWORK.VLBERT.intermediate_size=64",
		"TRAIN.END_EPOCH=1", "TRAIN.BATCH_IMAGES=8", "VAL.BATCH_IMAGES=8", "TEST.BATCH_IMAGES=8"}
	if task != "" {
		s = append(s, "DATASET.TASK="+task)
	}
	return s
}

// trainVCR trains the tiny VCR model of task and returns its best checkpoint.
func trainVCR(t *testing.T, world, task string) string {
	t.Helper()
	out := t.TempDir()
	if err := runTrain(context.Background(), trainOptions{cfg: "../../configs/synth/vcr.yaml", sets: tinyVCRSets(world, out, task)}, &bytes.Buffer{}); err != nil {
		t.Fatalf("train %s: %v", task, err)
	}
	ckpts, _ := filepath.Glob(filepath.Join(out, "*", "*", "*-best.safetensors"))
	if len(ckpts) != 1 {
		t.Fatalf("train %s: best checkpoints %v", task, ckpts)
	}
	return ckpts[0]
}

// readCSV returns the lines of a result file.
func readCSV(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestTestVCR: --split picks VCR's annotation file, and --qa2r-cfg/--qa2r-ckpt
// merge the two models' CSVs into the Q2AR leaderboard file.
func TestTestVCR(t *testing.T) {
	world := writeTinyWorld(t)
	cfg := "../../configs/synth/vcr.yaml"
	q2a, qa2r := trainVCR(t, world, "Q2A"), trainVCR(t, world, "QA2R")
	nval := len(readLines(t, filepath.Join(world, "vcr", "val.jsonl")))
	ntrain := len(readLines(t, filepath.Join(world, "vcr", "train.jsonl")))

	test := func(o testOptions) []string {
		t.Helper()
		var buf bytes.Buffer
		if err := runTest(context.Background(), o, &buf); err != nil {
			t.Fatal(err)
		}
		return strings.Fields(buf.String())
	}
	// The config's TEST_ANNOTATION_FILE is val.jsonl; --split train reads
	// train.jsonl from the same image root.
	for split, n := range map[string]int{"test": nval, "train": ntrain} {
		out := t.TempDir()
		files := test(testOptions{cfg: cfg, ckpt: q2a, split: split, out: out, sets: tinyVCRSets(world, out, "Q2A")})
		if len(files) != 1 || files[0] != filepath.Join(out, "vcr_test_result_Q2A.csv") {
			t.Fatalf("--split %s wrote %v", split, files)
		}
		if rows := readCSV(t, files[0]); len(rows) != n+1 {
			t.Errorf("--split %s: %d rows, want a header and %d questions", split, len(rows), n)
		}
	}

	out := t.TempDir()
	// The overrides apply to both models; each config has its own task.
	files := test(testOptions{cfg: cfg, ckpt: q2a, qa2rCfg: writeQA2RConfig(t), qa2rCkpt: qa2r, split: "test", out: out,
		sets: tinyVCRSets(world, out, "")})
	want := []string{filepath.Join(out, "vcr_test_result_Q2A.csv"), filepath.Join(out, "vcr_qa2r_test_result_QA2R.csv"),
		filepath.Join(out, "vcr_test_result_Q2A.csv"), filepath.Join(out, "vcr_test_result_QA2R.csv"), filepath.Join(out, "vcr_test_result_Q2AR.csv")}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("wrote %v, want %v", files, want)
	}
	answers, rationales, merged := readCSV(t, want[0]), readCSV(t, want[1]), readCSV(t, want[4])
	if len(merged) != nval+1 || len(answers) != nval+1 || len(rationales) != nval+1 {
		t.Fatalf("rows: Q2A %d, QA2R %d, Q2AR %d, want %d", len(answers), len(rationales), len(merged), nval+1)
	}
	if h := strings.Split(merged[0], ","); len(h) != 21 || h[1] != "answer_0" || h[5] != "rationale_conditioned_on_a0_0" || h[20] != "rationale_conditioned_on_a3_3" {
		t.Errorf("Q2AR header %q", merged[0])
	}
	for i := 1; i < len(merged); i++ {
		_, rat, _ := strings.Cut(rationales[i], ",")
		if merged[i] != answers[i]+","+rat {
			t.Errorf("Q2AR row %d %q is not Q2A %q + QA2R %q", i, merged[i], answers[i], rationales[i])
		}
	}
	if q := readCSV(t, want[3]); strings.Join(q[1:], "\n") != strings.Join(rationales[1:], "\n") {
		t.Errorf("WriteVCRResults' QA2R file differs from the QA2R model's")
	}

	// The models swapped: each config must have its task.
	err := runTest(context.Background(), testOptions{cfg: writeQA2RConfig(t), ckpt: qa2r, qa2rCfg: cfg, qa2rCkpt: q2a, split: "test", out: out,
		sets: tinyVCRSets(world, out, "")}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "DATASET.TASK Q2A") {
		t.Errorf("swapped models: %v", err)
	}
}

// writeQA2RConfig is configs/synth/vcr.yaml with TASK QA2R, as vcr_qa2r.yaml.
func writeQA2RConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/synth/vcr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "TASK: 'Q2A'", "TASK: 'QA2R'", 1)
	if s == string(b) {
		t.Fatal("configs/synth/vcr.yaml lacks TASK: 'Q2A'")
	}
	path := filepath.Join(t.TempDir(), "vcr_qa2r.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTestFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"test", "--cfg", "x", "--ckpt", "y", "--qa2r-cfg", "z"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--qa2r-ckpt") {
		t.Errorf("--qa2r-cfg without --qa2r-ckpt: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"test", "-h"}, &stdout, &stderr); !strings.Contains(stderr.String()+stdout.String(), "-qa2r-cfg") {
		t.Errorf("test -h (exit %d) does not document --qa2r-cfg:\n%s%s", code, stdout.String(), stderr.String())
	}
}
