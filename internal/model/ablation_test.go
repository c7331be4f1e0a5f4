package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data"
)

// vcrAblation is tinyVCRConfig(sigmoid) without the CNN regulariser, edited.
func vcrAblation(edit func(c *Config)) Config {
	c := tinyVCRConfig(true)
	c.CNNRegLossTop = false
	edit(&c)
	return c
}

var vcrAblations = []struct {
	name string
	edit func(c *Config)
}{
	{"NO_GROUNDING", func(c *Config) { c.NoGrounding = true }},
	{"NO_OBJ_ATTENTION", func(c *Config) { c.NoObjAttention = true }},
	{"BLIND", func(c *Config) { c.Blind, c.VisualLN = true, false }},
	{"IMAGE_SEMANTIC", func(c *Config) { c.ImageSemantic = true }},
	{"object_word_embed_mode=1", func(c *Config) { c.ObjectWordEmbedMode = 1 }},
	{"object_word_embed_mode=3", func(c *Config) { c.ObjectWordEmbedMode = 3 }},
	{"ANSWER_FIRST", func(c *Config) { c.VCRLayout = data.VCRAnswerFirst }},
	{"QA_ONE_SENT", func(c *Config) { c.VCRLayout = data.VCROneSentence }},
	{"IMAGE_SEMANTIC+CNN_LOSS_TOP", func(c *Config) { c.ImageSemantic, c.CNNRegLossTop = true, true }},
}

// TestGradCheckAblations checks every VCR ablation and VQA NO_GROUNDING by
// central differences in training mode.
func TestGradCheckAblations(t *testing.T) {
	for _, ab := range vcrAblations {
		t.Run(ab.name, func(t *testing.T) {
			mod, err := New(vcrAblation(ab.edit))
			if err != nil {
				t.Fatal(err)
			}
			randomizeParams(mod, 17)
			m := mod.Base()
			m.Train, m.Seed, m.Step = true, 2, 5
			loss, backward := moduleLoss(t, mod)
			gradCheck(t, mod, loss, backward, 8)
		})
	}
	t.Run("VQA/NO_GROUNDING", func(t *testing.T) {
		mod, err := New(switchConfig(TaskVQA, func(c *Config) { c.NoGrounding = true }))
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(mod, 17)
		mod.Base().Train = true
		loss, backward := moduleLoss(t, mod)
		gradCheck(t, mod, loss, backward, 8)
	})
}

// TestAblationParams states the parameters each VCR ablation registers.
func TestAblationParams(t *testing.T) {
	params := func(edit func(c *Config)) map[string][]int {
		mod, err := New(vcrAblation(edit))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]int{}
		for _, p := range mod.Base().Params.List {
			out[p.Name] = p.Shape
		}
		return out
	}
	blind := params(func(c *Config) { c.Blind, c.VisualLN = true, false })
	for name := range blind {
		if strings.HasPrefix(name, "image_feature_extractor.") || strings.HasPrefix(name, "object_linguistic_embeddings") {
			t.Errorf("BLIND model has %s", name)
		}
	}
	mod, _ := New(vcrAblation(func(c *Config) { c.Blind, c.VisualLN = true, false }))
	if q, _ := mod.Base().Params.Lookup("vlbert._module.visual_scale_text"); q == nil || !q.Frozen {
		t.Error("BLIND: visual_scale_text not frozen (fix_params)")
	}
	if got := params(func(c *Config) { c.ObjectWordEmbedMode = 1 })["object_linguistic_embeddings.weight"]; !slices.Equal(got, []int{81, 8}) {
		t.Errorf("mode 1: object_linguistic_embeddings %v, want [81 8]", got)
	}
	if _, ok := params(func(c *Config) { c.ObjectWordEmbedMode = 3 })["object_linguistic_embeddings.weight"]; ok {
		t.Error("mode 3 has object_linguistic_embeddings")
	}
	sem := params(func(c *Config) { c.ImageSemantic = true })
	if !slices.Equal(sem["image_feature_extractor.object_embed.weight"], []int{81, 128}) || !slices.Equal(sem["image_feature_extractor.obj_downsample.1.weight"], []int{8, 4224}) {
		t.Errorf("IMAGE_SEMANTIC: object_embed %v, obj_downsample %v", sem["image_feature_extractor.object_embed.weight"], sem["image_feature_extractor.obj_downsample.1.weight"])
	}
}

