package onnx

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/model"
)

// This file is the glue to vlbert's own forward (package model): small random
// models of each task, exported and run by ONNX Runtime, must give vlbert's outputs.

// smallConfig is a small network of task (hidden 32, two layers).
func smallConfig(task model.Task) (model.Config, Spec) {
	c := model.BaseConfig(task)
	c.HiddenSize, c.VisualSize, c.ImageFinalDim = 32, 32, 32
	c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 2, 4, 64
	c.VocabSize, c.MaxPositionEmbeddings, c.AnswerVocabSize = 160, 64, 24
	c.VisualScaleTextInit, c.VisualScaleObjectInit = 1, 1
	return c, specOf(c)
}

// specOf is the export Spec of a model configuration.
func specOf(c model.Config) Spec {
	spec := Spec{Hidden: c.HiddenSize, Layers: c.NumHiddenLayers, Heads: c.NumAttentionHeads,
		Intermediate: c.IntermediateSize, Vocab: c.VocabSize, MaxPositions: c.MaxPositionEmbeddings,
		TypeVocab: c.TypeVocabSize, Pooler: c.WithPooler, FeatureDim: c.FeatureDim(), Version: "test"}
	switch c.Task {
	case model.TaskVQA:
		spec.Task, spec.AnswerVocab = TaskVQA, c.AnswerVocabSize
	case model.TaskRefCOCO:
		spec.Task = TaskRefCOCO
	case model.TaskVCR:
		spec.Task = TaskVCR
	}
	return spec
}

// randomize gives m the usual initialisation plus N(0, 0.1) noise on every tensor,
// so that LayerNorm gains, biases and embeddings all matter and the logits spread
// over a few units.
func randomize(m *model.Encoder, seed uint64) {
	m.InitWeights(seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range m.Params.Data {
		m.Params.Data[i] += float32(rng.NormFloat64() * 0.1)
	}
}

// weightsOf is the model's parameter table by checkpoint key.
func weightsOf(m *model.Encoder) Weights {
	w := Weights{}
	for _, p := range m.Params.List {
		w[p.Name] = Weight{Shape: p.Shape, Data: m.Params.View(p.Name)}
	}
	return w
}

func exportTo(t *testing.T, spec Spec, w Weights, opt Options) string {
	t.Helper()
	m, err := Build(spec, w, opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), string(spec.Task)+".onnx")
	if err := Write(path, m, InlineLimit); err != nil {
		t.Fatal(err)
	}
	return path
}

// shape is one (batch, text, regions) case: valid counts per sample, with padding
// after them (and, in the middle case, a padding token inside the text).
type shape struct {
	B, T, R  int
	nBoxes   []int // valid boxes per sample (<= R)
	nText    []int // valid tokens per sample (<= T)
	holeText bool  // put a 0 token before the last valid one of sample 0
}

var parityShapes = []shape{
	{B: 1, T: 5, R: 3, nBoxes: []int{3}, nText: []int{4}},
	{B: 2, T: 9, R: 7, nBoxes: []int{7, 4}, nText: []int{6, 9}, holeText: true},
	{B: 3, T: 4, R: 12, nBoxes: []int{5, 12, 0}, nText: []int{4, 0, 3}}, // an empty question, a sample without boxes
}

// boxesFor makes [B,R,4+F] boxes: box 0 the whole image, others random inside it,
// random features; padding rows are all pad (-2 for VQA/RefCOCO, -1 for VCR).
func boxesFor(rng *rand.Rand, s shape, pad float32) (boxes, imInfo []float32) {
	return boxesForDim(rng, s, pad, DefaultFeatureDim)
}

