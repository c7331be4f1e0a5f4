package train

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/weights"
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

// TestFindResume picks the checkpoint with the most batches done: ours
// (any name) or an original {prefix}-NNNN.model (epoch NNNN done), ours on
// a tie; other files are ignored.
func TestFindResume(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "vl-bert")
	ours := func(name string, global int) {
		s, _ := json.Marshal(State{Global: global})
		err := weights.WriteSafetensors(filepath.Join(dir, name), map[string]*weights.Tensor{"x": weights.NewF32([]float32{1}, 1)},
			map[string]string{"format": ckptFormat, "version": ckptVersion, "trainer": string(s)})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Originals must read completely to be chosen (findResume verifies).
	golden, err := os.ReadFile(goldenDir + "vqa_ckpt_zip.model")
	if err != nil {
		t.Fatal(err)
	}
	touch := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), golden, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := findResume(prefix, 10); err != nil || c.path != "" {
		t.Fatalf("empty directory: %+v, %v", c, err)
	}
	touch("vl-bert-0001.model") // 20 batches
	ours("vl-bert-0000.safetensors", 10)
	touch("other-0005.model")
	touch("vl-bert-best.model")
	c, err := findResume(prefix, 10)
	if err != nil || !c.torch || c.epoch != 1 || c.global != 20 {
		t.Fatalf("want the original epoch-1 checkpoint, got %+v, %v", c, err)
	}
	ours("vl-bert-latest.safetensors", 20)
	if c, _ := findResume(prefix, 10); c.torch || filepath.Base(c.path) != "vl-bert-latest.safetensors" {
		t.Fatalf("tie: want ours, got %+v", c)
	}
	ours("vl-bert-best.safetensors", 99) // never a resume point
	ours("vl-bert-0002.safetensors", 30)
	if c, _ := findResume(prefix, 10); filepath.Base(c.path) != "vl-bert-0002.safetensors" {
		t.Fatalf("want the epoch-2 checkpoint, got %+v", c)
	}
}

// TestPlateauSchedule: the plateau schedule keeps the base lr per update
// and lowers it after more than one epoch without improvement.
func TestPlateauSchedule(t *testing.T) {
	cfg := loadGoldenConfig(t, "vqa_small.yaml")
	if err := cfg.SetAll([]string{"TRAIN.LR_SCHEDULE=plateau", "TRAIN.LR_FACTOR=0.1"}); err != nil {
		t.Fatal(err)
	}
	m := newGoldenModel(t, cfg, "vqa_ckpt_zip.model")
	tr, err := NewTrainer(cfg, &vqaTask{cfg: cfg}, m, 1)
	if err != nil {
		t.Fatal(err)
	}
	base := cfg.Train.BaseLR(1)
	res, err := stepNoDropout(tr, goldenVQABatch(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.LR[0] != base {
		t.Errorf("plateau lr %v, want the base lr %v", res.LR[0], base)
	}
	for _, v := range []float64{0.5, 0.5, 0.5} {
		tr.plateau.Step(v, tr.Opt.Groups())
	}
	if lr := tr.Opt.Groups()[0].LR; math.Abs(lr-base*0.1) > 1e-18 {
		t.Errorf("lr after two epochs without improvement %v, want %v", lr, base*0.1)
	}
}
