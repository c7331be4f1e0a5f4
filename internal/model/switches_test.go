package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/heads"
	"github.com/vlbert/vlbert/internal/weights"
)

// moduleLoss runs one labelled forward of a tiny batch for any task module and
// returns the loss and the matching backward.
func moduleLoss(t *testing.T, mod Module) (func() float64, func()) {
	t.Helper()
	check := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	switch m := mod.(type) {
	case *VQA:
		rng := rand.New(rand.NewPCG(2, 2))
		bt := &VQABatch{Boxes: randomBoxes(rng, []int{3, 2}, 4), LQ: 5,
			Question: []int32{7, 8, 9, 0, 0, 11, 0, 12, 0, 0}, Label: []float32{0, 0.3, 1, 0, 0, 0.6, 0, 0, 0.9, 0}}
		return func() float64 { o, err := m.Forward(bt); check(err); return float64(o.Loss) }, func() { m.Backward(1) }
	case *VCR:
		bt := vcrBatch(rand.New(rand.NewPCG(7, 7)))
		return func() float64 { o, err := m.Forward(bt); check(err); return float64(o.Total) }, func() { m.Backward(1) }
	case *RefCOCO:
		rng := rand.New(rand.NewPCG(5, 5))
		bt := &RefCOCOBatch{Boxes: randomBoxes(rng, []int{4, 2}, 5), LE: 4,
			Expression: []int32{7, 8, 9, 0, 11, 12, 0, 0}, Label: []float32{1, 0, 1, 0, -1, 0, 1, -1, -1, -1}}
		return func() float64 { o, err := m.Forward(bt); check(err); return float64(o.Loss) }, func() { m.Backward(1) }
	}
	p, ok := AsPretrain(mod)
	if !ok {
		t.Fatalf("no batch for %T", mod)
	}
	bt := pretrainBatch(rand.New(rand.NewPCG(4, 4)), p.Cfg.Task == TaskPretrainMultitask)
	return func() float64 { o, err := p.Forward(bt); check(err); return float64(o.Total) }, func() { p.Backward(1) }
}

// switchConfig is tinyConfig for task (VCR: its own tiny config) with edit applied.
func switchConfig(task Task, edit func(c *Config)) Config {
	c := tinyConfig(task)
	if task == TaskVCR {
		c = tinyVCRConfig(true)
	}
	edit(&c)
	return c
}

// TestGradCheckVLBERTSwitches checks the NETWORK.VLBERT switches by central
// differences, in training mode (dropout on), in every module they reach.
func TestGradCheckVLBERTSwitches(t *testing.T) {
	switches := []struct {
		name string
		edit func(c *Config)
	}{
		{"visual_size!=hidden_size", func(c *Config) { c.VisualSize, c.ImageFinalDim = 6, 6 }},
		{"visual_ln=false", func(c *Config) { c.VisualLN = false }},
		{"hidden_act=relu", func(c *Config) { c.HiddenAct = heads.ActReLU }},
		{"hidden_act=swish", func(c *Config) { c.HiddenAct = heads.ActSwish }},
		{"position_padding_idx=1", func(c *Config) { c.PositionShift = 2 }},
		{"word_embedding_frozen", func(c *Config) { c.WordEmbeddingFrozen, c.VocabSize = true, numSpecialWords+20 }},
		{"pos_embedding_frozen", func(c *Config) { c.PosEmbeddingFrozen = true }},
	}
	tasks := []Task{TaskVQA, TaskVCR, TaskRefCOCO, TaskPretrain, TaskPretrainMultitask}
	for _, sw := range switches {
		for _, task := range tasks {
			c := switchConfig(task, sw.edit)
			if task == TaskPretrainMultitask && c.VisualSize != c.HiddenSize {
				continue // refused: see TestVLBERTSwitchParams
			}
			if (testing.Short() || sw.name == "pos_embedding_frozen") && task != TaskVQA && task != TaskPretrain {
				continue // pos_embedding_frozen: frozen in pretraining, ignored elsewhere
			}
			t.Run(sw.name+"/"+task.String(), func(t *testing.T) {
				mod, err := New(c)
				if err != nil {
					t.Fatal(err)
				}
				randomizeParams(mod, 5)
				m := mod.Base()
				m.Train, m.Seed, m.Step = true, 3, 2
				m.copySpecialWords()
				loss, backward := moduleLoss(t, mod)
				gradCheck(t, mod, loss, backward, 4)
			})
		}
	}
}

