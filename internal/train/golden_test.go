package train

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/optim"
	"github.com/vlbert/vlbert/internal/weights"
)

// These tests run the golden optimizer steps of testdata/golden end to
// end through Trainer.Step: model forward and backward on the golden batch,
// schedule, clip, AdamW. Numbers from manifest.json "training".

const goldenDir = "../../testdata/golden/"

type goldenNumbers struct {
	loss, lr, norm float64
}

var (
	vqaStep1 = goldenNumbers{53.09290313720703, 0.000125, 231.86305236816406}
	vqaStep2 = goldenNumbers{47.23722839355469, 0.00025, 147.10165405273438}
	ptStep1  = goldenNumbers{18.43378448486328, 0.000125, 97.03977966308594}
)

// Tolerances: manifest suggested_tolerances.
const (
	gradAtol, gradRtol = 1e-4, 1e-3
	paramAtol          = 1e-5
	lossAtol, lossRtol = 1e-4, 1e-5
)

func readNpy(t testing.TB, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(goldenDir + name + ".npy")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func loadGoldenConfig(t testing.TB, name string) *config.Config {
	t.Helper()
	cfg, err := config.Load(goldenDir+name, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newGoldenModel(t testing.TB, cfg *config.Config, ckpt string) model.Module {
	t.Helper()
	mc, err := model.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadWeights(m.Base(), goldenDir+ckpt); err != nil {
		t.Fatal(err)
	}
	return m
}

func goldenVQABatch(t *testing.T) Batch {
	boxes, info := readNpy(t, "vqa_in_boxes"), readNpy(t, "vqa_in_im_info")
	q, label := readNpy(t, "vqa_in_question"), readNpy(t, "vqa_in_label")
	return newVQABatch(&data.VQABatch{B: boxes.Shape[0], R: boxes.Shape[1], BoxDim: boxes.Shape[2], Q: q.Shape[1], A: label.Shape[1],
		Boxes: boxes.F32, ImInfo: info.F32, Question: q.I64, Label: label.F32, QuestionIDs: []int64{1, 2}})
}

func goldenPretrainBatch(t *testing.T) Batch {
	boxes, info, text := readNpy(t, "pt_in_boxes"), readNpy(t, "pt_in_im_info"), readNpy(t, "pt_in_text")
	mlm, ops, mvrc, rel := readNpy(t, "pt_in_mlm_labels"), readNpy(t, "pt_in_mvrc_ops"), readNpy(t, "pt_in_mvrc_labels"), readNpy(t, "pt_in_relationship_label")
	return newPretrainBatch(&data.PretrainBatch{B: boxes.Shape[0], R: boxes.Shape[1], BoxDim: boxes.Shape[2], T: text.Shape[1],
		C: mvrc.Shape[2], I: info.Shape[1], Boxes: boxes.F32, ImInfo: info.F32, Text: text.I64, MLMLabels: mlm.I64,
		RelationshipLabel: rel.I64, MVRCOps: ops.I64, MVRCLabels: mvrc.F32}, nil)
}

// goldenNames lists the parameters with <prefix>_<kind>__<mangled>.npy files.
func goldenNames(t *testing.T, m *model.Model, prefix, kind string) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(goldenDir + prefix + "_" + kind + "__*.npy")
	if len(files) == 0 && kind != "grad_postclip" {
		t.Fatalf("no %s_%s golden files", prefix, kind)
	}
	byMangled := map[string]string{}
	for _, n := range m.Base().Params.Names() {
		byMangled[strings.ReplaceAll(n, ".", "_")] = n
	}
	out := map[string]string{}
	for _, f := range files {
		mangled := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), prefix+"_"+kind+"__"), ".npy")
		name, ok := byMangled[strings.TrimSuffix(mangled, "_rows")]
		if !ok {
			t.Fatalf("golden %s: no model parameter", f)
		}
		out[mangled] = name
	}
	return out
}

