package optim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/parallel"
)

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * scale)
	}
	return out
}

func testLayout() ([]Param, int) {
	params := []Param{{Name: "a.weight", Offset: 0, Size: 70000}, {Name: "a.bias", Offset: 70000, Size: 13}, {Name: "frozen", Offset: 70013, Size: 40}}
	return params, 70053
}

// TestAdamWAgainstFloat64 runs several AdamW steps and compares with a plain
// float64 transcription of the original's update, including bias correction,
// eps outside the correction, decoupled decay after the update, two groups
// and a skipped (grad None) tensor.
func TestAdamWAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	params, n := testLayout()
	params[1].Group = 1
	groups := []Group{{LR: 1e-3, InitialLR: 1e-3, WeightDecay: 0.01}, {LR: 5e-4, InitialLR: 5e-4, WeightDecay: 0}}
	opt := NewAdamW(params, groups, n)
	p := randSlice(r, n, 1)
	frozen := slices.Clone(p[70013:])
	ref := make([]float64, n)
	for i := range p {
		ref[i] = float64(p[i])
	}
	m, v := make([]float64, n), make([]float64, n)
	skip := []bool{false, false, true}
	for step := 1; step <= 5; step++ {
		g := randSlice(r, n, 0.1)
		gcopy := slices.Clone(g)
		opt.Step(p, g, skip)
		if !slices.Equal(g, gcopy) {
			t.Fatal("Step modified grads")
		}
		for pi, prm := range params[:2] {
			gr := groups[pi]
			ss := gr.LR * math.Sqrt(1-math.Pow(0.999, float64(step))) / (1 - math.Pow(0.9, float64(step)))
			for j := prm.Offset; j < prm.Offset+prm.Size; j++ {
				m[j] = 0.9*m[j] + 0.1*float64(g[j])
				v[j] = 0.999*v[j] + 0.001*float64(g[j])*float64(g[j])
				ref[j] -= ss * m[j] / (math.Sqrt(v[j]) + 1e-6)
				ref[j] -= gr.LR * gr.WeightDecay * ref[j]
			}
		}
	}
	worst := 0.0
	for j := 0; j < 70013; j++ {
		worst = math.Max(worst, math.Abs(float64(p[j])-ref[j]))
	}
	if worst > 2e-6 {
		t.Errorf("max abs diff vs float64 reference %.3g", worst)
	}
	if !slices.Equal(p[70013:], frozen) {
		t.Error("skipped tensor changed")
	}
	if s := opt.State(); !slices.Equal(s.Steps, []int{5, 5, 0}) {
		t.Errorf("steps %v, want [5 5 0]", s.Steps)
	}
}

func TestAdamWSerialVsParallel(t *testing.T) {
	run := func(threads int) []float32 {
		old := parallel.SetThreads(threads)
		defer parallel.SetThreads(old)
		r := rand.New(rand.NewPCG(3, 4))
		params, n := testLayout()
		opt := NewAdamW(params, []Group{{LR: 1e-3, WeightDecay: 1e-4}}, n)
		p := randSlice(r, n, 1)
		for i := 0; i < 3; i++ {
			opt.Step(p, randSlice(r, n, 1), nil)
		}
		return p
	}
	if !slices.Equal(run(1), run(4)) {
		t.Error("AdamW result depends on the thread count")
	}
}

func TestAdamWStateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	params, n := testLayout()
	groups := []Group{{LR: 1e-3, InitialLR: 2e-3, WeightDecay: 1e-4}}
	a := NewAdamW(params, groups, n)
	p := randSlice(r, n, 1)
	a.Step(p, randSlice(r, n, 1), nil)
	// A second optimizer resumed from a's state continues identically.
	b := NewAdamW(params, []Group{{}}, n)
	if err := b.LoadState(a.State()); err != nil {
		t.Fatal(err)
	}
	if b.Groups()[0] != groups[0] {
		t.Errorf("groups not restored: %+v", b.Groups()[0])
	}
	pb := slices.Clone(p)
	g := randSlice(r, n, 1)
	a.Step(p, g, nil)
	b.Step(pb, g, nil)
	if !slices.Equal(p, pb) {
		t.Error("resumed AdamW differs")
	}
	if err := b.LoadState(&State{Kind: "sgd"}); err == nil {
		t.Error("loading SGD state into AdamW: want an error")
	}
	if err := b.LoadState(&State{Kind: "adamw", Steps: []int{1}}); err == nil {
		t.Error("wrong sizes: want an error")
	}
	if err := b.SetAdamState(1, 3, make([]float32, 12), make([]float32, 13)); err == nil {
		t.Error("wrong moment size: want an error")
	}
}