// TestVLBERTSwitchParams states which parameters each switch adds, removes or
// freezes, as common/visual_linguistic_bert.py registers them.
func TestVLBERTSwitchParams(t *testing.T) {
	shape := func(m *Encoder, name string) []int {
		q, ok := m.Params.Lookup(name)
		if !ok {
			return nil
		}
		return q.Shape
	}
	build := func(task Task, edit func(c *Config)) *Encoder {
		mod, err := New(switchConfig(task, edit))
		if err != nil {
			t.Fatal(err)
		}
		return mod.Base()
	}
	// visual_size != hidden_size: visual_1x1_{text,object} Linear(6→8) after the
	// embedding LayerNorm, before visual_ln_*.
	m := build(TaskVQA, func(c *Config) { c.VisualSize, c.ImageFinalDim = 6, 6 })
	if got := shape(m, "vlbert.visual_1x1_text.weight"); !slices.Equal(got, []int{8, 6}) {
		t.Errorf("visual_1x1_text.weight shape %v, want [8 6]", got)
	}
	names := m.Params.Names()
	if i, j := slices.Index(names, "vlbert.visual_1x1_object.bias"), slices.Index(names, "vlbert.visual_ln_text.weight"); i < 0 || j != i+1 {
		t.Errorf("visual_1x1_object.bias at %d, visual_ln_text.weight at %d: want adjacent", i, j)
	}
	if got := shape(m, "image_feature_extractor.obj_downsample.1.weight"); !slices.Equal(got, []int{6, 4096}) {
		t.Errorf("obj_downsample to IMAGE_FINAL_DIM = visual_size: shape %v", got)
	}
	if shape(build(TaskVQA, func(*Config) {}), "vlbert.visual_1x1_text.weight") != nil {
		t.Error("visual_1x1_text exists with visual_size == hidden_size")
	}
	// visual_ln false: 0-d visual_scale_{text,object} instead of the LayerNorms,
	// initialised to visual_scale_{text,object}_init.
	m = build(TaskVQA, func(c *Config) { c.VisualLN, c.VisualScaleTextInit, c.VisualScaleObjectInit = false, 0.5, 0.25 })
	m.InitWeights(1)
	if q, ok := m.Params.Lookup("vlbert.visual_scale_text"); !ok || len(q.Shape) != 0 || q.Size != 1 {
		t.Errorf("visual_scale_text: %+v, want a 0-d parameter", q)
	}
	if v := m.Params.View("vlbert.visual_scale_text")[0]; v != 0.5 || m.Params.View("vlbert.visual_scale_object")[0] != 0.25 {
		t.Errorf("visual_scale init %g, want 0.5", v)
	}
	if shape(m, "vlbert.visual_ln_text.weight") != nil {
		t.Error("visual_ln_text exists with visual_ln false")
	}
	// word_embedding_frozen: special_word_embeddings [1000, H] right after the
	// pooler (VCR), word_embeddings frozen, special rows a copy of the first 1000
	// words outside pretraining.
	m = build(TaskVCR, func(c *Config) { c.WordEmbeddingFrozen, c.VocabSize = true, 1200 })
	m.InitWeights(2)
	names = m.Params.Names()
	if i := slices.Index(names, "vlbert._module.special_word_embeddings.weight"); i < 0 || names[i-1] != "vlbert._module.pooler.dense.bias" {
		t.Errorf("special_word_embeddings at %d of %v", i, names)
	}
	if q, _ := m.Params.Lookup("vlbert._module.word_embeddings.weight"); !q.Frozen {
		t.Error("word_embeddings not frozen")
	}
	word, special := m.Params.View("vlbert._module.word_embeddings.weight"), m.Params.View("vlbert._module.special_word_embeddings.weight")
	if !slices.Equal(special, word[:len(special)]) {
		t.Error("special_word_embeddings is not a copy of word_embeddings[:1000]")
	}
	// pos_embedding_frozen: read by VisualLinguisticBertForPretraining only.
	for _, task := range []Task{TaskVQA, TaskPretrain} {
		m = build(task, func(c *Config) { c.PosEmbeddingFrozen = true })
		q, _ := m.Params.Lookup("vlbert.position_embeddings.weight")
		if want := task == TaskPretrain; q.Frozen != want {
			t.Errorf("%v: position_embeddings frozen %v, want %v", task, q.Frozen, want)
		}
	}
	// The multitask module fails in the original with visual_size != hidden_size.
	if _, err := New(switchConfig(TaskPretrainMultitask, func(c *Config) { c.VisualSize, c.ImageFinalDim = 6, 6 })); err == nil {
		t.Error("multitask pretraining accepted visual_size != hidden_size")
	}
}

// TestPositionPaddingIdx: position_padding_idx p shifts every position id by p+1,
// so a model with p = 1 equals one with p = -1 whose position table is the first
// model's table moved up by two rows.
func TestPositionPaddingIdx(t *testing.T) {
	shifted, err := NewVQA(switchConfig(TaskVQA, func(c *Config) { c.PositionShift = 2 }))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := NewVQA(tinyConfig(TaskVQA))
	randomizeParams(shifted, 9)
	copy(plain.Params.Data, shifted.Params.Data)
	H := plain.Cfg.HiddenSize
	pos := plain.Params.View("vlbert.position_embeddings.weight")
	copy(pos, shifted.Params.View("vlbert.position_embeddings.weight")[2*H:])
	lossS, _ := moduleLoss(t, shifted)
	lossP, _ := moduleLoss(t, plain)
	a, b := lossS(), lossP()
	if a != b || !slices.Equal(shifted.st.out.Logits, plain.st.out.Logits) {
		t.Errorf("shifted model loss %g, plain model with moved table %g", a, b)
	}
}

