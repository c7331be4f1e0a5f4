package train

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/weights"
)

// TestE2ETrainBN: NETWORK.IMAGE_FROZEN_BN false trains (BatchNorm in training
// mode, as the original's nn.BatchNorm2d under train()): two batches straight
// and one + stop + resume + one give bit-identical checkpoints, which hold
// every BN's running statistics and num_batches_tracked under the original
// keys; the counters count the training forwards (a validation in between,
// in eval mode, adds none); frozen stages (1, 2) keep their BN weights but
// their running statistics move; trainable stages' BN weights move; the
// checkpoint then predicts.
func TestE2ETrainBN(t *testing.T) {
	over := []string{"TRAIN.END_EPOCH=1", "NETWORK.IMAGE_FROZEN_BN=false", "NETWORK.IMAGE_FROZEN_BACKBONE_STAGES=[1, 2]"}
	initDir, straightDir, resumedDir := t.TempDir(), t.TempDir(), t.TempDir()
	cfg0 := tinyE2E(t, "ground", initDir, over...)
	task0, m0, _ := e2eSetup(t, cfg0)
	before := map[string][]float32{}
	for _, q := range m0.Base().Params.List {
		before[q.Name] = slices.Clone(m0.Base().Params.Data[q.Offset : q.Offset+q.Size])
	}
	if e2eOf(task0).cnn.net.Params.Get("backbone.layer2.0.bn1.weight").Trainable != true {
		t.Fatal("layer2 BN weight is not trainable with IMAGE_FROZEN_BN false")
	}
	if e2eOf(task0).cnn.net.Params.Get("backbone.layer1.0.bn1.weight").Trainable {
		t.Fatal("frozen stage 2 (layer1) BN weight is trainable")
	}

	straight := run(t, context.Background(), tinyE2E(t, "ground", straightDir, over...), Options{StopAfter: 2, ValEvery: 1})
	first := run(t, context.Background(), tinyE2E(t, "ground", resumedDir, over...), Options{StopAfter: 1})
	if !first.Interrupted || first.State.Global != 1 {
		t.Fatalf("first half stopped at %+v", first.State)
	}
	resumed := run(t, context.Background(), tinyE2E(t, "ground", resumedDir, over...), Options{Resume: true, StopAfter: 2})
	sameCheckpoint(t, straight.Checkpoint, resumed.Checkpoint)

	tensors, _, err := weights.ReadSafetensors(straight.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"backbone.bn1", "backbone.layer1.0.bn1", "backbone.layer3.0.downsample.1", "roi_head_feature_extractor.0.bn3"} {
		c := tensors["image_feature_extractor."+k+".num_batches_tracked"]
		if c == nil || len(c.I64) != 1 || c.I64[0] != 2 {
			t.Errorf("%s.num_batches_tracked = %+v, want 2 (two training forwards)", k, c)
		}
	}
	changed := func(name string) bool {
		return !slices.Equal(before[name], tensors[name].F32)
	}
	for _, k := range []string{"backbone.bn1.running_mean", "backbone.layer1.0.bn2.running_var", "backbone.layer3.0.bn3.running_mean", "roi_head_feature_extractor.0.bn1.running_var"} {
		if !changed("image_feature_extractor." + k) {
			t.Errorf("%s did not move in training mode", k)
		}
	}
	for _, k := range []string{"backbone.bn1.weight", "backbone.layer1.0.bn1.bias"} {
		if changed("image_feature_extractor." + k) {
			t.Errorf("frozen stage's %s changed", k)
		}
	}
	moved := false
	for k := range tensors {
		if rest, ok := strings.CutPrefix(k, "image_feature_extractor."); ok && (strings.HasPrefix(rest, "backbone.layer2.") || strings.HasPrefix(rest, "roi_head")) &&
			(strings.Contains(rest, ".bn") || strings.Contains(rest, ".downsample.1.")) && strings.HasSuffix(rest, ".weight") && changed(k) {
			moved = true
		}
	}
	if !moved {
		t.Error("no BN weight of a trainable stage moved")
	}

	cfg := tinyE2E(t, "ground", t.TempDir(), over...)
	files, err := Predict(context.Background(), cfg, cfgName, straight.Checkpoint, "val", t.TempDir(), InferenceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("Predict wrote nothing")
	}
}
