package infer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/infer/infertest"
)

// TestFeatDimPipeline serves a checkpoint of 64-d region features
// (NETWORK.IMAGE_FEAT_DIM 64, stored in its config): 64-d records answer,
// 2048-d ones fail naming the widths and the key, and a 2048-d config given
// for the checkpoint fails naming the width the checkpoint implies.
func TestFeatDimPipeline(t *testing.T) {
	dir := t.TempDir()
	ck, err := infertest.WriteVQAFeatDim(dir, 7, 64)
	if err != nil {
		t.Fatal(err)
	}
	p, err := infer.Load(infer.Options{Checkpoint: ck})
	if err != nil {
		t.Fatal(err)
	}
	if p.FeatureDim() != 64 {
		t.Fatalf("FeatureDim %d, want 64", p.FeatureDim())
	}
	r, err := p.ParseFeatures("r64", infertest.RandomRecord(1, 3, 80, 60, 64))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.VQA(context.Background(), "what is it?", r, 3)
	if err != nil || len(res.Answers) != 3 {
		t.Fatalf("VQA on 64-d features: %v, %v", res, err)
	}
	_, err = p.ParseFeatures("r2048", infertest.RandomRecord(1, 3, 80, 60, 2048))
	if err == nil {
		t.Fatal("2048-d record accepted by a 64-d model")
	}
	for _, s := range []string{"r2048", "2048-d", "64-d", "NETWORK.IMAGE_FEAT_DIM"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	// Regions built elsewhere (RegionsFromRecord) are checked when used.
	rec2048, _ := p.ParseFeatures("r", infertest.RandomRecord(1, 3, 80, 60, 64))
	rec2048.Features = make([]float32, 3*2048)
	if _, err := p.VQA(context.Background(), "what?", rec2048, 1); err == nil || !strings.Contains(err.Error(), "IMAGE_FEAT_DIM") {
		t.Errorf("2048-d regions: %v", err)
	}

	data, err := infertest.Config(config.TaskVQA, len(infertest.Answers())).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	yaml := filepath.Join(dir, "vqa2048.yaml")
	if err := os.WriteFile(yaml, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = infer.Load(infer.Options{Checkpoint: ck, Config: yaml})
	if err == nil || !strings.Contains(err.Error(), "NETWORK.IMAGE_FEAT_DIM=64") {
		t.Errorf("64-d checkpoint with a 2048-d config: %v", err)
	}
}
