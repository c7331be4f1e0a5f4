package train

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/model"
)

// poisonFeatures turns every feature value into NaN once on is set.
type poisonFeatures struct {
	features.Reader
	on *atomic.Bool
}

func (p poisonFeatures) ReadFile(path string) ([]byte, error) {
	b, err := p.Reader.ReadFile(path)
	if err != nil || !p.on.Load() {
		return b, err
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(rec["features"].(string))
	if err != nil {
		return nil, err
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		binary.LittleEndian.PutUint32(raw[i:], math.Float32bits(float32(math.NaN())))
	}
	rec["features"] = base64.StdEncoding.EncodeToString(raw)
	return json.Marshal(rec)
}

// TestNaNLossStops: a NaN loss stops the run with a message naming the last
// good checkpoint, which stays intact and resumable.
func TestNaNLossStops(t *testing.T) {
	old := wrapFeatures
	defer func() { wrapFeatures = old }()
	var on atomic.Bool
	wrapFeatures = func(r features.Reader) features.Reader { return poisonFeatures{old(r), &on} }
	cfg := tinyConfig(t, "vqa", worldDir, t.TempDir())
	_, err := Run(context.Background(), cfg, Options{CfgPath: cfgName, CheckpointEvery: 1, OnBatch: func(s State) {
		if s.Global == 3 {
			on.Store(true) // batches loaded from now on see NaN features
		}
	}})
	if err == nil {
		t.Fatal("a run on NaN features succeeded")
	}
	msg := err.Error()
	latest := latestCheckpoint(cfg.ModelPrefixPath("", cfgName))
	if !strings.Contains(msg, "loss is NaN") || !strings.Contains(msg, "last good checkpoint is "+latest) {
		t.Fatalf("error %q: want the NaN loss and the last good checkpoint %s", msg, latest)
	}
	s, err := readState(latest)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := ckptTensors(t, latest)
	for k, v := range ts {
		if slices.ContainsFunc(v.F32, func(x float32) bool { return math.IsNaN(float64(x)) }) {
			t.Fatalf("checkpoint tensor %s holds NaN", k)
		}
	}
	if s.Global < 3 {
		t.Errorf("the last good checkpoint is at batch %d, want >= 3", s.Global)
	}
	t.Logf("%v (checkpoint at batch %d)", msg, s.Global)
}

// TestPartialPretrain loads an original pretraining checkpoint into the VQA
// model with the VQA config's prefix changes: the encoder and the MLM
// transform (as final_mlp.0) come from the file, the answer classifier keeps
// its initialisation, and the pretraining heads are reported unmatched.
func TestPartialPretrain(t *testing.T) {
	vqaCfg := loadGoldenConfig(t, "vqa_small.yaml")
	mc, err := model.FromConfig(vqaCfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	m.Base().InitWeights(3)
	cls := slices.Clone(m.Base().Params.View("final_mlp.2.weight"))
	rep, err := LoadPartial(m.Base(), goldenDir+"pretrain_ckpt_zip.model", vqaCfg.Network.PartialPretrainPrefixChanges)
	if err != nil {
		t.Fatal(err)
	}
	pt := newGoldenModel(t, loadGoldenConfig(t, "pretrain_small.yaml"), "pretrain_ckpt_zip.model")
	for from, to := range map[string]string{
		"vlbert.mlm_head.predictions.transform.dense.weight": "final_mlp.0.dense.weight",
		"vlbert.encoder.layer.1.output.dense.bias":           "vlbert.encoder.layer.1.output.dense.bias",
		"vlbert.word_embeddings.weight":                      "vlbert.word_embeddings.weight",
	} {
		if !slices.Equal(pt.Base().Params.View(from), m.Base().Params.View(to)) {
			t.Errorf("%s was not loaded from %s", to, from)
		}
	}
	if !slices.Equal(cls, m.Base().Params.View("final_mlp.2.weight")) {
		t.Error("final_mlp.2.weight changed; it is not in the pretraining checkpoint")
	}
	if !slices.Contains(rep.Missing, "final_mlp.2.weight") {
		t.Errorf("missing keys %v lack final_mlp.2.weight", rep.Missing)
	}
	if !slices.ContainsFunc(rep.Unexpected, func(k string) bool { return strings.Contains(k, "mvrc_head") }) {
		t.Errorf("unmatched keys %v lack the MVRC head", rep.Unexpected)
	}
	t.Logf("loaded %d, missing %v, unmatched %d", len(rep.Loaded), rep.Missing, len(rep.Unexpected))
}
