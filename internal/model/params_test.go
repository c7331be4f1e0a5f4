package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestParamTableKeys(t *testing.T) {
	m, err := NewPretrain(smallConfig(TaskPretrain))
	if err != nil {
		t.Fatal(err)
	}
	p := m.Params
	if len(p.List) != 60 {
		t.Errorf("%d trainable tensors, the original pretraining module has 60", len(p.List))
	}
	// Order is the original named_parameters() order (optimizer state indices).
	if p.List[0].Name != "image_feature_extractor.obj_downsample.1.weight" || p.List[59].Name != "vlbert.mvrc_head.region_cls_pred.bias" {
		t.Errorf("order: first %s last %s", p.List[0].Name, p.List[59].Name)
	}
	// The decoder is tied: same storage as the word embeddings.
	dec, word := p.View("vlbert.mlm_head.predictions.decoder.weight"), p.View("vlbert.word_embeddings.weight")
	if &dec[0] != &word[0] || len(dec) != len(word) {
		t.Error("decoder weight does not share the word embedding storage")
	}
	if &p.GradView("vlbert.mlm_head.predictions.decoder.weight")[0] != &p.GradView("vlbert.word_embeddings.weight")[0] {
		t.Error("decoder gradient does not share the word embedding gradient")
	}
	// Views tile the arena exactly.
	off := 0
	for _, q := range p.List {
		if q.Offset != off {
			t.Fatalf("%s at offset %d, want %d", q.Name, q.Offset, off)
		}
		off += q.Size
	}
	if off != len(p.Data) || len(p.Grad) != len(p.Data) {
		t.Errorf("arena %d/%d floats, table %d", len(p.Data), len(p.Grad), off)
	}
	vqa, _ := NewVQA(smallConfig(TaskVQA))
	if len(vqa.Params.List) != 51 {
		t.Errorf("VQA: %d tensors, want 51", len(vqa.Params.List))
	}
	multi, _ := NewPretrainMultitask(smallConfig(TaskPretrainMultitask))
	if _, ok := multi.Params.Lookup("aux_text_visual_embedding.weight"); !ok {
		t.Error("multitask model lacks aux_text_visual_embedding")
	}
}

func stateDictOf(mod Module) map[string]StateTensor {
	m := mod.Base()
	sd := map[string]StateTensor{}
	for _, q := range m.Params.List {
		sd["module."+q.Name] = StateTensor{Shape: q.Shape, F32: m.Params.Data[q.Offset : q.Offset+q.Size]}
	}
	return sd
}

func TestLoadStateDictErrors(t *testing.T) {
	src, _ := NewVQA(tinyConfig(TaskVQA))
	src.InitWeights(3)
	dst, _ := NewVQA(tinyConfig(TaskVQA))
	sd := stateDictOf(src)
	if _, err := dst.Params.LoadStateDict(sd, "a.model", true); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst.Params.Data, src.Params.Data) {
		t.Error("loaded values differ")
	}

	bad := stateDictOf(src)
	delete(bad, "module.final_mlp.2.bias")
	bad["module.vlbert.pooler.dense.weight"] = StateTensor{Shape: []int{8, 8}, F32: make([]float32, 64)}
	_, err := dst.Params.LoadStateDict(bad, "b.model", true)
	if err == nil || !strings.Contains(err.Error(), "b.model") || !strings.Contains(err.Error(), `"final_mlp.2.bias"`) ||
		!strings.Contains(err.Error(), `"module.vlbert.pooler.dense.weight"`) {
		t.Errorf("missing/unexpected: err = %v", err)
	}
	rep, err := dst.Params.LoadStateDict(bad, "b.model", false)
	if err != nil || len(rep.Missing) != 1 || len(rep.Unexpected) != 1 {
		t.Errorf("non-strict: rep %+v err %v", rep, err)
	}

	shape := stateDictOf(src)
	shape["module.final_mlp.2.weight"] = StateTensor{Shape: []int{6, 8}, F32: make([]float32, 48)}
	_, err = dst.Params.LoadStateDict(shape, "c.model", true)
	if err == nil || !strings.Contains(err.Error(), "c.model") || !strings.Contains(err.Error(), "[6 8]") {
		t.Errorf("shape mismatch: err = %v", err)
	}
	ints := stateDictOf(src)
	ints["module.final_mlp.2.bias"] = StateTensor{Shape: []int{5}}
	if _, err = dst.Params.LoadStateDict(ints, "d.model", true); err == nil || !strings.Contains(err.Error(), "not a float tensor") {
		t.Errorf("int tensor: err = %v", err)
	}
}

