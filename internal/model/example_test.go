package model_test

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/model"
)

// A few plain-SGD steps of a tiny VQA model on one synthetic batch.
func Example() {
	cfg := model.BaseConfig(model.TaskVQA)
	cfg.HiddenSize, cfg.VisualSize, cfg.ImageFinalDim = 16, 16, 16
	cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 1, 2, 32
	cfg.VocabSize, cfg.MaxPositionEmbeddings, cfg.AnswerVocabSize = 200, 32, 3 // ids 101-103 are [CLS] [SEP] [MASK]
	m, err := model.NewVQA(cfg)
	if err != nil {
		panic(err)
	}
	m.InitWeights(1)

	// Two images with a whole-image box and one object each (features all zero but
	// one), questions of two and one wordpieces, soft answer targets.
	const stride = 4 + model.DefaultFeatureDim
	boxes := make([]float32, 2*2*stride)
	for b := 0; b < 2; b++ {
		copy(boxes[(2*b)*stride:], []float32{0, 0, 99, 79})
		copy(boxes[(2*b+1)*stride:], []float32{10, 10, 40, 50})
		boxes[(2*b+1)*stride+4+b] = 1
	}
	batch := &model.VQABatch{
		Boxes:    model.Boxes{B: 2, NB: 2, Data: boxes, ImInfo: []float32{100, 80, 1, 1, 100, 80, 1, 1}, InfoW: 4},
		LQ:       2,
		Question: []int32{20, 21, 22, 0},
		Label:    []float32{1, 0, 0, 0, 0, 1},
	}
	var first, last float32
	for step := 0; step < 30; step++ {
		m.ZeroGrad()
		out, err := m.Forward(batch)
		if err != nil {
			panic(err)
		}
		if step == 0 {
			first = out.Loss
		}
		last = out.Loss
		m.Backward(1)
		for i, g := range m.Params.Grad {
			m.Params.Data[i] -= 0.05 * g
		}
	}
	fmt.Println("loss fell by more than half:", last < first/2)
	// Output: loss fell by more than half: true
}
