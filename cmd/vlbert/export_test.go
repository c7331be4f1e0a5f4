package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/onnx"
	"github.com/vlbert/vlbert/internal/weights"
)

// TestExportGoldenVQA exports the original's golden VQA checkpoint with an answer
// file and reads the model back: task, answers and graph inputs are where a
// runtime looks for them. (The ONNX Runtime parity of exports is tested in
// internal/onnx.)
func TestExportGoldenVQA(t *testing.T) {
	dir := t.TempDir()
	answers := make([]string, 64)
	for i := range answers {
		answers[i] = "answer" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	answers[0] = "<unk>"
	ans := filepath.Join(dir, "answers.txt")
	if err := os.WriteFile(ans, []byte(strings.Join(answers, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "vqa.onnx")
	var stdout, stderr bytes.Buffer
	err := runExport(context.Background(), exportOptions{Config: "../../testdata/golden/vqa_small.yaml",
		Checkpoint: "../../testdata/golden/vqa_ckpt_zip.model", Out: out, Opset: 17, Answers: ans}, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "exported vqa") {
		t.Errorf("stdout %q", stdout.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	for _, kv := range m.Metadata {
		meta[kv.Key] = kv.Value
	}
	if meta["task"] != "vqa" || !strings.HasPrefix(meta["answers"], `["<unk>","answerb"`) || meta["vlbert_version"] == "" {
		t.Errorf("metadata %v", meta)
	}
	if len(m.Graph.Inputs) != 3 || m.Graph.Inputs[2].Name != "question" || m.Graph.Inputs[2].ElemType != onnx.Int64 {
		t.Errorf("inputs %+v", m.Graph.Inputs)
	}
}

func TestExportErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		o    exportOptions
		want string
	}{
		{exportOptions{Checkpoint: "../../testdata/golden/vqa_ckpt_zip.model", Out: filepath.Join(dir, "a.onnx"), Opset: 17}, "--cfg"},
		{exportOptions{Config: "../../testdata/golden/vqa_small.yaml", Checkpoint: "../../testdata/golden/vqa_ckpt_zip.model", Out: filepath.Join(dir, "b.onnx"), Opset: 13}, "opset 13"},
		{exportOptions{Config: "../../testdata/golden/pretrain_small.yaml", Checkpoint: "../../testdata/golden/pretrain_ckpt_zip.model", Out: filepath.Join(dir, "c.onnx"), Opset: 17}, "not exportable"},
		{exportOptions{Config: "../../testdata/golden/vqa_small.yaml", Checkpoint: "../../testdata/golden/pretrain_ckpt_zip.model", Out: filepath.Join(dir, "d.onnx"), Opset: 17}, "final_mlp"},
		{exportOptions{Config: "../../testdata/golden/vqa_small.yaml", Checkpoint: filepath.Join(dir, "missing.model"), Out: filepath.Join(dir, "e.onnx"), Opset: 17}, "missing.model"},
	}
	for _, c := range cases {
		err := runExport(context.Background(), c.o, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", c.o, err, c.want)
		}
		if _, serr := os.Stat(c.o.Out); serr == nil {
			t.Errorf("%s written despite the error", c.o.Out)
		}
	}
	// An e2e config without ResNet weights in the checkpoint: the error says so and
	// points at --precomputed, which then works.
	e2eCfg := filepath.Join(dir, "e2e.yaml")
	y, err := os.ReadFile("../../testdata/golden/vqa_small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e2eCfg, []byte(strings.Replace(string(y), "IMAGE_FEAT_PRECOMPUTED: true", "IMAGE_FEAT_PRECOMPUTED: false", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	o := exportOptions{Config: e2eCfg, Checkpoint: "../../testdata/golden/vqa_ckpt_zip.model", Out: filepath.Join(dir, "f.onnx"), Opset: 17}
	if err := runExport(context.Background(), o, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--precomputed") {
		t.Errorf("e2e config, no ResNet weights: %v", err)
	}
	o.Precomputed = true
	if err := runExport(context.Background(), o, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Errorf("--precomputed: %v", err)
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"export", "--cfg", "x.yaml"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("missing --ckpt/--out: exit code %d, want 2 (%s)", code, stderr.String())
	}
}

// TestExportSafetensors: a vlbert checkpoint carries its config and answers, so
// export needs neither --cfg nor --answers.
func TestExportSafetensors(t *testing.T) {
	dir := t.TempDir()
	ck, err := weights.ReadTorch("../../testdata/golden/vqa_ckpt_zip.model")
	if err != nil {
		t.Fatal(err)
	}
	yaml, err := os.ReadFile("../../testdata/golden/vqa_small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	answers := make([]string, 64)
	for i := range answers {
		answers[i] = fmt.Sprintf("a%d", i)
	}
	aj, _ := json.Marshal(answers)
	st := filepath.Join(dir, "vqa.safetensors")
	if err := weights.WriteSafetensors(st, ck.StateDict, map[string]string{"config": string(yaml), "answers": string(aj)}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "vqa.onnx")
	if err := runExport(context.Background(), exportOptions{Checkpoint: st, Out: out, Opset: 17}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, kv := range m.Metadata {
		if kv.Key == "answers" {
			got = kv.Value
		}
	}
	if got != string(aj) {
		t.Errorf("answers metadata %q, want %s", got, aj)
	}
}
