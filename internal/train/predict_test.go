package train

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/weights"
)

// saveWeights writes m's parameters as a plain safetensors file.
func saveWeights(t *testing.T, m *model.Model, path string) {
	t.Helper()
	ts := map[string]*weights.Tensor{}
	for _, q := range m.Base().Params.List {
		ts[q.Name] = weights.NewF32(m.Base().Params.Data[q.Offset:q.Offset+q.Size], q.Shape...)
	}
	if err := weights.WriteSafetensors(path, ts, nil); err != nil {
		t.Fatal(err)
	}
}

// TestPredictVQA: a classifier whose bias prefers one answer must write that
// answer for every question of the split, in question order, in the EvalAI
// format [{"question_id", "answer"}].
func TestPredictVQA(t *testing.T) {
	out := t.TempDir()
	cfg := tinyConfig(t, "vqa", worldDir, out, "DATASET.TEST_IMAGE_SET=val2014")
	mc, err := model.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	m.Base().InitWeights(1)
	answers := synth.AnswerVocab()
	want := slices.Index(answers, "triangle")
	clear(m.Base().Params.View("final_mlp.2.weight"))
	m.Base().Params.View("final_mlp.2.bias")[want] = 5
	ckpt := filepath.Join(out, "forced.safetensors")
	saveWeights(t, m.Base(), ckpt)

	files, err := Predict(context.Background(), cfg, "configs/synth/vqa.yaml", ckpt, "val", out, InferenceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || filepath.Base(files[0]) != "vqa_vqa2_val.json" {
		t.Fatalf("files %v, want [.../vqa_vqa2_val.json]", files)
	}
	got, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// Hand-made expectation from the questions file.
	qf, _ := synth.VQAFiles(synth.VQAImageSet("val"))
	qpath := filepath.Join(worldDir, qf)
	var qs struct {
		Questions []struct {
			QuestionID int64 `json:"question_id"`
		} `json:"questions"`
	}
	b, err := os.ReadFile(qpath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &qs); err != nil {
		t.Fatal(err)
	}
	var exp []map[string]any
	for _, q := range qs.Questions {
		exp = append(exp, map[string]any{"question_id": q.QuestionID, "answer": "triangle"})
	}
	wantJSON, _ := json.Marshal(exp)
	var a, c any
	json.Unmarshal(got, &a)
	json.Unmarshal(wantJSON, &c)
	ga, _ := json.Marshal(a)
	gc, _ := json.Marshal(c)
	if string(ga) != string(gc) {
		t.Errorf("results\n%s\nwant\n%s", ga, gc)
	}
	if len(qs.Questions) == 0 {
		t.Fatal("no questions in the val split")
	}
}