// pick returns v, or its rows listed in pt_step1_word_embedding_rows for a
// "_rows" golden.
func pick(t *testing.T, m *model.Model, mangled, name string, v []float32) []float32 {
	if !strings.HasSuffix(mangled, "_rows") {
		return v
	}
	q, _ := m.Base().Params.Lookup(name)
	cols := q.Shape[1]
	var out []float32
	for _, r := range readNpy(t, "pt_step1_word_embedding_rows").I64 {
		out = append(out, v[int(r)*cols:int(r+1)*cols]...)
	}
	return out
}

func compare(t *testing.T, what string, got, want []float32, atol, rtol float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, golden %d", what, len(got), len(want))
		return math.Inf(1)
	}
	worst, bad := 0.0, 0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		worst = max(worst, d)
		if d > atol+rtol*math.Abs(float64(want[i])) {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values off (max abs diff %.3g, atol %g rtol %g)", what, bad, len(got), worst, atol, rtol)
	}
	return worst
}

// runGoldenStep runs one Trainer.Step on batch and checks the manifest
// numbers, the post-clip gradients (golden post-clip files, else pre-clip
// times the golden clip coefficient) and the parameters after the update.
func runGoldenStep(t *testing.T, tr *Trainer, b Batch, prefix string, want goldenNumbers) {
	t.Helper()
	m := tr.Model
	var postClip []float32
	tr.BeforeUpdate = func(g []float32) { postClip = slices.Clone(g) }
	tr.Model.Train = false
	res, err := stepNoDropout(tr, b)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Updated || len(res.LR) != 1 {
		t.Fatalf("step result %+v: want one update with one group", res)
	}
	if d := math.Abs(res.Loss - want.loss); d > lossAtol+lossRtol*want.loss {
		t.Errorf("loss %.8g, golden %.8g", res.Loss, want.loss)
	}
	if math.Abs(res.LR[0]-want.lr) > 1e-15 {
		t.Errorf("lr used %v, golden %v", res.LR[0], want.lr)
	}
	if math.Abs(res.GradNorm-want.norm) > 1e-4*want.norm {
		t.Errorf("total grad norm %.8g, golden %.8g", res.GradNorm, want.norm)
	}
	coef := optim.ClipCoef(want.norm, tr.Cfg.Train.ClipGradNorm)
	worstG, worstP := 0.0, 0.0
	post := goldenNames(t, m.Base(), prefix, "grad_postclip")
	pre := goldenNames(t, m.Base(), prefix, "grad_preclip")
	for mangled, name := range pre {
		q, _ := m.Base().Params.Lookup(name)
		got := pick(t, m, mangled, name, postClip[q.Offset:q.Offset+q.Size])
		var golden []float32
		if _, ok := post[mangled]; ok {
			golden = readNpy(t, prefix+"_grad_postclip__"+mangled).F32
		} else {
			golden = readNpy(t, prefix+"_grad_preclip__"+mangled).F32
			for i := range golden {
				golden[i] *= coef
			}
		}
		worstG = max(worstG, compare(t, prefix+" post-clip grad "+name, got, golden, gradAtol*float64(coef), gradRtol))
	}
	for mangled, name := range goldenNames(t, m.Base(), prefix, "param_after") {
		got := pick(t, m, mangled, name, m.Base().Params.View(name))
		worstP = max(worstP, compare(t, prefix+" param after "+name, got, readNpy(t, prefix+"_param_after__"+mangled).F32, paramAtol, 0))
	}
	t.Logf("%s: loss %.7g lr %g norm %.7g; max abs diff post-clip grads %.3g, params after %.3g", prefix, res.Loss, res.LR[0], res.GradNorm, worstG, worstP)
}

// stepNoDropout is Trainer.Step with dropout off: the goldens ran in eval
// mode.
func stepNoDropout(tr *Trainer, b Batch) (StepResult, error) {
	tr.noDropout = true
	defer func() { tr.noDropout = false }()
	return tr.Step(b, NewMetrics(tr.Task.MetricNames()))
}

