package onnx

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/model"
)

// TestBuildErrors: a checkpoint that does not fit the config is an error naming
// the tensor, before anything is written.
func TestBuildErrors(t *testing.T) {
	c, spec := smallConfig(model.TaskVQA)
	m, err := model.NewVQA(c)
	if err != nil {
		t.Fatal(err)
	}
	good := weightsOf(m.Base())
	cases := []struct {
		edit func(w Weights, s *Spec)
		want string
	}{
		{func(w Weights, _ *Spec) { delete(w, "final_mlp.2.weight") }, `no tensor "final_mlp.2.weight"`},
		{func(w Weights, _ *Spec) {
			w["vlbert.encoder.layer.1.output.dense.weight"] = Weight{Shape: []int{32, 32}, Data: make([]float32, 32*32)}
		}, `"vlbert.encoder.layer.1.output.dense.weight" has shape [32 32], the config wants [32 64]`},
		{func(w Weights, _ *Spec) {
			w["vlbert.visual_ln_text.bias"] = Weight{Shape: []int{32}, Data: make([]float32, 3)}
		}, `has 3 values, want 32`},
		{func(_ Weights, s *Spec) { s.Heads = 5 }, "not a multiple"},
		{func(_ Weights, s *Spec) { s.Task = "pretrain" }, "not exportable"},
		{func(_ Weights, s *Spec) { s.Answers = []string{"yes"} }, "1 answers for a classifier of 24"},
	}
	for _, tc := range cases {
		w := Weights{}
		for k, v := range good {
			w[k] = v
		}
		s := spec
		tc.edit(w, &s)
		_, err := Build(s, w, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", err, tc.want)
		}
	}
	if _, err := Build(spec, good, Options{Opset: 13}); err == nil || !strings.Contains(err.Error(), "opset 13") {
		t.Errorf("opset 13: %v", err)
	}
	// A NaN weight cannot be quantized.
	w := Weights{}
	for k, v := range good {
		w[k] = v
	}
	bad := append([]float32(nil), good["vlbert.encoder.layer.0.attention.self.query.weight"].Data...)
	bad[5] = float32(nanF32())
	w["vlbert.encoder.layer.0.attention.self.query.weight"] = Weight{Shape: []int{32, 32}, Data: bad}
	if _, err := Build(spec, w, Options{Int8: true}); err == nil || !strings.Contains(err.Error(), "row 0 holds NaN") {
		t.Errorf("NaN weight with --int8: %v", err)
	}
}

func nanF32() float32 {
	var z float32
	return z / z
}

func TestSpecFromConfig(t *testing.T) {
	load := func(t *testing.T, set ...string) (Spec, error) {
		t.Helper()
		c, err := config.Load(filepath.Join(goldenDir, "vqa_small.yaml"), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range set {
			if err := c.Set(kv); err != nil {
				t.Fatal(err)
			}
		}
		return SpecFromConfig(c)
	}
	s, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if s.Task != TaskVQA || s.Hidden != 64 || s.Layers != 2 || s.Heads != 4 || s.AnswerVocab != 64 || s.FeatureDim != 2048 {
		t.Errorf("spec %+v", s)
	}
	if s.E2E != nil {
		t.Error("a precomputed config gave an e2e spec")
	}
	s, err = load(t, "NETWORK.IMAGE_FEAT_PRECOMPUTED=false", "NETWORK.IMAGE_C5_DILATED=true", "NETWORK.IMAGE_STRIDE_IN_1x1=true")
	if err != nil {
		t.Fatal(err)
	}
	if v := s.E2E; v == nil || v.Blocks != [3]int{3, 4, 23} || !v.C5Dilated || !v.StrideIn1x1 || v.PooledH != 14 || v.SpatialScale != 1.0/16 {
		t.Errorf("e2e spec %+v", s.E2E)
	}
	if _, err := load(t, "NETWORK.IMAGE_FEAT_PRECOMPUTED=false", "NETWORK.IMAGE_NUM_LAYERS=50"); err == nil || !strings.Contains(err.Error(), "IMAGE_NUM_LAYERS=50") {
		t.Errorf("ResNet-50: %v", err)
	}
	if s, err := load(t, "NETWORK.IMAGE_FEAT_DIM=256"); err != nil || s.FeatureDim != 256 {
		t.Errorf("IMAGE_FEAT_DIM 256: feature dim %d, %v", s.FeatureDim, err)
	}
	// The e2e graph's ResNet-101 RoI head gives 2048-d features.
	if _, err := load(t, "NETWORK.IMAGE_FEAT_PRECOMPUTED=false", "NETWORK.IMAGE_FEAT_DIM=256"); err == nil || !strings.Contains(err.Error(), "IMAGE_FEAT_DIM") {
		t.Errorf("e2e with IMAGE_FEAT_DIM 256: %v", err)
	}
	for _, bad := range []struct{ set, want string }{
		{"NETWORK.VLBERT.object_word_embed_mode=1", "object_word_embed_mode=1"},
		{"NETWORK.CLASSIFIER_TYPE=2fc", "CLASSIFIER_TYPE"},
		{"NETWORK.BLIND=true", "BLIND"},
		{"NETWORK.VLBERT.hidden_act=relu", "hidden_act"},
		{"NETWORK.IMAGE_FINAL_DIM=32", "IMAGE_FINAL_DIM"},
	} {
		if _, err := load(t, bad.set); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one naming %s", bad.set, err, bad.want)
		}
	}
}

// TestSpecFromShippedConfigs: the demo's task configs are exportable.
func TestSpecFromShippedConfigs(t *testing.T) {
	for file, want := range map[string]Task{"vqa.yaml": TaskVQA, "ground.yaml": TaskRefCOCO, "vcr.yaml": TaskVCR} {
		c, err := config.Load(filepath.Join(repoRoot, "configs", "synth", file), "")
		if err != nil {
			t.Fatal(err)
		}
		s, err := SpecFromConfig(c)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if s.Task != want || s.E2E != nil || want == TaskVCR && !s.Pooler {
			t.Errorf("%s: spec %+v", file, s)
		}
	}
}