// TestSGDAgainstFloat64 checks PyTorch SGD semantics: weight decay added to
// the gradient, the momentum buffer initialised to the first gradient.
func TestSGDAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	params, n := testLayout()
	groups := []Group{{LR: 0.05, WeightDecay: 1e-4}}
	opt := NewSGD(params, groups, n, 0.9)
	p := randSlice(r, n, 1)
	ref := make([]float64, n)
	buf := make([]float64, n)
	for i := range p {
		ref[i] = float64(p[i])
	}
	for step := 0; step < 4; step++ {
		g := randSlice(r, n, 0.1)
		opt.Step(p, g, nil)
		for j := range ref {
			d := float64(g[j]) + 1e-4*ref[j]
			if step == 0 {
				buf[j] = d
			} else {
				buf[j] = 0.9*buf[j] + d
			}
			ref[j] -= 0.05 * buf[j]
		}
	}
	worst := 0.0
	for j := range ref {
		worst = math.Max(worst, math.Abs(float64(p[j])-ref[j]))
	}
	if worst > 1e-6 {
		t.Errorf("max abs diff vs float64 reference %.3g", worst)
	}
	s := opt.State()
	o2 := NewSGD(params, groups, n, 0.9)
	if err := o2.LoadState(s); err != nil {
		t.Fatal(err)
	}
	p2 := slices.Clone(p)
	g := randSlice(r, n, 0.1)
	opt.Step(p, g, nil)
	o2.Step(p2, g, nil)
	if !slices.Equal(p, p2) {
		t.Error("resumed SGD differs")
	}
}

func TestClipGradNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	g := randSlice(r, 300001, 1)
	want := 0.0
	for _, x := range g {
		want += float64(x) * float64(x)
	}
	want = math.Sqrt(want)
	orig := slices.Clone(g)
	old := parallel.SetThreads(1)
	serial := GradNorm(g)
	parallel.SetThreads(4)
	par := GradNorm(g)
	parallel.SetThreads(old)
	if serial != par || math.Abs(serial-want) > 1e-9*want {
		t.Errorf("GradNorm serial %v parallel %v want %v", serial, par, want)
	}
	// Below the threshold: untouched, norm returned.
	if n := ClipGradNorm(g, want*2); n != serial || !slices.Equal(g, orig) {
		t.Error("clipping below max_norm changed the gradients")
	}
	// Above: scaled by max/(norm+1e-6) (as torch rounds it); the new norm is max_norm.
	if n := ClipGradNorm(g, 10); n != serial {
		t.Errorf("returned norm %v", n)
	}
	coef := (1 / (float32(want) + 1e-6)) * 10 // torch 1.13: reciprocal(norm+1e-6)·max_norm
	for i := range g {
		if g[i] != orig[i]*coef {
			t.Fatalf("grad %d: %v, want %v", i, g[i], orig[i]*coef)
		}
	}
	if after := GradNorm(g); math.Abs(after-10) > 1e-4 {
		t.Errorf("norm after clipping %v, want 10", after)
	}
	nan := []float32{1, float32(math.NaN())}
	if n := ClipGradNorm(nan, 1); !math.IsNaN(n) || nan[0] != 1 {
		t.Error("NaN norm: want NaN returned and gradients untouched")
	}
}

// TestGoldenSubsetClip checks the clip functions on the golden VQA gradient
// subset: the subset's own norm, and the manifest's total-norm coefficient
// reproducing the post-clip gradients.
func TestGoldenSubsetClip(t *testing.T) {
	var all, post []float32
	for _, m := range goldenParams(t, "vqa_step1") {
		all = append(all, readNpy(t, "vqa_step1_grad_preclip__"+m+".npy").F32...)
		post = append(post, readNpy(t, "vqa_step1_grad_postclip__"+m+".npy").F32...)
	}
	sub := GradNorm(all)
	if sub <= 0 || sub >= vqaStep1Norm {
		t.Fatalf("subset norm %v should be in (0, total %v)", sub, vqaStep1Norm)
	}
	g := slices.Clone(all)
	ScaleGrads(g, ClipCoef(vqaStep1Norm, 1.0))
	if d := maxAbsDiff(g, post); d > 1e-7 {
		t.Errorf("post-clip max abs diff %.3g", d)
	}
	// Clipping the subset alone to its own norm/2 halves it.
	h := slices.Clone(all)
	if n := ClipGradNorm(h, sub/2); n != sub || math.Abs(GradNorm(h)-sub/2) > 1e-5*sub {
		t.Errorf("subset clip: returned %v, new norm %v, want %v", n, GradNorm(h), sub/2)
	}
}

