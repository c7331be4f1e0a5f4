package model

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
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
