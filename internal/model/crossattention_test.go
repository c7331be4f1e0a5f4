package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// regionClassBatch builds B scenes of 1-3 objects plus the whole-image box 0. Object
// class k in [0,A) is encoded in its feature (dims 16k..16k+15 set to 1, plus
// noise); the "question" is constant and the answer is the class of object 1.
// When inject is false box 0 has a constant feature, so the answer can only
// reach the [MASK] token through attention to the region tokens; when inject is
// true box 0 carries object 1's feature, which every text token receives
// directly through visual_ln_text.
func regionClassBatch(rng *rand.Rand, B, A int, inject bool) *VQABatch {
	const nb = 4
	bx := Boxes{B: B, NB: nb, Data: make([]float32, B*nb*boxStride), ImInfo: make([]float32, B*4), InfoW: 4}
	label := make([]float32, B*A)
	q := make([]int32, B*3)
	for b := 0; b < B; b++ {
		copy(bx.ImInfo[b*4:], []float32{100, 100, 1, 1})
		n := 1 + rng.IntN(3)
		cls := make([]int, n)
		cls[0] = rng.IntN(A)
		for j := range cls {
			cls[j] = cls[0] // objects are a set (one position id): all share the class
		}
		label[b*A+cls[0]] = 1
		q[b*3], q[b*3+1], q[b*3+2] = 20, 21, 22
		for j := 0; j < nb; j++ {
			row := bx.Data[(b*nb+j)*boxStride : (b*nb+j+1)*boxStride]
			if j > n {
				for i := range row {
					row[i] = -2
				}
				continue
			}
			if j == 0 {
				copy(row, []float32{0, 0, 99, 99})
				if inject {
					for i := 0; i < 16; i++ {
						row[4+16*cls[0]+i] = 1
					}
				}
				continue
			}
			x1, y1 := float32(rng.IntN(50)), float32(rng.IntN(50))
			copy(row, []float32{x1, y1, x1 + 10 + float32(rng.IntN(40)), y1 + 10 + float32(rng.IntN(40))})
			for i := 0; i < 16; i++ {
				row[4+16*cls[j-1]+i] = 1 + 0.1*float32(rng.NormFloat64())
			}
		}
	}
	return &VQABatch{Boxes: bx, LQ: 3, Question: q, Label: label}
}

func trainRegionClass(t *testing.T, inject bool, scaleObj float32, lr float64, steps int) float64 {
	cfg := tinyConfig(TaskVQA)
	cfg.HiddenSize, cfg.VisualSize, cfg.ImageFinalDim, cfg.IntermediateSize = 32, 32, 32, 64
	cfg.NumAttentionHeads = 4
	cfg.VisualScaleObjectInit = scaleObj
	m, err := NewVQA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.InitWeights(1)
	m.Train, m.Seed = true, 5
	A := cfg.AnswerVocabSize
	rng := rand.New(rand.NewPCG(3, 3))
	opt := newTestAdam(len(m.Params.Data))
	lnObj, _ := m.Params.Lookup("vlbert.visual_ln_object.weight")
	for step := 1; step <= steps; step++ {
		bt := regionClassBatch(rng, 16, A, inject)
		m.Step = uint64(step)
		m.ZeroGrad()
		if _, err := m.Forward(bt); err != nil {
			t.Fatal(err)
		}
		m.Backward(1)
		if step == 1 || step%100 == 0 {
			g := m.Params.Grad[lnObj.Offset : lnObj.Offset+lnObj.Size]
			var s float64
			for _, v := range g {
				s += float64(v * v)
			}
			t.Logf("inject=%v step %d |grad visual_ln_object.weight| %.3g", inject, step, math.Sqrt(s))
		}
		opt.step(m.Params, step, lr)
	}
	m.Train = false
	erng := rand.New(rand.NewPCG(99, 1))
	correct, total := 0, 0
	for k := 0; k < 8; k++ {
		bt := regionClassBatch(erng, 16, A, inject)
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		for b := 0; b < 16; b++ {
			row := o.Logits[b*A : (b+1)*A]
			best := 0
			for a := range row {
				if row[a] > row[best] {
					best = a
				}
			}
			if bt.Label[b*A+best] == 1 {
				correct++
			}
			total++
		}
	}
	return float64(correct) / float64(total)
}

// TestAnswerFlowsFromRegions is a regression test for the training path of
// text<->region attention: the answer, read at the [MASK] text position, is the
// class encoded only in the region features (box 0 is constant), so it must
// flow from region tokens through attention. visual_ln_object.weight starts at
// 0 (visual_scale_object_init 0, the original default) and must be learned.
func TestAnswerFlowsFromRegions(t *testing.T) {
	acc := trainRegionClass(t, false, 0, 3e-3, 300)
	t.Logf("cross-attention accuracy %.3f (chance 0.2)", acc)
	if acc < 0.9 {
		t.Errorf("the answer did not flow from the region tokens to [MASK]: accuracy %.3f", acc)
	}
}
