package train

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
)

// TestVQAClassifierTypes fine-tunes the VQA config with the original's default
// classifier (CLASSIFIER_TYPE 2fc, CLASSIFIER_HIDDEN_SIZE) and with 1fc, then
// predicts the val split from the best checkpoint: one answer of the vocabulary
// per question.
func TestVQAClassifierTypes(t *testing.T) {
	for _, ct := range []string{"2fc", "1fc"} {
		t.Run(ct, func(t *testing.T) {
			res := checkLearns(t, "vqa", 3, "NETWORK.CLASSIFIER_TYPE="+ct, "NETWORK.CLASSIFIER_HIDDEN_SIZE=48", "NETWORK.CLASSIFIER_PRETRAINED=false")
			out := t.TempDir()
			cfg := tinyConfig(t, "vqa", worldDir, out, "NETWORK.CLASSIFIER_TYPE="+ct, "NETWORK.CLASSIFIER_HIDDEN_SIZE=48", "DATASET.TEST_IMAGE_SET=val")
			files, err := Predict(context.Background(), cfg, "configs/synth/vqa.yaml", res.Checkpoint, "val", out, InferenceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			var got []struct {
				QuestionID int64  `json:"question_id"`
				Answer     string `json:"answer"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			vocab := map[string]bool{}
			for _, a := range synth.AnswerVocab() {
				vocab[a] = true
			}
			if len(got) == 0 {
				t.Fatal("no predictions")
			}
			for _, g := range got {
				if !vocab[g.Answer] {
					t.Fatalf("question %d: answer %q outside the vocabulary", g.QuestionID, g.Answer)
				}
			}
		})
	}
}

// TestVCRClassifier2fc trains Q→A with CLASSIFIER_TYPE 2fc and the sigmoid loss
// with CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT 3, then predicts the val split.
func TestVCRClassifier2fc(t *testing.T) {
	out := t.TempDir()
	cfg := vcrConfig(t, out, "DATASET.TASK=Q2A", "TRAIN.END_EPOCH=2", "NETWORK.CLASSIFIER_TYPE=2fc", "NETWORK.CLASSIFIER_HIDDEN_SIZE=48",
		"NETWORK.CLASSIFIER_SIGMOID=true", "NETWORK.CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT=3")
	res := run(t, context.Background(), cfg, Options{})
	losses := trainLosses(t, res.OutputDir)
	k := max(2, len(losses)/5)
	if first, last := mean(losses[:k]), mean(losses[len(losses)-k:]); !(last < first) {
		t.Errorf("loss did not fall: %.4f -> %.4f", first, last)
	}
	if acc := res.Val["Acc"]; !(acc >= 0 && acc <= 1) {
		t.Errorf("Val Acc %v", acc)
	}
	files, err := Predict(context.Background(), cfg, "configs/synth/vcr.yaml", res.Checkpoint, "val", out, InferenceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rows := readCSV(t, files[0]); len(rows) < 2 || len(rows[0]) != 5 {
		t.Errorf("%s: %d rows, header %v", filepath.Base(files[0]), len(rows), rows[0])
	}
}