func TestGoldenVQAStep2Resume(t *testing.T) {
	cfg := loadGoldenConfig(t, "vqa_small.yaml")
	m := newGoldenModel(t, cfg, "vqa_ckpt_zip.model")
	tr, err := NewTrainer(cfg, &vqaTask{cfg: cfg}, m, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Resume as AUTO_RESUME does from {prefix}-0000.model: weights, AdamW state, monitor.
	if err := tr.loadTorchResume(candidate{path: goldenDir + "vqa_ckpt_zip.model", torch: true}, 1); err != nil {
		t.Fatal(err)
	}
	if err := tr.resetSchedule(); err != nil {
		t.Fatal(err)
	}
	if tr.State.Epoch != 1 || tr.State.Updates != 1 || tr.State.BestVal != 0.125 || tr.State.BestEpoch != 0 {
		t.Errorf("resumed state %+v, want epoch 1, 1 update, best 0.125 at epoch 0", tr.State)
	}
	runGoldenStep(t, tr, goldenVQABatch(t), "vqa_step2", vqaStep2)
}

func TestGoldenPretrainStep1(t *testing.T) {
	cfg := loadGoldenConfig(t, "pretrain_small.yaml")
	m := newGoldenModel(t, cfg, "pretrain_ckpt_zip.model")
	tr, err := NewTrainer(cfg, &pretrainTask{cfg: cfg, mlmName: "MLMAcc"}, m, 1)
	if err != nil {
		t.Fatal(err)
	}
	runGoldenStep(t, tr, goldenPretrainBatch(t), "pt_step1", ptStep1)
}

// vqa_step1 starts from drawn weights that were not stored. Its checkpoint
// holds the weights after the step and the step-1 AdamW moments, so the
// starting weights follow by inverting the update:
// p0 = p1/(1−lr·wd) + lr·sqrt(1−β2)/(1−β1)·m/(sqrt(v)+eps), in float64.
func TestGoldenVQAStep1(t *testing.T) {
	cfg := loadGoldenConfig(t, "vqa_small.yaml")
	m := newGoldenModel(t, cfg, "vqa_ckpt_zip.model")
	ck, err := weights.ReadTorch(goldenDir + "vqa_ckpt_zip.model")
	if err != nil {
		t.Fatal(err)
	}
	names, err := ck.ParamNames()
	if err != nil {
		t.Fatal(err)
	}
	lr, wd := vqaStep1.lr, cfg.Train.WD
	stepSize := lr * math.Sqrt(1-0.999) / (1 - 0.9)
	for i, key := range names {
		st := ck.Optimizer.State[i]
		if st == nil || st.Step != 1 {
			t.Fatalf("%s: checkpoint state %+v, want step 1", key, st)
		}
		p := m.Base().Params.View(strings.TrimPrefix(key, "module."))
		for j := range p {
			v := float64(st.ExpAvgSq.F32[j])
			p[j] = float32(float64(p[j])/(1-lr*wd) + stepSize*float64(st.ExpAvg.F32[j])/(math.Sqrt(v)+1e-6))
		}
	}
	tr, err := NewTrainer(cfg, &vqaTask{cfg: cfg}, m, 1)
	if err != nil {
		t.Fatal(err)
	}
	var preClip []float32
	tr.BeforeUpdate = func(g []float32) {}
	b := goldenVQABatch(t)
	// The pre-clip gradients: one forward/backward outside the trainer.
	func() {
		task := tr.Task
		if _, _, err := task.Forward(m, b, NewMetrics(task.MetricNames())); err != nil {
			t.Fatal(err)
		}
		task.Backward(m, 1)
		preClip = slices.Clone(m.Base().Params.Grad)
		m.Base().ZeroGrad()
	}()
	for mangled, name := range goldenNames(t, m.Base(), "vqa_step1", "grad_preclip") {
		q, _ := m.Base().Params.Lookup(name)
		compare(t, "vqa_step1 pre-clip grad "+name, preClip[q.Offset:q.Offset+q.Size], readNpy(t, "vqa_step1_grad_preclip__"+mangled).F32, gradAtol, gradRtol)
	}
	runGoldenStep(t, tr, b, "vqa_step1", vqaStep1)
}
