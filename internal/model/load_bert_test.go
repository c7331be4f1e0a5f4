package model

import (
	"fmt"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/weights"
)

// fakeBERT is a pytorch_model.bin-style state dict (legacy gamma/beta names) for cfg.
func fakeBERT(cfg Config) map[string]*weights.Tensor {
	H, I := cfg.HiddenSize, cfg.IntermediateSize
	sd := map[string]*weights.Tensor{}
	k := 0
	add := func(name string, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(k) + float32(i)*1e-3
		}
		k++
		sd[name] = weights.NewF32(v, shape...)
	}
	add("bert.embeddings.word_embeddings.weight", cfg.VocabSize, H)
	add("bert.embeddings.position_embeddings.weight", cfg.MaxPositionEmbeddings, H)
	add("bert.embeddings.token_type_embeddings.weight", 2, H)
	add("bert.embeddings.LayerNorm.gamma", H)
	add("bert.embeddings.LayerNorm.beta", H)
	for l := 0; l < cfg.NumHiddenLayers; l++ {
		p := fmt.Sprintf("bert.encoder.layer.%d.", l)
		for _, s := range []string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"} {
			add(p+s+".weight", H, H)
			add(p+s+".bias", H)
		}
		add(p+"attention.output.LayerNorm.gamma", H)
		add(p+"attention.output.LayerNorm.beta", H)
		add(p+"intermediate.dense.weight", I, H)
		add(p+"intermediate.dense.bias", I)
		add(p+"output.dense.weight", H, I)
		add(p+"output.dense.bias", H)
		add(p+"output.LayerNorm.gamma", H)
		add(p+"output.LayerNorm.beta", H)
	}
	add("bert.pooler.dense.weight", H, H)
	add("bert.pooler.dense.bias", H)
	add("cls.predictions.bias", cfg.VocabSize)
	add("cls.predictions.transform.dense.weight", H, H)
	add("cls.predictions.transform.dense.bias", H)
	add("cls.predictions.transform.LayerNorm.gamma", H)
	add("cls.predictions.transform.LayerNorm.beta", H)
	add("cls.predictions.decoder.weight", cfg.VocabSize, H)
	add("cls.seq_relationship.weight", 2, H)
	add("cls.seq_relationship.bias", 2)
	return sd
}

func TestLoadBERT(t *testing.T) {
	for _, task := range []Task{TaskVQA, TaskPretrain, TaskVCR} {
		cfg := tinyConfig(task)
		if task == TaskVCR {
			cfg.WithRelLoss = false
		}
		mod, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := mod.Base()
		m.InitWeights(1)
		row2 := slices.Clone(m.Params.View(cfg.corePrefix() + "token_type_embeddings.weight")[2*cfg.HiddenSize:])
		sd := fakeBERT(cfg)
		imp, err := weights.ImportBERT(sd)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := m.LoadBERT(imp, "pytorch_model.bin")
		if err != nil {
			t.Fatalf("%v: %v", task, err)
		}
		cp := cfg.corePrefix()
		check := func(param, src string) {
			t.Helper()
			if !slices.Equal(m.Params.View(param), sd[src].F32) {
				t.Errorf("%v: %s not loaded from %s", task, param, src)
			}
		}
		check(cp+"word_embeddings.weight", "bert.embeddings.word_embeddings.weight")
		check(cp+"encoder.layer.1.output.LayerNorm.weight", "bert.encoder.layer.1.output.LayerNorm.gamma")
		if cfg.WithPooler {
			check(cp+"pooler.dense.weight", "bert.pooler.dense.weight")
		} else if !slices.Contains(rep.Unexpected, "vlbert.pooler.dense.weight") {
			t.Errorf("%v: pooler without with_pooler not reported", task)
		}
		tt := m.Params.View(cp + "token_type_embeddings.weight")
		H := cfg.HiddenSize
		if !slices.Equal(tt[:2*H], sd["bert.embeddings.token_type_embeddings.weight"].F32) || !slices.Equal(tt[2*H:], row2) {
			t.Errorf("%v: token types: rows 0-1 from BERT, row 2 kept", task)
		}
		switch task {
		case TaskVQA:
			check("final_mlp.0.dense.weight", "cls.predictions.transform.dense.weight")
			check("final_mlp.0.LayerNorm.bias", "cls.predictions.transform.LayerNorm.beta")
		case TaskPretrain:
			check("vlbert.mlm_head.predictions.bias", "cls.predictions.bias")
			check("vlbert.relationsip_head.caption_image_relationship.weight", "cls.seq_relationship.weight")
		}
		if slices.Contains(rep.Missing, cp+"encoder.layer.0.attention.self.query.weight") {
			t.Errorf("%v: encoder reported missing", task)
		}
		if !slices.Contains(rep.Missing, "image_feature_extractor.obj_downsample.1.weight") {
			t.Errorf("%v: obj_downsample not reported missing", task)
		}
	}
	// A vocabulary mismatch is an error naming the tensor.
	cfg := tinyConfig(TaskVQA)
	m, _ := NewVQA(cfg)
	cfg.VocabSize++
	imp, _ := weights.ImportBERT(fakeBERT(cfg))
	if _, err := m.LoadBERT(imp, "x.bin"); err == nil {
		t.Error("vocabulary size mismatch accepted")
	}
}