func TestWarmupLinear(t *testing.T) {
	s := WarmupLinear{Warmup: 4, Total: 10}
	want := map[int]float64{0: 0, 1: 0.25, 2: 0.5, 3: 0.75, 4: 1, 7: 0.5, 10: 0, 12: 0}
	for step, w := range want {
		if got := s.Factor(step); math.Abs(got-w) > 1e-15 {
			t.Errorf("factor(%d) = %v, want %v", step, got, w)
		}
	}
	// Scheduler ordering: construction sets factor(begin), each Step the next.
	groups := []Group{{InitialLR: 5e-4}, {InitialLR: 1e-3}}
	sch := NewScheduler(s, groups, 0)
	if groups[0].LR != 0 {
		t.Errorf("lr before the first update %v, want 0", groups[0].LR)
	}
	sch.Step(groups)
	if groups[0].LR != 1.25e-4 || groups[1].LR != 2.5e-4 {
		t.Errorf("first update lr %v %v, want factor(1)", groups[0].LR, groups[1].LR)
	}
	// Resume at update 7: the next update uses factor(8).
	sch = NewScheduler(s, groups, 7)
	sch.Step(groups)
	if math.Abs(groups[0].LR-5e-4*(2.0/6)) > 1e-18 || sch.Last != 8 {
		t.Errorf("resumed lr %v last %d", groups[0].LR, sch.Last)
	}
	if (WarmupLinear{Warmup: 0, Total: 10}).Factor(0) != 1 {
		t.Error("no warmup: factor(0) should be 1")
	}
}

func TestWarmupMultiStepFromVCRConfig(t *testing.T) {
	cfg, err := config.Load("../config/testdata/cfgs/vcr/base_q2a_4x16G_fp32.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	// 1000 batches per epoch, accumulation 4: milestones 14·250, 18·250.
	f, begin, err := ScheduleFromConfig(&cfg.Train, 1000)
	if err != nil {
		t.Fatal(err)
	}
	s := f.(WarmupMultiStep)
	if begin != 0 || !slices.Equal(s.Milestones, []int{3500, 4500}) || s.WarmupIters != 1000 || s.WarmupFactor != 0 {
		t.Fatalf("schedule %+v begin %d", s, begin)
	}
	for step, w := range map[int]float64{0: 0, 1: 0.001, 500: 0.5, 1000: 1, 3499: 1, 3500: 0.1, 4499: 0.1, 4500: 0.01} {
		if got := s.Factor(step); math.Abs(got-w) > 1e-12 {
			t.Errorf("factor(%d) = %v, want %v", step, got, w)
		}
	}
	c := WarmupMultiStep{WarmupFactor: 1.0 / 3, WarmupIters: 10, Method: "constant", Gamma: 0.1}
	if c.Factor(3) != 1.0/3 || c.Factor(10) != 1 {
		t.Error("constant warmup")
	}
	cfg.Train.BeginEpoch = 2
	if _, begin, _ := ScheduleFromConfig(&cfg.Train, 1001); begin != 500 {
		t.Errorf("begin = %d, want int(2·1001/4) = 500", begin)
	}
	for _, bad := range []string{"plateau", "cosine"} {
		cfg.Train.LRSchedule = bad
		if _, _, err := ScheduleFromConfig(&cfg.Train, 10); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestPlateau(t *testing.T) {
	groups := []Group{{LR: 1}}
	p := NewPlateau(0.1)
	// epoch: metric -> lr after the call
	seq := []struct{ metric, lr float64 }{
		{0.5, 1},     // best
		{0.5, 1},     // bad 1 (not > best·(1+1e-4))
		{0.50001, 1}, // bad 2 > patience 1 -> reduce, cooldown 2
	}
	seq[2].lr = 0.1
	seq = append(seq,
		struct{ metric, lr float64 }{0.4, 0.1},  // cooldown 2->1, bad reset
		struct{ metric, lr float64 }{0.4, 0.1},  // cooldown 1->0, bad reset
		struct{ metric, lr float64 }{0.4, 0.1},  // bad 1
		struct{ metric, lr float64 }{0.4, 0.01}, // bad 2 -> reduce
		struct{ metric, lr float64 }{0.9, 0.01}, // improvement during cooldown
	)
	for i, s := range seq {
		p.Step(s.metric, groups)
		if math.Abs(groups[0].LR-s.lr) > 1e-15 {
			t.Fatalf("epoch %d: lr %v, want %v", i, groups[0].LR, s.lr)
		}
	}
	// eps: reductions smaller than 1e-8 are skipped.
	tiny := []Group{{LR: 1e-8}}
	q := NewPlateau(0.5)
	for i := 0; i < 3; i++ {
		q.Step(1, tiny)
	}
	if tiny[0].LR != 1e-8 {
		t.Errorf("tiny lr reduced to %v", tiny[0].LR)
	}
}

func TestBuildGroupsAndConfig(t *testing.T) {
	params := []Param{{Name: "vlbert.a", Size: 2}, {Name: "head.b", Offset: 2, Size: 3}, {Name: "vlbert.c", Offset: 5, Size: 1}}
	groups, err := BuildGroups(params, config.LRMults{{Key: "head", Mult: 10}}, 1e-4, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].LR != 1e-3 || groups[1].InitialLR != 1e-4 || groups[0].WeightDecay != 0.01 {
		t.Errorf("groups %+v", groups)
	}
	if params[0].Group != 1 || params[1].Group != 0 || params[2].Group != 1 {
		t.Errorf("assignment %+v", params)
	}
	if _, err := BuildGroups(params, config.LRMults{{Key: "vlbert", Mult: 1}, {Key: ".a", Mult: 2}}, 1, 0); err == nil {
		t.Error("a parameter in two groups: want an error")
	}
	cfg, err := config.Load("../../testdata/golden/vqa_small.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	opt, err := NewFromConfig(&cfg.Train, params, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := opt.(*AdamW); !ok || opt.Groups()[0].LR != 5e-4 || BaseLR(&cfg.Train, 1) != 5e-4 {
		t.Errorf("optimizer %T groups %+v", opt, opt.Groups())
	}
	cfg.Train.Optimizer = "Adagrad"
	if _, err := NewFromConfig(&cfg.Train, params, 6, 1); err == nil {
		t.Error("unsupported optimizer: want an error")
	}
}

func TestLayoutChecks(t *testing.T) {
	for _, params := range [][]Param{
		{{Offset: 0, Size: 5}, {Offset: 4, Size: 2}}, // overlap
		{{Offset: 0, Size: 7}},                       // past the arena
		{{Offset: 0, Size: 1, Group: 3}},             // missing group
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: want a panic", params)
				}
			}()
			NewAdamW(params, []Group{{}}, 6)
		}()
	}
	defer func() {
		if recover() == nil {
			t.Error("short grads: want a panic")
		}
	}()
	NewSGD([]Param{{Size: 2}}, []Group{{}}, 2, 0).Step(make([]float32, 2), make([]float32, 1), nil)
}

