package model

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
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

// TestFromConfigAblations: switches that fail in the original's module are refused
// with its reason; switches the module never reads are accepted and ignored; the
// rest reach the Config.
func TestFromConfigAblations(t *testing.T) {
	vcrYAML := "MODULE: ResNetVLBERT\nDATASET:\n  DATASET: vcr\nNETWORK:\n  IMAGE_FEAT_PRECOMPUTED: true\n  IMAGE_FINAL_DIM: 768\n  ENABLE_CNN_REG_LOSS: false\n  CLASSIFIER_TYPE: 1fc\n  VLBERT:\n    hidden_size: 768\n    visual_size: 768\n    num_hidden_layers: 2\n    num_attention_heads: 12\n    intermediate_size: 3072\n    vocab_size: 30522\n    visual_ln: true\n    with_pooler: true\n    object_word_embed_mode: 2\n"
	refYAML := "MODULE: ResNetVLBERT\nDATASET:\n  DATASET: refcoco+\nNETWORK:\n  IMAGE_FEAT_PRECOMPUTED: true\n  IMAGE_FINAL_DIM: 768\n  VLBERT:\n    hidden_size: 768\n    visual_size: 768\n    num_hidden_layers: 2\n    num_attention_heads: 12\n    intermediate_size: 3072\n    vocab_size: 30522\n    visual_ln: true\n"
	load := func(kind string) *config.Config {
		var c *config.Config
		var err error
		switch kind {
		case "vqa":
			c, err = config.Load(filepath.Join(goldenDir, "vqa_small.yaml"), "")
		case "pretrain":
			c, err = config.Load(filepath.Join(goldenDir, "pretrain_small.yaml"), "")
		case "vcr":
			c, err = config.Parse([]byte(vcrYAML), "vcr.yaml", config.TaskVCR)
		case "refcoco":
			c, err = config.Parse([]byte(refYAML), "refcoco.yaml", config.TaskRefCOCO)
		}
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		kind string
		sets []string
		want string // "" = accepted
		ok   func(c Config) bool
	}{
		{"vqa", []string{"NETWORK.BLIND=true"}, "AttributeError", nil},
		{"vqa", []string{"NETWORK.VLBERT.object_word_embed_mode=1"}, "asserts object_word_embed_mode == 2", nil},
		{"vcr", []string{"NETWORK.VLBERT.object_word_embed_mode=4"}, "NotImplementedError", nil},
		{"vqa", []string{"NETWORK.IMAGE_SEMANTIC=true"}, "4224", nil},
		{"pretrain", []string{"NETWORK.IMAGE_SEMANTIC=true"}, "4224", nil},
		{"vcr", []string{"NETWORK.ANSWER_FIRST=true", "NETWORK.QA_ONE_SENT=true"}, "NotImplemented", nil},
		{"vcr", []string{"NETWORK.BLIND=true"}, "visual_scale_text", nil},
		{"vcr", []string{"NETWORK.ENABLE_CNN_REG_LOSS=true", "NETWORK.CNN_LOSS_TOP=false"}, "KeyError", nil},
		{"vcr", []string{"NETWORK.NO_OBJ_ATTENTION=true", "NETWORK.ENABLE_CNN_REG_LOSS=true", "NETWORK.CNN_LOSS_TOP=true"}, "NaN", nil},
		// Accepted and implemented.
		{"vqa", []string{"NETWORK.NO_GROUNDING=true"}, "", func(c Config) bool { return c.NoGrounding }},
		{"vcr", []string{"NETWORK.BLIND=true", "NETWORK.VLBERT.visual_ln=false"}, "", func(c Config) bool { return c.Blind }},
		{"vcr", []string{"NETWORK.NO_OBJ_ATTENTION=true", "NETWORK.NO_GROUNDING=true", "NETWORK.IMAGE_SEMANTIC=true"}, "", func(c Config) bool { return c.NoObjAttention && c.NoGrounding && c.ImageSemantic }},
		{"vcr", []string{"NETWORK.ANSWER_FIRST=true", "NETWORK.VLBERT.object_word_embed_mode=3"}, "", func(c Config) bool { return c.VCRLayout == data.VCRAnswerFirst && c.ObjectWordEmbedMode == 3 }},
		{"vcr", []string{"NETWORK.QA_ONE_SENT=true", "NETWORK.VLBERT.object_word_embed_mode=1"}, "", func(c Config) bool { return c.VCRLayout == data.VCROneSentence && c.ObjectWordEmbedMode == 1 }},
		// Accepted and ignored: the module never reads the switch.
		{"vqa", []string{"NETWORK.NO_OBJ_ATTENTION=true", "NETWORK.ENABLE_CNN_REG_LOSS=true"}, "", func(c Config) bool { return !c.NoObjAttention }},
		{"refcoco", []string{"NETWORK.NO_GROUNDING=true", "NETWORK.BLIND=true", "NETWORK.VLBERT.object_word_embed_mode=3", "NETWORK.ENABLE_CNN_REG_LOSS=true"}, "", func(c Config) bool { return !c.NoGrounding && !c.Blind && c.objWordMode() == 2 }},
		{"pretrain", []string{"NETWORK.NO_GROUNDING=true", "NETWORK.BLIND=true", "NETWORK.VLBERT.object_word_embed_mode=1", "NETWORK.ENABLE_CNN_REG_LOSS=true"}, "", func(c Config) bool { return !c.NoGrounding && !c.Blind && c.objWordMode() == 2 }},
	} {
		c := load(tc.kind)
		if err := c.SetAll(tc.sets); err != nil {
			t.Fatal(err)
		}
		got, err := FromConfig(c)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %v: err = %v, want %q", tc.kind, tc.sets, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", tc.kind, tc.sets, err)
			continue
		}
		if !tc.ok(got) {
			t.Errorf("%s %v: got %+v", tc.kind, tc.sets, got)
		}
		if _, err := New(got); err != nil {
			t.Errorf("%s %v: New: %v", tc.kind, tc.sets, err)
		}
	}
}

// TestFromConfigRoIRegulariser: e2e VCR with ENABLE_CNN_REG_LOSS and no
// CNN_LOSS_TOP gets FastRCNN's regularizing_predictor.
func TestFromConfigRoIRegulariser(t *testing.T) {
	yml := "MODULE: ResNetVLBERT\nDATASET:\n  DATASET: vcr\nNETWORK:\n  IMAGE_FEAT_PRECOMPUTED: false\n  IMAGE_FINAL_DIM: 768\n  ENABLE_CNN_REG_LOSS: true\n  CNN_LOSS_TOP: false\n  CLASSIFIER_TYPE: 2fc\n  VLBERT:\n    hidden_size: 768\n    visual_size: 768\n    num_hidden_layers: 1\n    num_attention_heads: 12\n    intermediate_size: 3072\n    vocab_size: 30522\n    visual_ln: true\n    with_pooler: true\n"
	c, err := config.Parse([]byte(yml), "vcr.yaml", config.TaskVCR)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromConfigE2E(c)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CNNRegLossRoI || got.CNNRegLossTop || got.ClassifierType != "2fc" {
		t.Errorf("got %+v", got)
	}
	mod, err := New(got)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mod.Base().Params.Lookup("image_feature_extractor.regularizing_predictor.weight"); !ok {
		t.Error("no regularizing_predictor")
	}
}
