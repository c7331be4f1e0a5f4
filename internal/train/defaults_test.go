package train

import (
	"context"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/synth"
)

// TestDefaultsOnlyConfigs: a config that sets only MODULE, the data set and its
// paths, everything else at the original's function/config.py defaults (e2e
// ResNet-50 from random weights, VL-BERT 4×512, CLASSIFIER_TYPE 2fc, visual_ln
// false, ENABLE_CNN_REG_LOSS...), loads and trains a step. VQA's defaults fail in
// the original (e2e with ENABLE_CNN_REG_LOSS and no box classes) and are refused
// with that reason. SCALES is set too: its default () makes the original's
// build_transforms fail (SCALES[0], IndexError); small images keep the step short.
// VCR sets IMAGE_C5_DILATED as well: with the default (false) the original
// multiplies the 7×7 RoI head output by the 14×14 DATASET.MASK_SIZE masks and fails.
func TestDefaultsOnlyConfigs(t *testing.T) {
	vcrDir := filepath.Join(worldDir, synth.Layout.VCR)
	hook := visualConfigHook // the default network, not the tests' shrunk one
	visualConfigHook = nil
	defer func() { visualConfigHook = hook }()
	for _, tc := range []struct {
		name, yml string
		task      config.Task
		want      string // refusal, or "" to train
	}{
		{"vcr", "MODULE: ResNetVLBERT\nOUTPUT_PATH: OUTDIR\nSCALES: [64, 100]\nNETWORK:\n  IMAGE_C5_DILATED: true\nDATASET:\n  DATASET: vcr\n  DATASET_PATH: " + vcrDir + "\n  ROOT_PATH: ./\n  TRAIN_IMAGE_SET: vcr1images\n  VAL_IMAGE_SET: vcr1images\n  TRAIN_ANNOTATION_FILE: train.jsonl\n  VAL_ANNOTATION_FILE: val.jsonl\n  TASK: Q2A\n", config.TaskVCR, ""},
		{"vqa", "MODULE: ResNetVLBERT\nOUTPUT_PATH: OUTDIR\nDATASET:\n  DATASET: vqa\n  DATASET_PATH: " + worldDir + "\n  ROOT_PATH: ./\n", config.TaskVQA, "ENABLE_CNN_REG_LOSS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := strings.ReplaceAll(tc.yml, "OUTDIR", t.TempDir())
			cfg, err := config.Parse([]byte(yml), tc.name+".yaml", tc.task)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Train.BatchImages = config.IntOrList{Values: []int{1}} // one sample: the default ResNet-50 step is slow on a CPU
			task, err := NewTask(cfg, "train")
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer task.Close()
			m, err := buildModel(cfg, task, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(cfg, task, m, 1)
			if err != nil {
				t.Fatal(err)
			}
			ld := task.Load(context.Background(), "train", [][]int{{0}}, 0, 0, 0)
			b, err := ld.Next()
			ld.Close()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r, err := tr.Step(b, NewMetrics(task.MetricNames()))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: one step at the defaults in %v, loss %g", tc.name, time.Since(start), r.Loss)
			if math.IsNaN(r.Loss) || r.Loss <= 0 {
				t.Errorf("loss %g", r.Loss)
			}
		})
	}
}
