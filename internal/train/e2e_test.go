package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/refcoco"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/vcr"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
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
	case "ground": // the original layout: e2e RefCOCO+ reads COCO images and proposals
		sets = append(sets, "DATASET.DATASET_PATH="+refcocoE2EDir)
	case "pretrain": // batches of [4, 4] already
		sets = append(sets, "NETWORK.MASK_RAW_PIXELS=true")
	}
	if name != "pretrain" {
		sets = append(sets, "TRAIN.BATCH_IMAGES=4", "VAL.BATCH_IMAGES=4", "TEST.BATCH_IMAGES=4")
	}
	return tinyConfig(t, name, worldDir, out, append(sets, overrides...)...)
}

// e2eSetup builds the task, model and first training batch of cfg.
func e2eSetup(t testing.TB, cfg *config.Config) (Task, model.Module, Batch) {
	t.Helper()
	task := mustTask(t, cfg, "train", "val")
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
func e2eLoss(t testing.TB, task Task, m model.Module, b Batch) float64 {
	t.Helper()
	m.Base().Train = false
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
	for _, name := range []string{"ground", "vcr", "pretrain", "vqa"} {
		t.Run(name, func(t *testing.T) {
			// Visual LayerNorm gammas start at 0 in the configs, which would cut the
			// features off the loss at initialisation.
			// VCR's softmax over four choices cancels the common part of
			// the feature gradient; wider initial weights make the choices
			// see the regions differently.
			extra := []string{"NETWORK.VLBERT.visual_scale_text_init=1", "NETWORK.VLBERT.visual_scale_object_init=1", "NETWORK.VLBERT.initializer_range=0.2"}
			if name == "vqa" {
				extra = append(extra, "DATASET.DATASET_PATH="+e2eVQAWorld(t))
			}
			cfg := tinyE2E(t, name, t.TempDir(), extra...)
			task, m, b := e2eSetup(t, cfg)
			// Move the task head off its symmetric start (VCR's four
			// logits start equal, a stationary point for the CNN).
			rng := rand.New(rand.NewPCG(3, 4))
			for _, q := range m.Base().Params.List {
				if strings.HasPrefix(q.Name, "final_mlp.") && strings.HasSuffix(q.Name, ".weight") {
					for i := range m.Base().Params.Data[q.Offset : q.Offset+q.Size] {
						m.Base().Params.Data[q.Offset+i] += float32(0.2 * rng.NormFloat64())
					}
				}
			}
			t0 := time.Now()
			e2eLoss(t, task, m, b)
			t1 := time.Now()
			m.Base().ZeroGrad()
			task.Backward(m, 1)
			t.Logf("forward %v backward %v", t1.Sub(t0), time.Since(t1))
			grad := append([]float32(nil), m.Base().Params.Grad...)
			// The first trainable stage, a middle one and the head, spread
			// over the tasks to keep the test short.
			checked := map[string][]string{
				"ground":   {"backbone.layer2.0.conv2.weight", "roi_head_feature_extractor.0.conv1.weight"},
				"vcr":      {"backbone.layer3.0.downsample.0.weight"},
				"pretrain": {"backbone.layer2.0.conv1.weight"},
				"vqa":      {"roi_head_feature_extractor.0.conv2.weight"},
			}[name]
			for _, name := range checked {
				name = cnnKeyPrefix + name
				q, _ := m.Base().Params.Lookup(name)
				w := m.Base().Params.Data[q.Offset : q.Offset+q.Size]
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
				numeric := (at(1) - at(-1)) / (2 * eps)
				copy(w, orig)
				t.Logf("%s: analytic %.6g numeric %.6g", name, analytic, numeric)
				if math.Abs(analytic-numeric) > 0.02*math.Abs(analytic) {
					t.Errorf("%s: analytic %.6g, central difference %.6g", name, analytic, numeric)
				}
			}
			for _, q := range m.Base().Params.List {
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

// TestE2ELearnsAndFreezes trains the tiny e2e RefCOCO+ model on one fixed
// batch of generated images: the loss must fall clearly, the trainable CNN
// stages must move, and the frozen ones (conv1/bn1, layer1, every
// BatchNorm tensor) must stay bit-identical.
func TestE2ELearnsAndFreezes(t *testing.T) {
	cfg := tinyE2E(t, "ground", t.TempDir(), "TRAIN.BATCH_IMAGES=2", "TRAIN.LR=1e-3", "TRAIN.WARMUP=false",
		"NETWORK.VLBERT.visual_scale_text_init=1", "NETWORK.VLBERT.visual_scale_object_init=1")
	task, m, b := e2eSetup(t, cfg)
	const steps = 10
	tr, err := NewTrainer(cfg, task, m, steps)
	if err != nil {
		t.Fatal(err)
	}
	before := append([]float32(nil), m.Base().Params.Data...)
	var losses []float64
	var stepTime time.Duration
	for k := range steps {
		t0 := time.Now()
		r, err := tr.Step(b, NewMetrics(task.MetricNames()))
		if err != nil {
			t.Fatal(err)
		}
		if k > 0 {
			stepTime += time.Since(t0)
		}
		losses = append(losses, r.Loss)
	}
	t.Logf("losses %.4f; %v per step (2 images 64x64, %d boxes)", losses, stepTime/(steps-1), len(e2eOf(task).cnn.slots))
	if last := mean(losses[steps-3:]); !(last < 0.7*losses[0]) {
		t.Errorf("loss %.4f -> %.4f: did not fall by 30%%", losses[0], last)
	}
	moved := map[string]bool{}
	for _, q := range m.Base().Params.List {
		if !strings.HasPrefix(q.Name, cnnKeyPrefix) || strings.Contains(q.Name, "obj_downsample") {
			continue
		}
		changed := !slices.Equal(before[q.Offset:q.Offset+q.Size], m.Base().Params.Data[q.Offset:q.Offset+q.Size])
		rest := strings.TrimPrefix(q.Name, cnnKeyPrefix)
		frozen := strings.HasPrefix(rest, "backbone.conv1.") || strings.HasPrefix(rest, "backbone.bn1.") ||
			strings.HasPrefix(rest, "backbone.layer1.") || strings.Contains(rest, ".bn") || strings.Contains(rest, ".downsample.1.")
		switch {
		case frozen && changed:
			t.Errorf("frozen %s changed", q.Name)
		case !frozen:
			stage := strings.SplitN(rest, ".", 3)[1]
			moved[stage] = moved[stage] || changed
		}
	}
	for _, stage := range []string{"layer2", "layer3", "0"} {
		if !moved[stage] {
			t.Errorf("no weight of trainable stage %q moved (seen %v)", stage, moved)
		}
	}
}

// TestE2ERunResumeEvaluate runs the e2e RefCOCO+ config through Run: two
// batches straight (with a validation in between) and one + stop + resume +
// one give bit-identical
// checkpoints, which hold the CNN's weights and optimizer moments under the
// original keys; Evaluate and Predict then run the same CNN path from the
// checkpoint alone.
func TestE2ERunResumeEvaluate(t *testing.T) {
	over := []string{"TRAIN.END_EPOCH=1"}
	straightDir, resumedDir := t.TempDir(), t.TempDir()
	// The straight run validates after its first batch (the CNN in
	// forward-only mode) and goes on training: that must not change a bit.
	straight := run(t, context.Background(), tinyE2E(t, "ground", straightDir, over...), Options{StopAfter: 2, ValEvery: 1})
	first := run(t, context.Background(), tinyE2E(t, "ground", resumedDir, over...), Options{StopAfter: 1})
	if !first.Interrupted || first.State.Global != 1 {
		t.Fatalf("first half stopped at %+v", first.State)
	}
	resumed := run(t, context.Background(), tinyE2E(t, "ground", resumedDir, over...), Options{Resume: true, StopAfter: 2})
	if resumed.State.Global != 2 || straight.State.Global != 2 {
		t.Fatalf("runs ended at %d and %d batches, want 2", resumed.State.Global, straight.State.Global)
	}
	sameCheckpoint(t, straight.Checkpoint, resumed.Checkpoint)
	if n := valRecordsAt(t, straight.OutputDir, 1); n != 1 {
		t.Errorf("%d validation records after batch 1, want 1", n)
	}

	tensors, _, err := weights.ReadSafetensors(straight.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{
		"image_feature_extractor.backbone.conv1.weight",
		"image_feature_extractor.backbone.layer1.0.bn1.running_var",
		"image_feature_extractor.roi_head_feature_extractor.0.conv2.weight",
		"optimizer.exp_avg.image_feature_extractor.backbone.layer3.0.conv2.weight",
	} {
		if tensors[k] == nil {
			t.Errorf("checkpoint lacks %s", k)
		}
	}
	// `vlbert features --ckpt` reads the CNN out of such a checkpoint.
	vc := visual.ResNet101C4()
	visualConfigHook(&vc)
	net := visual.NewNetwork(vc)
	vsd := map[string]visual.Tensor{}
	for k, v := range tensors {
		if !strings.HasPrefix(k, "optimizer.") && v.F32 != nil {
			vsd[k] = visual.Tensor{Shape: v.Shape, F32: v.F32}
		}
	}
	if missing, err := net.LoadStateDict(vsd); err != nil || len(missing) > 0 {
		t.Errorf("visual network from the e2e checkpoint: missing %v, %v", missing, err)
	}
	if m := tensors["optimizer.exp_avg.image_feature_extractor.roi_head_feature_extractor.0.conv2.weight"]; m == nil || !slices.ContainsFunc(m.F32, func(v float32) bool { return v != 0 }) {
		t.Errorf("the head's AdamW moment is missing or zero after two updates")
	}

	cfg := tinyE2E(t, "ground", t.TempDir(), over...)
	val, names, err := Evaluate(context.Background(), cfg, straight.Checkpoint, "val", InferenceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := val["RefAcc"]; !ok || !slices.Contains(names, "RefAcc") {
		t.Errorf("Evaluate gave %v (%v)", val, names)
	}
	out := t.TempDir()
	files, err := Predict(context.Background(), cfg, cfgName, straight.Checkpoint, "val", out, InferenceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("Predict wrote nothing")
	}
	// The precomputed model cannot read an e2e checkpoint strictly: the CNN
	// keys are unexpected.
	pm, err := newModel(tinyConfig(t, "ground", worldDir, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := loadParams(pm.Base(), tensors, straight.Checkpoint); err == nil || !strings.Contains(err.Error(), "image_feature_extractor.backbone") {
		t.Errorf("precomputed model loading an e2e checkpoint: %v", err)
	}
}

// TestE2EZeroGradientStillSteps: with the configs' visual LayerNorm gammas
// at 0 the CNN's first gradient is exactly zero, but PyTorch still holds a
// (zero) p.grad for its trainable parameters: AdamW counts the step and
// decays them. Frozen ones are never stepped.
func TestE2EZeroGradientStillSteps(t *testing.T) {
	// A decay large enough to show in float32.
	cfg := tinyE2E(t, "ground", t.TempDir(), "TRAIN.BATCH_IMAGES=2", "TRAIN.LR=1e-2", "TRAIN.WD=0.1")
	task, m, b := e2eSetup(t, cfg)
	tr, err := NewTrainer(cfg, task, m, 4)
	if err != nil {
		t.Fatal(err)
	}
	head := cnnKeyPrefix + "roi_head_feature_extractor.0.conv1.weight"
	frozen := cnnKeyPrefix + "backbone.layer1.0.conv1.weight"
	hq, _ := m.Base().Params.Lookup(head)
	before := append([]float32(nil), m.Base().Params.View(head)...)
	if _, err := tr.Step(b, NewMetrics(task.MetricNames())); err != nil {
		t.Fatal(err)
	}
	if g := m.Base().Params.GradView(head); slices.ContainsFunc(g, func(v float32) bool { return v != 0 }) {
		t.Fatal("expected an all-zero CNN gradient with visual_scale_object_init 0 (the gradient is cleared after the update anyway)")
	}
	steps := tr.Opt.State().Steps
	for i, q := range m.Base().Params.List {
		switch q.Name {
		case head:
			if steps[i] != 1 {
				t.Errorf("%s: %d optimizer steps, want 1", head, steps[i])
			}
		case frozen:
			if steps[i] != 0 {
				t.Errorf("%s: %d optimizer steps, want 0", frozen, steps[i])
			}
		}
	}
	if slices.Equal(before, m.Base().Params.Data[hq.Offset:hq.Offset+hq.Size]) {
		t.Errorf("%s not decayed by the first update", head)
	}
}

// innerTask returns the task an e2e wrapper wraps.
func innerTask(t testing.TB, cfg *config.Config, splits ...string) Task {
	t.Helper()
	task := mustTask(t, cfg, splits...)
	e := e2eOf(task)
	if e == nil {
		t.Fatal("an e2e config gave a task without the e2e wrapper")
	}
	return e.Task
}

// TestE2EFlipConsistent: with FLIP_PROB 1 the image is mirrored exactly as
// the boxes are (RefCOCO+: the pixels inside every flipped box are those
// inside the unflipped box, mirrored; VCR: the box masks are mirrored too).
func TestE2EFlipConsistent(t *testing.T) {
	rng := func() *rand.Rand { return rand.New(rand.NewPCG(5, 6)) }
	ref := func(flip string) *refExample {
		tk := innerTask(t, tinyE2E(t, "ground", t.TempDir(), "TRAIN.FLIP_PROB="+flip), "train").(*refcocoTask)
		e, err := tk.example("train", 0, rng())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	plain, flipped := ref("0"), ref("1")
	const stride = 4 + model.DefaultFeatureDim
	W, H := plain.img.W, plain.img.H
	for r := 0; r < plain.n; r++ {
		a, b := plain.boxes[r*stride:r*stride+4], flipped.boxes[r*stride:r*stride+4]
		if b[0] != float32(W-1)-a[2] || b[2] != float32(W-1)-a[0] || b[1] != a[1] {
			t.Fatalf("box %d: %v flipped to %v", r, a, b)
		}
		for c := 0; c < 3; c++ {
			var sa, sb float64
			for y := int(a[1]); y <= int(a[3]); y++ {
				for x := int(a[0]); x <= int(a[2]); x++ {
					sa += float64(plain.img.Image[(c*H+y)*W+x])
				}
				for x := int(b[0]); x <= int(b[2]); x++ {
					sb += float64(flipped.img.Image[(c*H+y)*W+x])
				}
			}
			if math.Abs(sa-sb) > 1e-3*(1+math.Abs(sa)) {
				t.Errorf("box %d channel %d: pixel sum %g unflipped, %g flipped", r, c, sa, sb)
			}
		}
	}

	vcrEx := func(flip string) *vcrExample {
		tk := innerTask(t, tinyE2E(t, "vcr", t.TempDir(), "TRAIN.FLIP_PROB="+flip, "DATASET.MASK_SIZE=4"), "train").(*vcrTask)
		e, err := tk.example(tk.sets["train"], 0, rng())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	vp, vf := vcrEx("0"), vcrEx("1")
	const s = 4
	if len(vp.masks) != vp.n*s*s || !slices.ContainsFunc(vp.masks[s*s:], func(v float32) bool { return v != 0 }) {
		t.Fatalf("VCR masks %v: want %d non-trivial %dx%d masks", vp.masks, vp.n, s, s)
	}
	for k := 0; k < vp.n*s; k++ {
		row := slices.Clone(vp.masks[k*s : (k+1)*s])
		slices.Reverse(row)
		if !slices.Equal(row, vf.masks[k*s:(k+1)*s]) {
			t.Fatalf("mask row %d: %v flipped to %v", k, vp.masks[k*s:(k+1)*s], vf.masks[k*s:(k+1)*s])
		}
	}
	W, H = vp.img.W, vp.img.H
	for c := 0; c < 3; c++ {
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				if vp.img.Image[(c*H+y)*W+x] != vf.img.Image[(c*H+y)*W+W-1-x] {
					t.Fatalf("VCR image pixel (%d, %d, %d) not mirrored", c, y, x)
				}
			}
		}
	}
}

// TestE2EPixelMasking: with MASK_RAW_PIXELS every region whose MVRC op is 1
// is the mean colour (0 after normalisation) in the image the CNN sees, and
// without it the pixels stay. With a SEQ_LEN that truncates boxes, a masked
// box that truncation drops is blanked too (the original masks first).
func TestE2EPixelMasking(t *testing.T) {
	zeroIn := func(p *visual.Prepared, box []float32) bool {
		zero := true
		for c := 0; c < 3; c++ {
			for y := int(box[1]); y <= int(box[3]); y++ {
				for x := int(box[0]); x <= int(box[2]); x++ {
					zero = zero && p.Image[(c*p.H+y)*p.W+x] == 0
				}
			}
		}
		return zero
	}
	for _, c := range []struct {
		maskRaw bool
		seqLen  int
		dropped bool // look for a masked box that truncation drops
	}{{true, 64, false}, {false, 64, false}, {true, 3, true}} {
		cfg := tinyE2E(t, "pretrain", t.TempDir(), fmt.Sprintf("NETWORK.MASK_RAW_PIXELS=%v", c.maskRaw), fmt.Sprintf("DATASET.0.SEQ_LEN=%d", c.seqLen))
		tk := innerTask(t, cfg, "train").(*pretrainTask)
		caps := tk.caps["train"]
		found := false
		for i := 0; i < caps.Len() && !found; i++ {
			for seed := uint64(0); seed < 8 && !found; seed++ {
				ex, masked, err := caps.ExampleMasked(i, rand.New(rand.NewPCG(seed, 9)))
				if err != nil {
					t.Fatal(err)
				}
				var box []float32
				if c.dropped {
					// The kept boxes come first, so the last masked box is a
					// dropped one when there are more masked than kept op-1 boxes.
					if len(masked)/4 <= countOnes(ex.MVRCOps) {
						continue
					}
					box = masked[len(masked)-4:]
				} else {
					r := slices.Index(ex.MVRCOps, 1)
					if r < 0 {
						continue
					}
					box = ex.Boxes[r*ex.BoxDim : r*ex.BoxDim+4]
				}
				found = true
				imgs, err := tk.e2eImages([]*data.PretrainExample{ex}, [][]float32{masked})
				if err != nil {
					t.Fatal(err)
				}
				if zero := zeroIn(imgs[0], box); zero != c.maskRaw {
					t.Errorf("MASK_RAW_PIXELS %v, SEQ_LEN %d: masked box %v all zero: %v", c.maskRaw, c.seqLen, box, zero)
				}
				if !slices.ContainsFunc(imgs[0].Image, func(v float32) bool { return v != 0 }) {
					t.Error("the whole image is zero")
				}
			}
		}
		if !found {
			t.Fatalf("SEQ_LEN %d: no caption sample with a masked region (dropped by truncation: %v)", c.seqLen, c.dropped)
		}
	}
}

func countOnes(ops []int64) int {
	n := 0
	for _, op := range ops {
		if op == 1 {
			n++
		}
	}
	return n
}

// TestE2EImagePretrained: NETWORK.IMAGE_PRETRAINED names the raw ResNet
// state_dict '{path}-{epoch:04d}.model' (conv1, bn1, layer1..3 for the
// backbone, layer4 for the RoI head, as resnet101-pt-vgbua-0000.model); the
// model's CNN starts from it, and a file lacking tensors is an error.
func TestE2EImagePretrained(t *testing.T) {
	vc := visual.ResNet101C4()
	visualConfigHook(&vc)
	src := visual.NewNetwork(vc)
	src.InitRandom(42)
	write := func(path string, skip string) {
		if err := writeRawResNet(path, src, skip); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	write(filepath.Join(dir, "resnet-0007.model"), "")
	cfg := tinyE2E(t, "ground", t.TempDir(), "NETWORK.IMAGE_PRETRAINED="+filepath.Join(dir, "resnet"), "NETWORK.IMAGE_PRETRAINED_EPOCH=7")
	task := mustTask(t, cfg, "train")
	m, err := buildModel(cfg, task, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range src.Params.Params {
		if !slices.Equal(m.Base().Params.View(cnnKeyPrefix+p.Name), p.Data) {
			t.Fatalf("%s not loaded", p.Name)
		}
	}
	write(filepath.Join(dir, "resnet-0007.model"), "layer4.0.conv2.weight")
	if _, err := buildModel(cfg, task, io.Discard); err == nil || !strings.Contains(err.Error(), "roi_head_feature_extractor.0.conv2.weight") {
		t.Errorf("a checkpoint without layer4.0.conv2.weight: %v", err)
	}
}

// writeRawResNet writes src as the raw torchvision ResNet state_dict that
// NETWORK.IMAGE_PRETRAINED names (conv1, bn1, layer1..3 from the backbone,
// layer4 from the RoI head, an ignored fc), leaving out the key skip.
func writeRawResNet(path string, src *visual.Network, skip string) error {
	ts := map[string]*weights.Tensor{}
	for _, p := range src.Params.Params {
		k := strings.TrimPrefix(p.Name, "backbone.")
		if rest, ok := strings.CutPrefix(p.Name, "roi_head_feature_extractor."); ok {
			k = "layer4." + rest
		}
		if k != skip {
			ts[k] = weights.NewF32(p.Data, p.Shape...)
		}
	}
	ts["fc.weight"] = weights.NewF32(make([]float32, 6), 2, 3) // ignored
	return weights.WriteSafetensors(path, ts, nil)
}

// realRefCOCO lays the tiny world out as the original's data/coco for
// RefCOCO+ (writeOriginalRefCOCO) with MAttNet-style proposals made of each
// GT box shifted by one pixel.
func realRefCOCO(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := writeOriginalRefCOCO(worldDir, dir, false); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeOriginalRefCOCO lays the world's RefCOCO+ out in dir as the original's
// data/coco for end-to-end training: refs and instances under refcoco+/, the
// COCO instances (here the same file), the images as
// train2014/COCO_train2014_{id:012d}.jpg (PNG bytes; the decoder goes by
// content) and proposals in refcoco+/proposal/: the world's detections (the
// boxes of its precomputed feature files) when detections, else each GT box
// shifted by one pixel.
func writeOriginalRefCOCO(world, dir string, detections bool) error {
	src := filepath.Join(world, synth.Layout.RefCOCO)
	for _, d := range []string{"refcoco+/proposal", "annotations", "train2014"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	cp := func(from, to string) error {
		b, err := os.ReadFile(from)
		if err == nil {
			err = os.WriteFile(to, b, 0o644)
		}
		return err
	}
	for _, c := range [][2]string{
		{filepath.Join(src, "refs(unc).p"), filepath.Join(dir, "refcoco+", "refs(unc).p")},
		{filepath.Join(src, "instances.json"), filepath.Join(dir, "refcoco+", "instances.json")},
		{filepath.Join(src, "instances.json"), filepath.Join(dir, "annotations", "instances_train2014.json")},
	} {
		if err := cp(c[0], c[1]); err != nil {
			return err
		}
	}
	inst, err := refcoco.ReadInstances(filepath.Join(src, "instances.json"))
	if err != nil {
		return err
	}
	ids := slices.Sorted(maps.Keys(inst.Images))
	props := []map[string]any{}
	for _, id := range ids {
		if err := cp(filepath.Join(world, synth.Layout.Images, fmt.Sprintf("%d.png", id)), filepath.Join(dir, "train2014", fmt.Sprintf("COCO_train2014_%012d.jpg", id))); err != nil {
			return err
		}
		if !detections {
			for _, a := range inst.ImageAnnotations(id) {
				props = append(props, map[string]any{"image_id": id, "box": []float64{a.BBox[0] + 1, a.BBox[1] + 1, a.BBox[2], a.BBox[3]}, "score": 0.9})
			}
			continue
		}
		rec, err := features.LoadJSON(zipfs.New(), synth.FeatureFile(world, id), features.Options{})
		if err != nil {
			return err
		}
		for r := 0; r < rec.NumBoxes; r++ {
			x1, y1, x2, y2 := float64(rec.Boxes[4*r]), float64(rec.Boxes[4*r+1]), float64(rec.Boxes[4*r+2]), float64(rec.Boxes[4*r+3])
			props = append(props, map[string]any{"image_id": id, "box": []float64{x1, y1, x2 - x1, y2 - y1}, "score": 0.9})
		}
	}
	b, err := json.Marshal(props)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "refcoco+", "proposal", "res101_coco_minus_refer_notime_dets.json"), b, 0o644)
}

// TestE2ERealRefCOCO: the original data/coco layout trains end to end with
// "proposal+gt" candidates (train) and "gt" (val); the precomputed config on
// it is a clear error.
func TestE2ERealRefCOCO(t *testing.T) {
	dir := realRefCOCO(t)
	cfg := tinyE2E(t, "ground", t.TempDir(), "DATASET.DATASET_PATH="+dir, "DATASET.TRAIN_BOXES=proposal+gt", "DATASET.VAL_BOXES=gt",
		"TRAIN.BATCH_IMAGES=2", "TRAIN.FLIP_PROB=0")
	tk := innerTask(t, cfg, "train", "val").(*refcocoTask)
	s := &tk.samples["train"][0]
	e, err := tk.example("train", 0, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	nGT := len(tk.real.coco.ImageAnnotations(s.ImageID))
	if e.n != 1+2*nGT || e.img == nil || slices.Max(e.label) != 1 {
		t.Fatalf("train example: %d candidates (want 1 + %d proposals + %d GT), image %v, labels %v", e.n, nGT, nGT, e.img != nil, e.label)
	}
	ev, err := tk.example("val", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + len(tk.real.coco.ImageAnnotations(tk.samples["val"][0].ImageID)); ev.n != want {
		t.Errorf("val example: %d candidates, want %d (image + GT)", ev.n, want)
	}
	task, m, b := e2eSetup(t, cfg)
	m.Base().ZeroGrad()
	e2eLoss(t, task, m, b)
	task.Backward(m, 1)

	// A corrupt image is an error naming the file and the ref.
	img := tk.realImagePath(s.ImageID)
	if err := os.WriteFile(img, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.example("train", 0, rand.New(rand.NewPCG(1, 1))); err == nil || !strings.Contains(err.Error(), filepath.Base(img)) || !strings.Contains(err.Error(), "ref") {
		t.Errorf("corrupt image: %v", err)
	}

	// With precomputed features the features folder is read: its absence
	// is an error naming the file and the ref.
	pre := mustTask(t, tinyConfig(t, "ground", worldDir, t.TempDir(), "DATASET.DATASET_PATH="+dir), "train").(*refcocoTask)
	if _, err := pre.example("train", 0, rand.New(rand.NewPCG(1, 1))); err == nil ||
		!strings.Contains(err.Error(), filepath.Join("vgbua_res101_precomputed", "trainval2014_resnet101_faster_rcnn_genome")) || !strings.Contains(err.Error(), "ref") {
		t.Errorf("precomputed RefCOCO+ with no features folder: %v", err)
	}
}

// TestE2ELoadOriginalKeys: an original e2e VL-BERT state_dict (module.
// prefixes, the head.0.* duplicates of the RoI head, BatchNorm's
// num_batches_tracked) loads into the e2e model, partially and strictly,
// with every CNN tensor in place.
func TestE2ELoadOriginalKeys(t *testing.T) {
	cfg := tinyE2E(t, "ground", t.TempDir())
	task := mustTask(t, cfg, "train")
	src, err := buildModel(cfg, task, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range src.Base().Params.Data {
		src.Base().Params.Data[i] = float32(rng.NormFloat64())
	}
	ts := map[string]*weights.Tensor{}
	for _, q := range src.Base().Params.List {
		ts["module."+q.Name] = weights.NewF32(src.Base().Params.View(q.Name), q.Shape...)
		if rest, ok := strings.CutPrefix(q.Name, cnnKeyPrefix+"roi_head_feature_extractor."); ok {
			ts["module."+cnnKeyPrefix+"head.0."+rest] = weights.NewF32(src.Base().Params.View(q.Name), q.Shape...)
		}
		if strings.HasSuffix(q.Name, "bn1.running_mean") {
			ts["module."+strings.TrimSuffix(q.Name, "running_mean")+"num_batches_tracked"] = weights.NewI64([]int64{0}, 1)
		}
	}
	path := filepath.Join(t.TempDir(), "orig.safetensors")
	if err := weights.WriteSafetensors(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	dst, err := newModel(cfg, task)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := LoadPartial(dst.Base(), path, nil)
	if err != nil || len(rep.Missing) > 0 || len(rep.Unexpected) > 0 {
		t.Fatalf("partial load: missing %v unexpected %v err %v", rep.Missing, rep.Unexpected, err)
	}
	if !slices.Equal(dst.Base().Params.Data, src.Base().Params.Data) {
		t.Error("partial load did not restore every value")
	}
	clear(dst.Base().Params.Data)
	sd, _, err := weights.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := loadParams(dst.Base(), sd, path); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst.Base().Params.Data, src.Base().Params.Data) {
		t.Error("strict load did not restore every value")
	}
}

// TestE2EPredictVCR: QA2R prediction (four runs per batch over the same
// CNN features) writes one row per val question from an e2e checkpoint.
func TestE2EPredictVCR(t *testing.T) {
	out := t.TempDir()
	cfg := tinyE2E(t, "vcr", out, "DATASET.TASK=QA2R")
	task, err := NewTask(cfg, "train")
	if err != nil {
		t.Fatal(err)
	}
	m, err := buildModel(cfg, task, io.Discard)
	task.Close()
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(out, "init.safetensors")
	saveWeights(t, m.Base(), ckpt)
	files, err := Predict(context.Background(), cfg, "vcr.yaml", ckpt, "val", out, InferenceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	anns, err := vcr.ReadAnnotations(filepath.Join(worldDir, synth.Layout.VCR, "val.jsonl"), true)
	if err != nil {
		t.Fatal(err)
	}
	if rows := readCSV(t, files[0]); len(rows) != 1+len(anns) || len(rows[1]) != 17 {
		t.Fatalf("%d rows of %d columns for %d questions", len(rows), len(rows[1]), len(anns))
	}
}
