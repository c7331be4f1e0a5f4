package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/infer/infertest"
)

// inferFixture writes a small random VQA checkpoint, a synthetic scene's
// features JSON and its PNG into a temp dir.
func inferFixture(t *testing.T) (dir, ckpt, feats, png string, sc *infertest.Scene) {
	t.Helper()
	dir = t.TempDir()
	ckpt, err := infertest.WriteVQA(dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	if sc, err = infertest.NewScene(1); err != nil {
		t.Fatal(err)
	}
	feats, png = filepath.Join(dir, "scene.json"), filepath.Join(dir, "scene.png")
	if err := os.WriteFile(feats, sc.JSON, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(png, sc.PNG, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, ckpt, feats, png, sc
}

func TestVQACommand(t *testing.T) {
	_, ckpt, feats, _, _ := inferFixture(t)
	var out bytes.Buffer
	o := vqaOptions{inferFlags: inferFlags{ckpt: ckpt, features: feats, maxRegions: 100, maxTokens: 64}, question: "what color is the square?", topK: 3}
	if err := runVQA(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "rank  score") || strings.Count(s, "\n") != 8 || !strings.Contains(s, "wordpieces: what color is the square ?") {
		t.Fatalf("table output:\n%s", s)
	}
	out.Reset()
	o.json = true
	if err := runVQA(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Question string
		Answers  []infer.Answer
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Answers) != 3 || res.Question != o.question {
		t.Fatalf("JSON output %q: %v", out.String(), err)
	}
	// --int8: the same question through the int8 encoder; logits within a few
	// percent of float32 (answers may reorder only among near ties).
	out.Reset()
	o.int8, o.topK = true, 0
	if err := runVQA(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	var res8 struct{ Answers []infer.Answer }
	if err := json.Unmarshal(out.Bytes(), &res8); err != nil || len(res8.Answers) == 0 {
		t.Fatalf("int8 JSON output %q: %v", out.String(), err)
	}
	f32 := map[string]float64{}
	o.int8 = false
	out.Reset()
	if err := runVQA(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	var all struct{ Answers []infer.Answer }
	if err := json.Unmarshal(out.Bytes(), &all); err != nil {
		t.Fatal(err)
	}
	for _, a := range all.Answers {
		f32[a.Answer] = a.Logit
	}
	same := true
	for _, a := range res8.Answers {
		d := math.Abs(a.Logit - f32[a.Answer])
		same = same && d == 0
		if d > 0.05*(1+math.Abs(f32[a.Answer])) {
			t.Errorf("answer %q: int8 logit %v, float32 %v", a.Answer, a.Logit, f32[a.Answer])
		}
	}
	if same {
		t.Error("--int8 gave exactly the float32 logits: the int8 path did not run")
	}
	o.topK = 3
	// The same through the command line, with a usage error.
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"vqa", "--ckpt", ckpt, "--question", "what?"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--features") {
		t.Fatalf("missing input: code %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"vqa", "-h"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "sigmoid(logit)") {
		t.Fatalf("help: code %d, %s", code, stderr.String())
	}
	if code := run(context.Background(), []string{"vqa", "--ckpt", ckpt, "--question", "what?", "--features", feats, "--top-k", "2", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("vqa via run: code %d, %s", code, stderr.String())
	}
}

func TestParseBoxFlag(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "b.json")
	os.WriteFile(f, []byte("[[1,2,3,4]]"), 0o644)
	for _, c := range []struct {
		in   string
		want int
		err  string
	}{
		{"[[0,0,10,10],[1,1,5,5]]", 8, ""},
		{"0,0,10,10; 1,1,5,5", 8, ""},
		{f, 4, ""},
		{"1,2,3", 0, "3 numbers"},
		{"a,b,c,d", 0, "invalid syntax"},
		{"[[1,2]", 0, "unexpected end"},
		{"", 0, "no boxes"},
	} {
		got, err := parseBoxFlag(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != c.want {
			t.Errorf("%q: %v %v", c.in, got, err)
		}
	}
}

func TestGroundAndVCRCommands(t *testing.T) {
	dir, ckpt, feats, _, sc := inferFixture(t)
	f := inferFlags{ckpt: ckpt, features: feats, maxRegions: 100, maxTokens: 64}
	var out bytes.Buffer
	// A VQA checkpoint has neither head.
	err := runGround(context.Background(), groundOptions{inferFlags: f, expression: "the red circle"}, &out)
	if !errors.Is(err, infer.ErrUnsupported) || !strings.Contains(err.Error(), "RefCOCO") {
		t.Fatalf("ground: %v", err)
	}
	choices := multiFlag{"a", "b", "c", "d"}
	err = runVCR(context.Background(), vcrOptions{inferFlags: f, question: "why?", choices: choices}, &out)
	if !errors.Is(err, infer.ErrUnsupported) || !strings.Contains(err.Error(), "VCR") {
		t.Fatalf("vcr: %v", err)
	}
	if f.ckpt, err = infertest.WriteRefCOCO(dir, 1); err != nil {
		t.Fatal(err)
	}
	if err := runGround(context.Background(), groundOptions{inferFlags: f, expression: "the red circle"}, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "best box: ") || strings.Count(s, "\n") != 4+len(sc.Boxes) {
		t.Fatalf("ground output:\n%s", s)
	}
	if f.ckpt, err = infertest.WriteVCR(dir, 1); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runVCR(context.Background(), vcrOptions{inferFlags: f, question: "why is it red?", choices: multiFlag{"because", "it is", "a red", "circle"}, json: true}, &out); err != nil {
		t.Fatal(err)
	}
	var res infer.VCRResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Choices) != 4 {
		t.Fatalf("vcr JSON %q: %v", out.String(), err)
	}
}

// --features takes the classic bottom-up TSV (one record picked by --image-id),
// and --image without ResNet weights says what is missing.
func TestVQACommandTSVAndImageErrors(t *testing.T) {
	dir, ckpt, _, pngPath, sc := inferFixture(t)
	var boxes []float32
	for _, b := range sc.Boxes {
		boxes = append(boxes, b[:]...)
	}
	line := func(id int) string {
		return fmt.Sprintf("%d\t%d\t%d\t%d\t%s\t%s\n", id, sc.Scene.Width, sc.Scene.Height, len(sc.Boxes), infertest.B64(boxes), infertest.B64(sc.Features))
	}
	tsv := filepath.Join(dir, "feats.tsv")
	os.WriteFile(tsv, []byte(line(7)+line(9)), 0o644)
	f := inferFlags{ckpt: ckpt, features: tsv, imageID: 9, maxRegions: 100, maxTokens: 64}
	var out bytes.Buffer
	if err := runVQA(context.Background(), vqaOptions{inferFlags: f, question: "what color is the circle?", topK: 2}, &out); err != nil {
		t.Fatal(err)
	}
	f.imageID = 3
	if err := runVQA(context.Background(), vqaOptions{inferFlags: f, question: "what?", topK: 2}, &out); err == nil || !strings.Contains(err.Error(), "no record with image_id 3") {
		t.Fatalf("missing id: %v", err)
	}
	f = inferFlags{ckpt: ckpt, image: pngPath, boxes: "0,0,10,10", maxRegions: 100, maxTokens: 64}
	err := runVQA(context.Background(), vqaOptions{inferFlags: f, question: "what?", topK: 2}, &out)
	if !errors.Is(err, infer.ErrUnsupported) || !strings.Contains(err.Error(), "backbone") {
		t.Fatalf("image without backbone: %v", err)
	}
}
