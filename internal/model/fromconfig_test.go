package model

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/heads"
)

func TestFromConfigGoldenYAML(t *testing.T) {
	for _, tc := range []struct {
		file string
		task Task
	}{{"vqa_small.yaml", TaskVQA}, {"pretrain_small.yaml", TaskPretrain}} {
		c, err := config.Load(filepath.Join(goldenDir, tc.file), "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := FromConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		want := smallConfig(tc.task)
		if tc.task == TaskVQA { // fields the VQA module does not read
			want.RegionClasses = got.RegionClasses
		} else {
			want.ClassifierType, want.AnswerVocabSize = got.ClassifierType, got.AnswerVocabSize
		}
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.file, got, want)
		}
	}
}

func TestFromConfigRejects(t *testing.T) {
	c, err := config.Load(filepath.Join(goldenDir, "vqa_small.yaml"), "")
	if err != nil {
		t.Fatal(err)
	}
	c.Network.ImageFeatPrecomputed = false
	if _, err := FromConfig(c); err == nil || !strings.Contains(err.Error(), "IMAGE_FEAT_PRECOMPUTED") {
		t.Errorf("e2e config: err = %v", err)
	}
	c.Network.ImageFeatPrecomputed = true
	c.Module = "ResNetVLBERTForVCR"
	if _, err := FromConfig(c); err == nil || !strings.Contains(err.Error(), "MODULE") {
		t.Errorf("unknown module: err = %v", err)
	}
}

func TestFromConfigRefCOCO(t *testing.T) {
	yml := "MODULE: ResNetVLBERT\nDATASET:\n  DATASET: refcoco+\nNETWORK:\n  IMAGE_FEAT_PRECOMPUTED: false\n  IMAGE_FINAL_DIM: 768\n  VLBERT:\n    hidden_size: 768\n    visual_size: 768\n    num_hidden_layers: 12\n    num_attention_heads: 12\n    intermediate_size: 3072\n    vocab_size: 30522\n    visual_ln: true\n"
	c, err := config.Parse([]byte(yml), "refcoco.yaml", config.TaskRefCOCO)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromConfig(c); err == nil || !strings.Contains(err.Error(), "IMAGE_FEAT_PRECOMPUTED") {
		t.Errorf("FromConfig accepted an e2e config: %v", err)
	}
	got, err := FromConfigE2E(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Task != TaskRefCOCO || got.HiddenSize != 768 {
		t.Errorf("got task %v hidden %d", got.Task, got.HiddenSize)
	}
}

func TestFromConfigVCR(t *testing.T) {
	yml := "MODULE: ResNetVLBERT\nDATASET:\n  DATASET: vcr\nNETWORK:\n  IMAGE_FEAT_PRECOMPUTED: false\n  IMAGE_SEMANTIC: false\n  IMAGE_FINAL_DIM: 768\n  ENABLE_CNN_REG_LOSS: true\n  CNN_LOSS_TOP: true\n  CLASSIFIER_TYPE: 1fc\n  CLASSIFIER_SIGMOID: true\n  CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT: 1.0\n  ANS_LOSS_WEIGHT: 1.0\n  CNN_LOSS_WEIGHT: 1.0\n  VLBERT:\n    hidden_size: 768\n    visual_size: 768\n    num_hidden_layers: 12\n    num_attention_heads: 12\n    intermediate_size: 3072\n    vocab_size: 30522\n    visual_ln: true\n    with_pooler: true\n    object_word_embed_mode: 2\n"
	c, err := config.Parse([]byte(yml), "vcr.yaml", config.TaskVCR)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromConfigE2E(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Task != TaskVCR || !got.CNNRegLossTop || !got.ClassifierSigmoid || got.AnsLossWeight != 1 || got.CNNLossWeight != 1 {
		t.Errorf("got %+v", got)
	}
	mod, err := New(got)
	if err != nil {
		t.Fatal(err)
	}
	m := mod.Base()
	if _, ok := m.Params.Lookup("cnn_loss_reg.2.weight"); !ok {
		t.Error("no cnn_loss_reg head")
	}
}

// TestFromConfigVLBERTSwitches maps every NETWORK.VLBERT switch, and refuses
// obj_pos_id_relative false with the original's assertion.
func TestFromConfigVLBERTSwitches(t *testing.T) {
	c, err := config.Load(filepath.Join(goldenDir, "vqa_small.yaml"), "")
	if err != nil {
		t.Fatal(err)
	}
	v := &c.Network.VLBERT
	v.HiddenAct, v.VisualLN, v.WordEmbeddingFrozen, v.PosEmbeddingFrozen, v.PositionPaddingIdx = "swish", false, true, true, 1
	v.VisualSize, c.Network.ImageFinalDim = v.HiddenSize/2, v.HiddenSize/2
	got, err := FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.HiddenAct != heads.ActSwish || got.VisualLN || !got.WordEmbeddingFrozen || !got.PosEmbeddingFrozen || got.PositionShift != 2 || got.VisualSize != v.HiddenSize/2 {
		t.Errorf("got %+v", got)
	}
	v.ObjPosIDRelative = false
	if _, err := FromConfig(c); err == nil || !strings.Contains(err.Error(), "Don't use position id 510/511") {
		t.Errorf("obj_pos_id_relative false: err = %v", err)
	}
}