func BenchmarkAdamWStep(b *testing.B) {
	const n = 1 << 22
	params := []Param{{Name: "w", Size: n}}
	opt := NewAdamW(params, []Group{{LR: 1e-4, WeightDecay: 1e-4}}, n)
	r := rand.New(rand.NewPCG(1, 1))
	p, g := randSlice(r, n, 1), randSlice(r, n, 1)
	b.SetBytes(n * 4)
	for b.Loop() {
		opt.Step(p, g, nil)
	}
}

// TestAdamAgainstFloat64 checks torch.optim.Adam semantics: L2 decay in the
// gradient, eps after the bias correction of v.
func TestAdamAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	params, n := testLayout()
	groups := []Group{{LR: 1e-3, WeightDecay: 0.01}}
	opt := NewAdam(params, groups, n)
	p := randSlice(r, n, 1)
	ref := make([]float64, n)
	m, v := make([]float64, n), make([]float64, n)
	for i := range p {
		ref[i] = float64(p[i])
	}
	for step := 1; step <= 4; step++ {
		g := randSlice(r, n, 0.1)
		opt.Step(p, g, nil)
		bc1, bc2 := 1-math.Pow(0.9, float64(step)), 1-math.Pow(0.999, float64(step))
		for j := range ref {
			gj := float64(g[j]) + 0.01*ref[j]
			m[j] = 0.9*m[j] + 0.1*gj
			v[j] = 0.999*v[j] + 0.001*gj*gj
			ref[j] -= 1e-3 / bc1 * m[j] / (math.Sqrt(v[j])/math.Sqrt(bc2) + 1e-8)
		}
	}
	worst := 0.0
	for j := range ref {
		worst = math.Max(worst, math.Abs(float64(p[j])-ref[j]))
	}
	if worst > 2e-6 {
		t.Errorf("max abs diff vs float64 reference %.3g", worst)
	}
	b := NewAdam(params, groups, n)
	if err := b.LoadState(opt.State()); err != nil {
		t.Fatal(err)
	}
	if err := b.LoadState(NewAdamW(params, groups, n).State()); err == nil {
		t.Error("loading AdamW state into Adam: want an error")
	}
	var _ Optimizer = opt
}