// TestAblationSemantics states what each ablation changes in the forward.
func TestAblationSemantics(t *testing.T) {
	build := func(edit func(c *Config)) *VCR {
		m, err := NewVCR(vcrAblation(edit))
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(m, 23)
		return m
	}
	fw := func(m *VCR, bt *VCRBatch) []float32 {
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(o.Logits)
	}
	batch := func() *VCRBatch { return vcrBatch(rand.New(rand.NewPCG(7, 7))) }

	// NO_GROUNDING: every token sees box 0, as if every tag were -1.
	ng, plain := build(func(c *Config) { c.NoGrounding = true }), build(func(*Config) {})
	untagged := batch()
	for i := range untagged.QTags {
		untagged.QTags[i] = -1
	}
	for i := range untagged.ATags {
		untagged.ATags[i] = -1
	}
	if a, b := fw(ng, batch()), fw(plain, untagged); !slices.Equal(a, b) {
		t.Errorf("NO_GROUNDING %v, untagged batch %v", a, b)
	}

	// NO_OBJ_ATTENTION and BLIND: the sequence is the text and [END] only.
	for _, ab := range []func(c *Config){func(c *Config) { c.NoObjAttention = true }, func(c *Config) { c.Blind, c.VisualLN = true, false }} {
		m := build(ab)
		o, err := m.Forward(batch())
		if err != nil {
			t.Fatal(err)
		}
		if m.SeqLen() != o.Lt+1 {
			t.Errorf("sequence length %d with text length %d: objects still attended", m.SeqLen(), o.Lt)
		}
	}
	// BLIND: the box features do not matter at all.
	bl := build(func(c *Config) { c.Blind, c.VisualLN = true, false })
	other := batch()
	for i := range other.Boxes.Data {
		if i%boxStride >= 4 && other.Boxes.Data[i] >= 0 {
			other.Boxes.Data[i] += 1
		}
	}
	if a, b := fw(bl, batch()), fw(bl, other); !slices.Equal(a, b) {
		t.Error("BLIND: logits depend on the box features")
	}

	// object_word_embed_mode 1: each slot's linguistic part is its class's row
	// (padding class -1 clamped to 0); mode 3: the mean word embedding of the
	// row's text without [CLS]/[SEP].
	m1 := build(func(c *Config) { c.ObjectWordEmbedMode = 1 })
	bt := batch()
	fw(m1, bt)
	H, lo, NB := 8, m1.vis.lo, bt.Boxes.NB
	ling := m1.Params.View("object_linguistic_embeddings.weight")
	for r := 0; r < 2*VCRChoices; r++ {
		for j := 0; j < lo; j++ {
			cl := max(bt.Classes[(r/VCRChoices)*NB+j], 0)
			if !slices.Equal(m1.c.in.ObjLing[(r*lo+j)*H:(r*lo+j+1)*H], ling[int(cl)*H:int(cl+1)*H]) {
				t.Fatalf("mode 1: row %d slot %d is not class %d's embedding", r, j, cl)
			}
		}
	}
	m3 := build(func(c *Config) { c.ObjectWordEmbedMode = 3 })
	fw(m3, bt)
	in := &m3.c.in
	word := m3.Params.View("vlbert._module.word_embeddings.weight")
	for r := 0; r < in.B; r++ {
		mean := make([]float64, H)
		n := 0
		for t := 0; t < in.Lt; t++ {
			if id := in.TextIDs[r*in.Lt+t]; in.TextMask[r*in.Lt+t] && id != ClsID && id != SepID {
				for i := range mean {
					mean[i] += float64(word[int(id)*H+i])
				}
				n++
			}
		}
		for j := 0; j < lo; j++ {
			for i := range mean {
				if got := in.ObjLing[(r*lo+j)*H+i]; math.Abs(float64(got)-mean[i]/float64(n)) > 1e-6 {
					t.Fatalf("mode 3: row %d slot %d [%d] = %g, want %g", r, j, i, got, mean[i]/float64(n))
				}
			}
		}
	}

	// VQA NO_GROUNDING: the text tokens' visual features are zeros.
	vq, err := NewVQA(switchConfig(TaskVQA, func(c *Config) { c.NoGrounding = true }))
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(vq, 3)
	loss, _ := moduleLoss(t, vq)
	loss()
	if slices.ContainsFunc(vq.st.out.TextVisual, func(v float32) bool { return v != 0 }) {
		t.Error("VQA NO_GROUNDING: text visual features are not zero")
	}
}