// TestWordEmbeddingFrozenRows: with word_embedding_frozen, ids below 1000 read
// special_word_embeddings (the trainable copy) and the rest read the frozen
// word_embeddings; only special rows of ids in the batch get gradients.
func TestWordEmbeddingFrozenRows(t *testing.T) {
	mod, err := New(switchConfig(TaskPretrain, func(c *Config) { c.WordEmbeddingFrozen, c.VocabSize = true, 1100 }))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := AsPretrain(mod)
	randomizeParams(m, 3)
	H := m.Cfg.HiddenSize
	ids := []int32{101, 7, 1050, 102}
	out := make([]float32, len(ids)*H)
	m.wordForward(out, ids, len(ids), H)
	word, special := m.Params.View("vlbert.word_embeddings.weight"), m.Params.View("vlbert.special_word_embeddings.weight")
	for i, id := range ids {
		src := word
		if id < numSpecialWords {
			src = special
		}
		if !slices.Equal(out[i*H:(i+1)*H], src[int(id)*H:int(id+1)*H]) {
			t.Errorf("id %d: wrong table", id)
		}
	}
	m.ZeroGrad()
	loss, backward := moduleLoss(t, mod)
	loss()
	backward()
	if g := m.Params.GradView("vlbert.word_embeddings.weight"); slices.ContainsFunc(g, func(v float32) bool { return v != 0 }) {
		t.Error("frozen word_embeddings (also the tied MLM decoder) got a gradient")
	}
	gs := m.Params.GradView("vlbert.special_word_embeddings.weight")
	if norm := rowNorm(gs, 101, H); norm == 0 {
		t.Error("special row of [CLS] has no gradient")
	}
	if norm := rowNorm(gs, 999, H); norm != 0 {
		t.Error("special row 999 (unused) has a gradient")
	}
}

func rowNorm(g []float32, row, H int) float64 {
	var s float64
	for _, v := range g[row*H : (row+1)*H] {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

// TestVisualScale: with visual_ln false the visual features enter scaled by the
// visual_scale parameters; at scale 0 (the init) the box features do not matter.
func TestVisualScale(t *testing.T) {
	m, err := NewVQA(switchConfig(TaskVQA, func(c *Config) { c.VisualLN = false }))
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(m, 4)
	loss, _ := moduleLoss(t, m)
	m.Params.View("vlbert.visual_scale_text")[0], m.Params.View("vlbert.visual_scale_object")[0] = 0, 0
	base := loss()
	logits := slices.Clone(m.st.out.Logits)
	clear(m.Params.View("image_feature_extractor.obj_downsample.1.bias"))
	for i := range m.Params.View("image_feature_extractor.obj_downsample.1.weight") {
		m.Params.View("image_feature_extractor.obj_downsample.1.weight")[i] *= 3
	}
	if l := loss(); l != base || !slices.Equal(logits, m.st.out.Logits) {
		t.Errorf("scale 0: loss %g changed to %g when the visual features changed", base, l)
	}
	m.Params.View("vlbert.visual_scale_object")[0] = 0.5
	if l := loss(); l == base {
		t.Error("scale 0.5: the visual features have no effect")
	}
}

// TestLoadSwitchParams loads the switches' parameters as the original saves them
// (testdata/gen_switch_params.py: torch.save, a 0-d visual_scale_text).
func TestLoadSwitchParams(t *testing.T) {
	m, err := NewVQA(switchConfig(TaskVQA, func(c *Config) {
		c.VisualLN, c.WordEmbeddingFrozen, c.VocabSize, c.VisualSize, c.ImageFinalDim = false, true, 1000, 6, 6
	}))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := weights.ReadTorch("testdata/switch_params.pth")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.LoadTorchStateDict(ck.StateDict, "switch_params.pth", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unexpected) != 0 {
		t.Errorf("unexpected keys %v", rep.Unexpected)
	}
	if v := m.Params.View("vlbert.visual_scale_text")[0]; v != 0.5 {
		t.Errorf("visual_scale_text = %g, want 0.5", v)
	}
	if v := m.Params.View("vlbert.special_word_embeddings.weight")[999*8+7]; v != float32(999*8+7)/1000 {
		t.Errorf("special_word_embeddings[999,7] = %g", v)
	}
	if v := m.Params.View("vlbert.visual_1x1_text.weight")[47]; v != 0.125 {
		t.Errorf("visual_1x1_text.weight[7,5] = %g", v)
	}
}
