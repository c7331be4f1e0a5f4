package model

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestNewE2E: the external parameters sit before and after the model's own
// in the arena and the table, InitWeights leaves them alone and draws the
// model's own exactly as New's model, aliases load as shape-checked no-ops,
// and the forward is New's.
func TestNewE2E(t *testing.T) {
	cfg := tinyConfig(TaskRefCOCO)
	ref, err := NewRefCOCO(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := []ExternalParam{{"image_feature_extractor.backbone.conv1.weight", []int{2, 3}}}
	after := []ExternalParam{{"image_feature_extractor.backbone.bn1.running_var", []int{4}}}
	alias := []Alias{{"image_feature_extractor.head.0.w", "image_feature_extractor.backbone.conv1.weight"}}
	mod, err := NewE2E(cfg, before, after, alias)
	if err != nil {
		t.Fatal(err)
	}
	m := mod.(*RefCOCO)
	L := m.Params.List
	if len(L) != len(ref.Params.List)+2 || L[0].Name != before[0].Name || L[0].Offset != 0 || L[len(L)-1].Name != after[0].Name ||
		L[len(L)-1].Offset+L[len(L)-1].Size != len(m.Params.Data) || len(m.Params.Data) != len(ref.Params.Data)+10 {
		t.Fatalf("layout: first %+v last %+v, arena %d (model alone %d)", L[0], L[len(L)-1], len(m.Params.Data), len(ref.Params.Data))
	}
	for i, q := range ref.Params.List {
		if L[i+1].Name != q.Name || !slices.Equal(L[i+1].Shape, q.Shape) {
			t.Fatalf("parameter %d: %s %v, New has %s %v", i, L[i+1].Name, L[i+1].Shape, q.Name, q.Shape)
		}
	}
	ext := m.Params.View(before[0].Name)
	for i := range ext {
		ext[i] = 7
	}
	ref.InitWeights(3)
	m.InitWeights(3)
	if ext[0] != 7 || slices.ContainsFunc(m.Params.View(after[0].Name), func(v float32) bool { return v != 0 }) {
		t.Error("InitWeights touched an external parameter")
	}
	for _, q := range ref.Params.List {
		if !slices.Equal(ref.Params.View(q.Name), m.Params.View(q.Name)) {
			t.Fatalf("%s initialised differently", q.Name)
		}
	}
	rep, err := m.Params.LoadStateDict(map[string]StateTensor{alias[0].Name: {Shape: []int{2, 3}, F32: make([]float32, 6)}}, "test", false)
	if err != nil || len(rep.Unexpected) != 0 || ext[0] != 7 {
		t.Errorf("alias load: %+v %v, external value %g", rep, err, ext[0])
	}
	if _, err := m.Params.LoadStateDict(map[string]StateTensor{alias[0].Name: {Shape: []int{3, 2}, F32: make([]float32, 6)}}, "test", false); err == nil {
		t.Error("an alias of the wrong shape loaded")
	}

	rng := rand.New(rand.NewPCG(5, 5))
	bt := &RefCOCOBatch{Boxes: randomBoxes(rng, []int{4, 2}, 5), LE: 4,
		Expression: []int32{7, 8, 9, 0, 11, 12, 0, 0}, Label: []float32{1, 0, 1, 0, -1, 0, 1, -1, -1, -1}}
	a, err := ref.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	la := a.Loss
	b, err := m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	if la != b.Loss {
		t.Errorf("loss %g with NewE2E, %g with New", b.Loss, la)
	}
	if _, err := NewE2E(cfg, []ExternalParam{{"x", nil}}, nil, nil); err == nil {
		t.Error("an external parameter without a shape was accepted")
	}
}