// TestRoIRegulariser checks VCR's e2e CNN regulariser without CNN_LOSS_TOP
// (FastRCNN.regularizing_predictor on the RoI features): its parameters, its loss
// (a mean cross-entropy over the valid boxes), every parameter gradient and the
// RoI features' gradient by central differences.
func TestRoIRegulariser(t *testing.T) {
	c := vcrAblation(func(c *Config) { c.E2E, c.CNNRegLossRoI, c.CNNLossWeight = true, true, 0.7 })
	m, err := NewVCR(c)
	if err != nil {
		t.Fatal(err)
	}
	names := m.Params.Names()
	if i := slices.Index(names, "image_feature_extractor.regularizing_predictor.weight"); i < 0 || names[i+2] != "image_feature_extractor.obj_downsample.1.weight" {
		t.Fatalf("regularizing_predictor missing or not before obj_downsample: %v", names[:4])
	}
	randomizeParams(m, 29)
	m.Train, m.Seed, m.Step = true, 1, 1
	bt := vcrBatch(rand.New(rand.NewPCG(7, 7)))
	bt.Boxes.FeatGrad = make([]float32, bt.Boxes.B*bt.Boxes.NB*DefaultFeatureDim)
	loss := func() float64 {
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		return float64(o.Total)
	}
	o, _ := m.Forward(bt)
	if o.CNNLoss <= 0 || math.Abs(float64(o.Total-(o.AnsLoss+0.7*o.CNNLoss))) > 1e-5 {
		t.Errorf("CNN loss %g, total %g, ans %g", o.CNNLoss, o.Total, o.AnsLoss)
	}
	gradCheck(t, m, loss, func() { m.Backward(1) }, 3)
	m.ZeroGrad()
	loss()
	m.Backward(1)
	g := slices.Clone(bt.Boxes.FeatGrad)
	rng := rand.New(rand.NewPCG(8, 8))
	checked := 0
	for k := 0; k < 30; k++ {
		b, j, f := rng.IntN(bt.Boxes.B), rng.IntN(bt.Boxes.NB), rng.IntN(DefaultFeatureDim)
		i := (b*bt.Boxes.NB+j)*boxStride + 4 + f
		if bt.Boxes.Data[(b*bt.Boxes.NB+j)*boxStride+3] < -0.5 {
			continue
		}
		orig := bt.Boxes.Data[i]
		const eps = 1e-2
		bt.Boxes.Data[i] = orig + eps
		lp := loss()
		bt.Boxes.Data[i] = orig - eps
		lm := loss()
		bt.Boxes.Data[i] = orig
		fd := (lp - lm) / (2 * eps)
		gi := g[(b*bt.Boxes.NB+j)*DefaultFeatureDim+f]
		if math.Abs(fd-float64(gi)) > 2e-3+3e-2*math.Abs(fd) {
			t.Errorf("feature [%d,%d,%d]: analytic %g, central difference %g", b, j, f, gi, fd)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no valid box sampled")
	}
}