func TestInitWeights(t *testing.T) {
	m, _ := NewPretrain(smallConfig(TaskPretrain))
	m.InitWeights(7)
	p := m.Params
	for _, name := range []string{"vlbert.visual_ln_text.weight", "vlbert.visual_ln_object.weight", "object_mask_visual_embedding.weight", "vlbert.encoder.layer.1.output.dense.bias"} {
		for _, v := range p.View(name) {
			if v != 0 {
				t.Fatalf("%s not zero-initialised", name)
			}
		}
	}
	for _, v := range p.View("vlbert.embedding_LayerNorm.weight") {
		if v != 1 {
			t.Fatal("LayerNorm gamma not 1")
		}
	}
	w := p.View("vlbert.word_embeddings.weight")
	var s, s2 float64
	for _, v := range w {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	mean, std := s/float64(len(w)), math.Sqrt(s2/float64(len(w)))
	if math.Abs(mean) > 1e-3 || math.Abs(std-0.02) > 1e-3 {
		t.Errorf("word embeddings mean %g std %g, want N(0, 0.02)", mean, std)
	}
	m2, _ := NewPretrain(smallConfig(TaskPretrain))
	m2.InitWeights(7)
	if !slices.Equal(m.Params.Data, m2.Params.Data) {
		t.Error("InitWeights is not deterministic")
	}
}

func TestInitClassifierFromAnswers(t *testing.T) {
	m, _ := NewVQA(tinyConfig(TaskVQA))
	m.InitWeights(1)
	answers := [][]int{{5}, {6, 7}, {8}, {9, 10, 11}, {12}}
	if err := m.InitClassifierFromAnswers(answers); err != nil {
		t.Fatal(err)
	}
	H := m.Cfg.HiddenSize
	word, w := m.Params.View("vlbert.word_embeddings.weight"), m.Params.View("final_mlp.2.weight")
	for i := 0; i < H; i++ {
		want := (word[6*H+i] + word[7*H+i]) / 2
		if w[H+i] != want {
			t.Fatalf("row 1 [%d] = %g, want %g", i, w[H+i], want)
		}
	}
	if err := m.InitClassifierFromAnswers(answers[:4]); err == nil {
		t.Error("wrong answer count accepted")
	}
	if err := m.InitClassifierFromAnswers([][]int{{5}, {}, {1}, {1}, {1}}); err == nil {
		t.Error("empty answer accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		edit func(c *Config)
		want string
	}{
		{func(c *Config) { c.NumAttentionHeads = 5 }, "multiple"},
		{func(c *Config) { c.VisualSize = 32 }, "IMAGE_FINAL_DIM 768 != visual_size 32"},
		{func(c *Config) { c.PositionShift = -1 }, "position_padding_idx -2"},
		{func(c *Config) { c.WordEmbeddingFrozen, c.VocabSize = true, 999 }, "word_embedding_frozen needs vocab_size >= 1000"},
		{func(c *Config) { c.ClassifierType = "3fc" }, "Not support classifier type: 3fc"},
		{func(c *Config) { c.ClassifierType, c.ClassifierHid = "2fc", 0 }, "CLASSIFIER_HIDDEN_SIZE"},
		{func(c *Config) { c.HiddenDropout = 1 }, "hidden_dropout_prob"},
	} {
		c := BaseConfig(TaskVQA)
		tc.edit(&c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

func TestMaskVisualEmbeddingPresence(t *testing.T) {
	for _, tc := range []struct {
		task         Task
		e2e, maskPix bool
		want         bool
	}{
		{TaskPretrain, false, true, true},
		{TaskPretrain, true, false, false},
		{TaskPretrainMultitask, true, true, false},
		{TaskPretrainMultitask, true, false, true},
		{TaskPretrainMultitask, false, true, true},
	} {
		c := tinyConfig(tc.task)
		c.E2E, c.MaskRawPixels = tc.e2e, tc.maskPix
		mod, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := AsPretrain(mod)
		if _, got := m.Params.Lookup("object_mask_visual_embedding.weight"); got != tc.want {
			t.Errorf("%v e2e=%v MASK_RAW_PIXELS=%v: mask visual embedding %v, want %v", tc.task, tc.e2e, tc.maskPix, got, tc.want)
		}
		if !tc.want { // forward/backward still work, masked features pass through
			bt := pretrainBatch(rand.New(rand.NewPCG(1, 1)), tc.task == TaskPretrainMultitask)
			randomizeParams(m, 1)
			if _, err := m.Forward(bt); err != nil {
				t.Fatal(err)
			}
			m.Backward(1)
		}
	}
}