// boxesForDim is boxesFor with F-d features (NETWORK.IMAGE_FEAT_DIM).
func boxesForDim(rng *rand.Rand, s shape, pad float32, F int) (boxes, imInfo []float32) {
	stride := 4 + F
	boxes = make([]float32, s.B*s.R*stride)
	imInfo = make([]float32, s.B*4)
	for b := 0; b < s.B; b++ {
		w, h := float32(300+rng.IntN(300)), float32(200+rng.IntN(300))
		copy(imInfo[b*4:], []float32{w, h, 0.5 + rng.Float32(), 0.5 + rng.Float32()})
		for j := 0; j < s.R; j++ {
			row := boxes[(b*s.R+j)*stride : (b*s.R+j+1)*stride]
			if j >= s.nBoxes[b] {
				for i := range row {
					row[i] = pad
				}
				continue
			}
			x1, y1 := rng.Float32()*w/2, rng.Float32()*h/2
			copy(row, []float32{x1, y1, x1 + 1 + rng.Float32()*w/2, y1 + 1 + rng.Float32()*h/2})
			if j == 0 {
				copy(row, []float32{0, 0, w - 1, h - 1})
			}
			for i := 4; i < stride; i++ {
				row[i] = rng.Float32() * 2
			}
		}
	}
	return boxes, imInfo
}

// tokens makes [B,T] ordinary wordpiece ids (past [MASK], below vocab), n[b] per sample, 0-padded.
func tokens(rng *rand.Rand, B, T int, n []int, hole bool, vocab int) []int64 {
	ids := make([]int64, B*T)
	for b := 0; b < B; b++ {
		for k := 0; k < n[b]; k++ {
			ids[b*T+k] = int64(104 + rng.IntN(vocab-104))
		}
	}
	if hole && n[0] >= 2 {
		ids[n[0]-2] = 0
	}
	return ids
}

func to32(v []int64) []int32 {
	o := make([]int32, len(v))
	for i, x := range v {
		o[i] = int32(x)
	}
	return o
}

const tolAbs, tolRel = 2e-4, 1e-4

func TestVQAParity(t *testing.T) {
	testVQAParity(t, model.DefaultFeatureDim)
}

// TestVQAParityFeatDim exports a model of 24-d region features
// (NETWORK.IMAGE_FEAT_DIM): boxes is [B,R,4+24] and the graph passes the
// checker and matches the Go forward.
func TestVQAParityFeatDim(t *testing.T) { testVQAParity(t, 24) }

