package optim

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/weights"
)

const goldenDir = "../../testdata/golden/"

// Training-step numbers from testdata/golden/manifest.json ("training"), made by running the original.
const (
	vqaStep1LR   = 0.000125
	vqaStep1Norm = 231.86305236816406
	vqaStep2LR   = 0.00025
	vqaStep2Norm = 147.10165405273438
	ptStep1LR    = 0.000125
	ptStep1Norm  = 97.03977966308594
	// suggested_tolerances.params_after_step.atol
	paramAfterAtol = 1e-5
)

// goldenParams lists the parameters that have <prefix>_grad_preclip__<name>.npy
// files, as mangled names (dots replaced by underscores).
func goldenParams(t *testing.T, prefix string) []string {
	t.Helper()
	files, err := filepath.Glob(goldenDir + prefix + "_grad_preclip__*.npy")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no %s golden files in %s", prefix, goldenDir)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), prefix+"_grad_preclip__"), ".npy"))
	}
	sort.Strings(names)
	return names
}

func readNpy(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(goldenDir + name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ckptParams reads a checkpoint and maps mangled names to state_dict keys and
// optimizer parameter indices.
type ckptParams struct {
	ck    *weights.TorchCheckpoint
	key   map[string]string // mangled -> state_dict key
	index map[string]int    // state_dict key -> optimizer index
}

func readCheckpoint(t *testing.T, file string) *ckptParams {
	t.Helper()
	ck, err := weights.ReadTorch(goldenDir + file)
	if err != nil {
		t.Fatal(err)
	}
	names, err := ck.ParamNames()
	if err != nil {
		t.Fatal(err)
	}
	c := &ckptParams{ck: ck, key: map[string]string{}, index: map[string]int{}}
	for i, k := range names {
		c.index[k] = i
		m := strings.ReplaceAll(strings.TrimPrefix(k, "module."), ".", "_")
		if _, dup := c.key[m]; dup {
			t.Fatalf("ambiguous mangled name %s", m)
		}
		c.key[m] = k
	}
	return c
}

// rowsSuffix marks a golden that holds only some rows (pt word embeddings).
const rowsSuffix = "_rows"

// paramRows returns the starting values of a golden parameter: the whole
// tensor, or the rows listed in pt_step1_word_embedding_rows.npy.
func (c *ckptParams) paramRows(t *testing.T, mangled string, rows []int64) (key string, vals []float32, idx []int) {
	t.Helper()
	name := strings.TrimSuffix(mangled, rowsSuffix)
	key, ok := c.key[name]
	if !ok {
		t.Fatalf("no checkpoint parameter for %s", mangled)
	}
	full := c.ck.StateDict[key]
	if !strings.HasSuffix(mangled, rowsSuffix) {
		return key, append([]float32(nil), full.F32...), nil
	}
	cols := full.Shape[1]
	for _, r := range rows {
		vals = append(vals, full.F32[int(r)*cols:int(r+1)*cols]...)
		for j := 0; j < cols; j++ {
			idx = append(idx, int(r)*cols+j)
		}
	}
	return key, vals, idx
}

// goldenStep runs clip + schedule + AdamW on the golden parameter subset and
// compares the result with <prefix>_param_after__*.npy.
type goldenStep struct {
	prefix     string
	ckpt       string
	cfg        string
	beginEpoch int     // TRAIN.BEGIN_EPOCH (1 when resuming from the epoch-0 checkpoint)
	updates    int     // the schedule is stepped this many times; the last is the golden update
	wantLR     float64 // manifest lr_used
	norm       float64 // manifest total_grad_norm_before_clip
	loadMoment bool    // start from the checkpoint's AdamW state
}

func (g goldenStep) run(t *testing.T) {
	cfg, err := config.Load(goldenDir+g.cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	c := readCheckpoint(t, g.ckpt)
	var rows []int64
	if g.prefix == "pt_step1" {
		rows = readNpy(t, "pt_step1_word_embedding_rows.npy").I64
	}
	names := goldenParams(t, g.prefix)
	var params []Param
	var arena, grads []float32
	var keys []string
	for _, m := range names {
		key, vals, _ := c.paramRows(t, m, rows)
		gr := readNpy(t, g.prefix+"_grad_preclip__"+m+".npy")
		if len(gr.F32) != len(vals) {
			t.Fatalf("%s: grad %d values, param %d", m, len(gr.F32), len(vals))
		}
		params = append(params, Param{Name: key, Offset: len(arena), Size: len(vals)})
		arena = append(arena, vals...)
		grads = append(grads, gr.F32...)
		keys = append(keys, key)
	}
	groups, err := BuildGroups(params, cfg.Train.LRMult, cfg.Train.BaseLR(cfg.NumGPUs()), cfg.Train.WD)
	if err != nil {
		t.Fatal(err)
	}
	opt := NewAdamW(params, groups, len(arena))
	// The checkpoint's param group agrees with our hyperparameters.
	pg := c.ck.Optimizer.ParamGroups[0]
	if pg.Betas != [2]float64{opt.Beta1, opt.Beta2} || pg.Eps != opt.Eps || !pg.CorrectBias || pg.WeightDecay != cfg.Train.WD {
		t.Errorf("checkpoint param group %+v differs from AdamW defaults", pg)
	}
	if g.loadMoment {
		if pg.InitialLR != groups[0].InitialLR {
			t.Errorf("checkpoint initial_lr %v, ours %v", pg.InitialLR, groups[0].InitialLR)
		}
		if err := LoadTorchAdamW(opt, c.ck); err != nil {
			t.Fatal(err)
		}
		for i, m := range names {
			if st := opt.State().Steps[i]; st != 1 {
				t.Fatalf("%s: resumed step %d, want 1", m, st)
			}
		}
	} else if len(c.ck.Optimizer.State) != 0 {
		t.Errorf("want a fresh optimizer state, got %d entries", len(c.ck.Optimizer.State))
	}
	cfg.Train.BeginEpoch = g.beginEpoch
	f, begin, err := ScheduleFromConfig(&cfg.Train, 1) // the golden loader has one batch per epoch
	if err != nil {
		t.Fatal(err)
	}
	sched := NewScheduler(f, opt.Groups(), begin)
	for i := 0; i < g.updates; i++ {
		sched.Step(opt.Groups())
	}
	if lr := opt.Groups()[0].LR; math.Abs(lr-g.wantLR) > 1e-15 {
		t.Errorf("schedule lr %v, manifest %v", lr, g.wantLR)
	}
	// The total norm is over all parameters; the manifest gives it.
	ScaleGrads(grads, ClipCoef(g.norm, cfg.Train.ClipGradNorm))
	opt.Step(arena, grads, nil)
	worst := 0.0
	for i, m := range names {
		want := readNpy(t, g.prefix+"_param_after__"+m+".npy").F32
		got := arena[params[i].Offset : params[i].Offset+params[i].Size]
		d := maxAbsDiff(got, want)
		worst = math.Max(worst, d)
		if d > paramAfterAtol {
			t.Errorf("%s: max abs diff %.3g > %g", m, d, paramAfterAtol)
		}
	}
	t.Logf("%s: %d params, lr %g, max abs error of param_after %.3g", g.prefix, len(names), opt.Groups()[0].LR, worst)
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func requireGolden(t *testing.T, files ...string) {
	t.Helper()
	for _, f := range files {
		if _, err := os.Stat(goldenDir + f); err != nil {
			t.Fatalf("golden file missing: %v", err)
		}
	}
}

func TestGoldenVQAStep2(t *testing.T) {
	requireGolden(t, "vqa_ckpt_zip.model", "vqa_small.yaml")
	goldenStep{prefix: "vqa_step2", ckpt: "vqa_ckpt_zip.model", cfg: "vqa_small.yaml",
		beginEpoch: 1, updates: 1, wantLR: vqaStep2LR, norm: vqaStep2Norm, loadMoment: true}.run(t)
}

func TestGoldenPretrainStep1(t *testing.T) {
	requireGolden(t, "pretrain_ckpt_zip.model", "pretrain_small.yaml")
	goldenStep{prefix: "pt_step1", ckpt: "pretrain_ckpt_zip.model", cfg: "pretrain_small.yaml",
		updates: 1, wantLR: ptStep1LR, norm: ptStep1Norm}.run(t)
}

// vqa_step1 starts from weights that are not stored, but its result is the
// checkpoint: clipping the pre-clip gradients must give the post-clip
// goldens, and one AdamW step from zero moments must give the checkpoint's
// exp_avg / exp_avg_sq (step 1), whatever the parameter values.
func TestGoldenVQAStep1Moments(t *testing.T) {
	cfg, err := config.Load(goldenDir+"vqa_small.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	c := readCheckpoint(t, "vqa_ckpt_zip.model")
	f, begin, err := ScheduleFromConfig(&cfg.Train, 1)
	if err != nil {
		t.Fatal(err)
	}
	groups := []Group{{InitialLR: cfg.Train.BaseLR(1), WeightDecay: cfg.Train.WD}}
	sched := NewScheduler(f, groups, begin)
	sched.Step(groups)
	if groups[0].LR != vqaStep1LR || c.ck.Optimizer.ParamGroups[0].LR != vqaStep1LR {
		t.Errorf("step-1 lr %v (checkpoint %v), manifest %v", groups[0].LR, c.ck.Optimizer.ParamGroups[0].LR, vqaStep1LR)
	}
	coef := ClipCoef(vqaStep1Norm, cfg.Train.ClipGradNorm)
	worstClip, worstM, worstV := 0.0, 0.0, 0.0
	for _, m := range goldenParams(t, "vqa_step1") {
		g := readNpy(t, "vqa_step1_grad_preclip__"+m+".npy").F32
		post := readNpy(t, "vqa_step1_grad_postclip__"+m+".npy").F32
		ScaleGrads(g, coef)
		worstClip = math.Max(worstClip, maxAbsDiff(g, post))
		key := c.key[m]
		st := c.ck.Optimizer.State[c.index[key]]
		if st == nil || st.Step != 1 {
			t.Fatalf("%s: checkpoint state %+v, want step 1", key, st)
		}
		p := make([]float32, len(g))
		opt := NewAdamW([]Param{{Name: key, Size: len(g)}}, groups, len(g))
		opt.Step(p, g, nil)
		s := opt.State()
		worstM = math.Max(worstM, maxAbsDiff(s.ExpAvg, st.ExpAvg.F32))
		worstV = math.Max(worstV, maxAbsDiff(s.ExpAvgSq, st.ExpAvgSq.F32))
	}
	if worstClip > 1e-7 || worstM > 1e-8 || worstV > 1e-10 {
		t.Errorf("max abs errors: clipped grad %.3g, exp_avg %.3g, exp_avg_sq %.3g", worstClip, worstM, worstV)
	}
	t.Logf("vqa_step1: clip coef %.6g; max abs error clipped grad %.3g, exp_avg %.3g, exp_avg_sq %.3g", coef, worstClip, worstM, worstV)
}
