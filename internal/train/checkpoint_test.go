package train

import (
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// TestCheckpointRoundTrip: save mid-accumulation, load into a fresh trainer,
// and both continue bit-identically (AdamW and SGD momentum, warmup-step
// schedule), on the golden VQA model and batch.
func TestCheckpointRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, opt, sched string }{
		{"adamw-triangle", "AdamW", "triangle"},
		{"sgd-step", "SGD", "step"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newTrainer := func() *Trainer {
				cfg := loadGoldenConfig(t, "vqa_small.yaml")
				if err := cfg.SetAll([]string{"TRAIN.OPTIMIZER=" + tc.opt, "TRAIN.LR_SCHEDULE=" + tc.sched, "TRAIN.LR_STEP=1,2",
					"TRAIN.MOMENTUM=0.9", "TRAIN.GRAD_ACCUMULATE_STEPS=2"}); err != nil {
					t.Fatal(err)
				}
				m := newGoldenModel(t, cfg, "vqa_ckpt_zip.model")
				tr, err := NewTrainer(cfg, &vqaTask{cfg: cfg}, m, 4)
				if err != nil {
					t.Fatal(err)
				}
				return tr
			}
			b := goldenVQABatch(t)
			step := func(tr *Trainer) StepResult {
				res, err := tr.Step(b, NewMetrics(tr.Task.MetricNames()))
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			a := newTrainer()
			for i := 0; i < 3; i++ { // two updates; the third batch is pending
				step(a)
			}
			if !a.State.Pending || a.State.Updates != 1 {
				t.Fatalf("state %+v: want 1 update and a pending batch", a.State)
			}
			path := filepath.Join(t.TempDir(), "x.safetensors")
			if err := a.SaveCheckpoint(path); err != nil {
				t.Fatal(err)
			}
			c := newTrainer()
			if err := c.loadOwnCheckpoint(path); err != nil {
				t.Fatal(err)
			}
			if err := c.resetSchedule(); err != nil {
				t.Fatal(err)
			}
			if c.State != a.State {
				t.Fatalf("loaded state %+v, saved %+v", c.State, a.State)
			}
			for i := 0; i < 3; i++ {
				ra, rc := step(a), step(c)
				if !slices.Equal(ra.LR, rc.LR) || ra.Loss != rc.Loss {
					t.Fatalf("step %d: lr %v / %v, loss %v / %v", i, ra.LR, rc.LR, ra.Loss, rc.Loss)
				}
			}
			pa, pc := a.Model.Params.Data, c.Model.Params.Data
			if !slices.EqualFunc(pa, pc, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) {
				t.Error("parameters differ after continuing from the checkpoint")
			}
		})
	}
}