func testVQAParity(t *testing.T, F int) {
	c, _ := smallConfig(model.TaskVQA)
	c.FeatDim = F
	spec := specOf(c)
	m, err := model.NewVQA(c)
	if err != nil {
		t.Fatal(err)
	}
	randomize(m.Base(), 1)
	path := exportTo(t, spec, weightsOf(m.Base()), Options{})
	checkModel(t, path)
	rng := rand.New(rand.NewPCG(2, 2))
	var runs [][]ortTensor
	var want [][]float32
	for _, s := range parityShapes {
		boxes, info := boxesForDim(rng, s, -2, F)
		q := tokens(rng, s.B, s.T, s.nText, s.holeText, spec.Vocab)
		out, err := m.Forward(&model.VQABatch{Boxes: model.Boxes{B: s.B, NB: s.R, Data: boxes, ImInfo: info, InfoW: 4}, LQ: s.T, Question: to32(q)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, append([]float32(nil), out.Logits...))
		runs = append(runs, []ortTensor{{Name: "boxes", Dims: []int{s.B, s.R, 4 + F}, F32: boxes},
			{Name: "im_info", Dims: []int{s.B, 4}, F32: info}, {Name: "question", Dims: []int{s.B, s.T}, I64: q}})
	}
	res := runORT(t, path, runs, 1)
	for i, r := range res {
		if r.Err != "" {
			t.Fatalf("shape %d: onnxruntime: %s", i, r.Err)
		}
		compareTol(t, fmt.Sprintf("VQA shape %d label_logits", i), r.Outputs["label_logits"].F32, want[i], tolAbs, tolRel)
	}
}

func TestRefCOCOParity(t *testing.T) {
	c, spec := smallConfig(model.TaskRefCOCO)
	m, err := model.NewRefCOCO(c)
	if err != nil {
		t.Fatal(err)
	}
	randomize(m.Base(), 3)
	path := exportTo(t, spec, weightsOf(m.Base()), Options{})
	checkModel(t, path)
	rng := rand.New(rand.NewPCG(4, 4))
	var runs [][]ortTensor
	var wantLogits, wantBoxes [][]float32
	for _, s := range parityShapes {
		boxes, info := boxesFor(rng, s, -2)
		e := tokens(rng, s.B, s.T, s.nText, s.holeText, spec.Vocab)
		out, err := m.Forward(&model.RefCOCOBatch{Boxes: model.Boxes{B: s.B, NB: s.R, Data: boxes, ImInfo: info, InfoW: 4}, LE: s.T, Expression: to32(e)})
		if err != nil {
			t.Fatal(err)
		}
		wantLogits = append(wantLogits, append([]float32(nil), out.Logits...))
		wantBoxes = append(wantBoxes, append([]float32(nil), out.PredBoxes...))
		runs = append(runs, []ortTensor{{Name: "boxes", Dims: []int{s.B, s.R, 4 + DefaultFeatureDim}, F32: boxes},
			{Name: "im_info", Dims: []int{s.B, 4}, F32: info}, {Name: "expression", Dims: []int{s.B, s.T}, I64: e}})
	}
	res := runORT(t, path, runs, 1)
	for i, r := range res {
		if r.Err != "" {
			t.Fatalf("shape %d: onnxruntime: %s", i, r.Err)
		}
		compareTol(t, fmt.Sprintf("RefCOCO shape %d label_logits", i), r.Outputs["label_logits"].F32, wantLogits[i], tolAbs, tolRel)
		compareTol(t, fmt.Sprintf("RefCOCO shape %d pred_boxes", i), r.Outputs["pred_boxes"].F32, wantBoxes[i], tolAbs, tolRel)
	}
}

func TestVCRParity(t *testing.T) {
	c, spec := smallConfig(model.TaskVCR)
	m, err := model.NewVCR(c)
	if err != nil {
		t.Fatal(err)
	}
	randomize(m.Base(), 5)
	path := exportTo(t, spec, weightsOf(m.Base()), Options{})
	checkModel(t, path)
	rng := rand.New(rand.NewPCG(6, 6))
	var runs [][]ortTensor
	var want [][]float32
	for _, s := range parityShapes {
		boxes, info := boxesFor(rng, s, -1)
		q := tokens(rng, s.B, s.T, s.nText, s.holeText, spec.Vocab)
		la := s.T + 2
		na := make([]int, s.B*vcrChoices)
		for i := range na {
			na[i] = 1 + rng.IntN(la)
		}
		a := tokens(rng, s.B*vcrChoices, la, na, false, spec.Vocab)
		tag := func(n, b int) []int32 { // tags: -1 (none) or a valid box of sample b
			out := make([]int32, n)
			for i := range out {
				out[i] = int32(rng.IntN(s.nBoxes[b]+1)) - 1
			}
			return out
		}
		var qTags, aTags []int32
		for b := 0; b < s.B; b++ {
			qTags = append(qTags, tag(s.T, b)...)
			aTags = append(aTags, tag(vcrChoices*la, b)...)
		}
		out, err := m.Forward(&model.VCRBatch{Boxes: model.Boxes{B: s.B, NB: s.R, Data: boxes, ImInfo: info, InfoW: 4},
			LQ: s.T, LA: la, Question: to32(q), QTags: qTags, Answers: to32(a), ATags: aTags})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, append([]float32(nil), out.Logits...))
		qPairs, aPairs := pairs(q, qTags), pairs(a, aTags)
		runs = append(runs, []ortTensor{{Name: "boxes", Dims: []int{s.B, s.R, 4 + DefaultFeatureDim}, F32: boxes},
			{Name: "im_info", Dims: []int{s.B, 4}, F32: info},
			{Name: "question", Dims: []int{s.B, s.T, 2}, I64: qPairs},
			{Name: "answer_choices", Dims: []int{s.B, vcrChoices, la, 2}, I64: aPairs}})
	}
	res := runORT(t, path, runs, 1)
	for i, r := range res {
		if r.Err != "" {
			t.Fatalf("shape %d: onnxruntime: %s", i, r.Err)
		}
		compareTol(t, fmt.Sprintf("VCR shape %d label_logits", i), r.Outputs["label_logits"].F32, want[i], tolAbs, tolRel)
	}
}

// pairs interleaves ids and tags into the original's (id, tag) last axis.
func pairs(ids []int64, tags []int32) []int64 {
	out := make([]int64, 0, 2*len(ids))
	for i := range ids {
		out = append(out, ids[i], int64(tags[i]))
	}
	return out
}
