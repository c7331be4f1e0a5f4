package train

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
			res := checkLearns(t, "vqa", 2, "NETWORK.CLASSIFIER_TYPE="+ct, "NETWORK.CLASSIFIER_HIDDEN_SIZE=48", "NETWORK.CLASSIFIER_PRETRAINED=false")
			out := t.TempDir()
			cfg := tinyConfig(t, "vqa", worldDir, out, "NETWORK.CLASSIFIER_TYPE="+ct, "NETWORK.CLASSIFIER_HIDDEN_SIZE=48", "DATASET.TEST_IMAGE_SET=val2014")
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

// TestVCRAblationsTrain trains and predicts VCR with the ablations of the
// original's VCR module: BLIND, ONLY_USE_RELEVANT_DETS, NO_OBJ_ATTENTION with NO_GROUNDING, ANSWER_FIRST
// with object_word_embed_mode 3, QA_ONE_SENT with IMAGE_SEMANTIC and mode 1, and
// the VLBERT switches (visual_size != hidden_size, hidden_act relu,
// word_embedding_frozen).
func TestVCRAblationsTrain(t *testing.T) {
	for _, sets := range [][]string{
		{"NETWORK.BLIND=true", "NETWORK.VLBERT.visual_ln=false"},
		{"DATASET.ONLY_USE_RELEVANT_DETS=true"},
		{"NETWORK.NO_OBJ_ATTENTION=true", "NETWORK.NO_GROUNDING=true"},
		{"NETWORK.ANSWER_FIRST=true", "NETWORK.VLBERT.object_word_embed_mode=3"},
		{"NETWORK.QA_ONE_SENT=true", "NETWORK.IMAGE_SEMANTIC=true", "NETWORK.VLBERT.object_word_embed_mode=1"},
		{"NETWORK.VLBERT.visual_size=16", "NETWORK.IMAGE_FINAL_DIM=16", "NETWORK.VLBERT.hidden_act=relu", "NETWORK.VLBERT.word_embedding_frozen=true"},
	} {
		t.Run(strings.Join(sets, ","), func(t *testing.T) {
			out := t.TempDir()
			cfg := vcrConfig(t, out, append([]string{"DATASET.TASK=Q2A", "TRAIN.END_EPOCH=1"}, sets...)...)
			res := run(t, context.Background(), cfg, Options{})
			if l := trainLosses(t, res.OutputDir); len(l) == 0 || math.IsNaN(l[len(l)-1]) {
				t.Fatalf("losses %v", l)
			}
			files, err := Predict(context.Background(), cfg, "configs/synth/vcr.yaml", res.Checkpoint, "val", out, InferenceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rows := readCSV(t, files[0]); len(rows) < 2 {
				t.Errorf("%d rows", len(rows))
			}
		})
	}
}

// TestSwitchesTrain trains a few steps of VQA, RefCOCO+ and pretraining configs
// with the VLBERT switches and the pretraining loss normalization.
func TestSwitchesTrain(t *testing.T) {
	for _, tc := range []struct {
		name string
		sets []string
	}{
		{"vqa", []string{"NETWORK.NO_GROUNDING=true", "NETWORK.VLBERT.visual_ln=false", "NETWORK.VLBERT.hidden_act=swish", "NETWORK.VLBERT.position_padding_idx=1", "NETWORK.CLASSIFIER_PRETRAINED=false"}},
		{"ground", []string{"NETWORK.VLBERT.visual_size=16", "NETWORK.IMAGE_FINAL_DIM=16", "NETWORK.VLBERT.word_embedding_frozen=true"}},
		{"pretrain", []string{"NETWORK.MLM_LOSS_NORM_IN_BATCH_FIRST=true", "NETWORK.MVRC_LOSS_NORM_IN_BATCH_FIRST=true", "NETWORK.VLBERT.pos_embedding_frozen=true", "NETWORK.VLBERT.word_embedding_frozen=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(t, tc.name, worldDir, t.TempDir(), append([]string{"TRAIN.END_EPOCH=1"}, tc.sets...)...)
			res := run(t, context.Background(), cfg, Options{})
			l := trainLosses(t, res.OutputDir)
			if len(l) == 0 || math.IsNaN(l[len(l)-1]) || math.IsInf(l[len(l)-1], 0) {
				t.Fatalf("losses %v", l)
			}
		})
	}
}

// TestVCROnlyRelevantDets: with DATASET.ONLY_USE_RELEVANT_DETS an example keeps
// the whole-image box and the referenced detections only, each with its own
// feature row.
func TestVCROnlyRelevantDets(t *testing.T) {
	examples := func(only string) []*vcrExample {
		cfg := vcrConfig(t, t.TempDir(), "DATASET.TASK=Q2A", "DATASET.ONLY_USE_RELEVANT_DETS="+only)
		tk, err := NewTask(cfg, "val")
		if err != nil {
			t.Fatal(err)
		}
		defer tk.Close()
		vt := tk.(*vcrTask)
		var out []*vcrExample
		for i := range vt.sets["val"].anns {
			e, err := vt.example(vt.sets["val"], i, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
		return out
	}
	all, rel := examples("false"), examples("true")
	fewer := 0
	for i := range all {
		if rel[i].n > all[i].n {
			t.Fatalf("example %d: %d boxes kept of %d", i, rel[i].n, all[i].n)
		}
		if rel[i].n < all[i].n {
			fewer++
		}
		// Every kept box (after the image box) is one of the example's boxes, feature included.
		const stride = 4 + 2048
		for r := 1; r < rel[i].n; r++ {
			row := rel[i].boxes[r*stride : (r+1)*stride]
			found := false
			for q := 1; q < all[i].n && !found; q++ {
				found = slices.Equal(row, all[i].boxes[q*stride:(q+1)*stride])
			}
			if !found {
				t.Fatalf("example %d: kept box %d is not one of the detections", i, r)
			}
		}
	}
	if fewer == 0 {
		t.Error("no example dropped an unreferenced detection")
	}
	t.Logf("%d of %d examples dropped detections", fewer, len(all))
}
