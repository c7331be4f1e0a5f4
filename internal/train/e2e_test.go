package train

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
)

// The e2e tests shrink the ResNet: one bottleneck per stage, one head block
// and a 2x2 RoIAlign (the width stays 64: the model takes 2048-d features).
// Images are the tiny world's 64x64 PNGs at SCALES (64, 64), no resize.
func init() {
	visualConfigHook = func(c *visual.Config) {
		c.Blocks, c.HeadBlocks = [3]int{1, 1, 1}, 1
		c.RoIAlign.PooledH, c.RoIAlign.PooledW = 2, 2
	}
}

// tinyE2E is tinyConfig for the e2e version of a synth config.
func tinyE2E(t testing.TB, name, out string, overrides ...string) *config.Config {
	t.Helper()
	sets := []string{"NETWORK.IMAGE_FEAT_PRECOMPUTED=false", "SCALES=[64, 64]"}
	switch name {
	case "vcr": // 2x2 masks for the 2x2 head output
		sets = append(sets, "DATASET.DATASET_PATH="+filepath.Join(worldDir, synth.Layout.VCR), "DATASET.MASK_SIZE=2", "TRAIN.LR=2.5e-4")
	case "pretrain": // batches of [4, 4] already
		sets = append(sets, "NETWORK.MASK_RAW_PIXELS=true")
	}
	if name != "pretrain" {
		sets = append(sets, "TRAIN.BATCH_IMAGES=4", "VAL.BATCH_IMAGES=4", "TEST.BATCH_IMAGES=4")
	}
	return tinyConfig(t, name, worldDir, out, append(sets, overrides...)...)
}

// e2eSetup builds the task, model and first training batch of cfg.
func e2eSetup(t testing.TB, cfg *config.Config) (Task, *model.Model, Batch) {
	t.Helper()
	task, err := NewTask(cfg, "train", "val")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Close() })
	m, err := buildModel(cfg, task, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := task.Sampler("train")
	if err != nil {
		t.Fatal(err)
	}
	batches, err := s.Batches(0)
	if err != nil {
		t.Fatal(err)
	}
	ld := task.Load(context.Background(), "train", batches[:1], 0, 0, 0)
	defer ld.Close()
	b, err := ld.Next()
	if err != nil {
		t.Fatal(err)
	}
	return task, m, b
}

// e2eLoss runs one forward (dropout off) and returns the loss.
func e2eLoss(t testing.TB, task Task, m *model.Model, b Batch) float64 {
	t.Helper()
	m.Train = false
	loss, _, err := task.Forward(m, b, NewMetrics(task.MetricNames()))
	if err != nil {
		t.Fatal(err)
	}
	return float64(loss)
}

// TestE2EGradCheck: the gradient of the loss with respect to trainable CNN
// weights, through the whole task path (images → backbone → RoIAlign → head
// → features → VL-BERT → loss and back), matches central differences along
// a random direction; frozen stages get no gradient.
func TestE2EGradCheck(t *testing.T) {
	for _, name := range []string{"ground", "vcr", "pretrain"} {
		t.Run(name, func(t *testing.T) {
			// Visual LayerNorm gammas start at 0 in the configs, which would cut the
			// features off the loss at initialisation.
			// VCR's softmax over four choices cancels the common part of
			// the feature gradient; wider initial weights make the choices
			// see the regions differently.
			cfg := tinyE2E(t, name, t.TempDir(), "NETWORK.VLBERT.visual_scale_text_init=1", "NETWORK.VLBERT.visual_scale_object_init=1",
				"NETWORK.VLBERT.initializer_range=0.2")
			task, m, b := e2eSetup(t, cfg)
			// Move the task head off its symmetric start (VCR's four
			// logits start equal, a stationary point for the CNN).
			rng := rand.New(rand.NewPCG(3, 4))
			for _, q := range m.Params.List {
				if strings.HasPrefix(q.Name, "final_mlp.") && strings.HasSuffix(q.Name, ".weight") {
					for i := range m.Params.Data[q.Offset : q.Offset+q.Size] {
						m.Params.Data[q.Offset+i] += float32(0.2 * rng.NormFloat64())
					}
				}
			}
			t0 := time.Now()
			e2eLoss(t, task, m, b)
			t1 := time.Now()
			m.ZeroGrad()
			task.Backward(m, 1)
			t.Logf("forward %v backward %v", t1.Sub(t0), time.Since(t1))
			grad := append([]float32(nil), m.Params.Grad...)
			// The first trainable stage, a middle one and the head, spread
			// over the tasks to keep the test short.
			checked := map[string][]string{
				"ground":   {"backbone.layer2.0.conv2.weight", "roi_head_feature_extractor.0.conv1.weight"},
				"vcr":      {"backbone.layer3.0.downsample.0.weight"},
				"pretrain": {"backbone.layer2.0.conv1.weight"},
			}[name]
			for _, name := range checked {
				name = cnnKeyPrefix + name
				q, _ := m.Params.Lookup(name)
				w := m.Params.Data[q.Offset : q.Offset+q.Size]
				g := grad[q.Offset : q.Offset+q.Size]
				rng := rand.New(rand.NewPCG(1, uint64(q.Offset)))
				// The direction leans on the gradient itself (the largest
				// slope, well above float32 noise) plus a random part.
				var gss float64
				for _, v := range g {
					gss += float64(v) * float64(v)
				}
				grms := math.Sqrt(gss / float64(len(g)))
				if grms == 0 {
					t.Fatalf("%s has no gradient", name)
				}
				dir := make([]float64, len(w))
				var analytic float64
				for i := range dir {
					dir[i] = float64(g[i])/grms + 0.5*rng.NormFloat64()
					analytic += dir[i] * float64(g[i])
				}
				// A step that changes the loss by about 5e-4: far above the
				// float32 noise of the loss, small against its curvature.
				eps := 5e-4 / math.Abs(analytic)
				orig := append([]float32(nil), w...)
				at := func(s float64) float64 {
					for i := range w {
						w[i] = orig[i] + float32(s*eps*dir[i])
					}
					return e2eLoss(t, task, m, b)
				}
				// Least-squares slope over ±1 and ±2 steps: float32 rounding
				// in a forward this deep is noise of ~1e-6 of the loss.
				var num, den float64
				for _, f := range []float64{1, 2} {
					num += f * (at(f) - at(-f))
					den += 2 * f * f
				}
				numeric := num / den / eps
				copy(w, orig)
				t.Logf("%s: analytic %.6g numeric %.6g", name, analytic, numeric)
				if math.Abs(analytic-numeric) > 0.03*math.Abs(analytic) {
					t.Errorf("%s: analytic %.6g, central difference %.6g", name, analytic, numeric)
				}
			}
			for _, q := range m.Params.List {
				frozen := strings.Contains(q.Name, "backbone.conv1.") || strings.Contains(q.Name, "backbone.layer1.") ||
					strings.Contains(q.Name, ".bn") || strings.Contains(q.Name, "downsample.1.")
				if !frozen || strings.Contains(q.Name, "obj_downsample") {
					continue
				}
				for _, v := range grad[q.Offset : q.Offset+q.Size] {
					if v != 0 {
						t.Fatalf("frozen %s has a gradient", q.Name)
					}
				}
			}
		})
	}
}
