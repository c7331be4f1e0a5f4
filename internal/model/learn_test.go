package model

import (
	"math/rand/v2"
	"testing"
)

// TestVQALearns trains a tiny VQA model with a local Adam on a synthetic task (the
// answer is a function of the question's second token and of which image it sees)
// and checks that the loss falls far below its starting value, for every
// CLASSIFIER_TYPE the original's VQA module builds.
func TestVQALearns(t *testing.T) {
	for _, ct := range []string{"mlm", "1fc", "2fc"} {
		t.Run(ct, func(t *testing.T) { testVQALearns(t, ct) })
	}
}

func testVQALearns(t *testing.T, classifier string) {
	testVQALearnsDim(t, classifier, DefaultFeatureDim)
}

// testVQALearnsDim is testVQALearns with F-d region features (IMAGE_FEAT_DIM).
func testVQALearnsDim(t *testing.T, classifier string, F int) {
	cfg := tinyConfig(TaskVQA)
	cfg.HiddenSize, cfg.VisualSize, cfg.ImageFinalDim, cfg.IntermediateSize = 16, 16, 16, 32
	cfg.ClassifierType, cfg.ClassifierHid, cfg.FeatDim = classifier, 24, F
	m, err := NewVQA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.InitWeights(1)
	m.Train, m.Seed = true, 5
	rng := rand.New(rand.NewPCG(3, 3))
	const B = 8
	bt := &VQABatch{Boxes: randomBoxesDim(rng, []int{3, 2, 4, 3, 2, 4, 3, 3}, 4, F), LQ: 4,
		Question: make([]int32, B*4), Label: make([]float32, B*cfg.AnswerVocabSize)}
	for b := 0; b < B; b++ {
		q := bt.Question[b*4 : b*4+4]
		q[0], q[1], q[2] = 20, int32(30+b%4), 40
		ans := (b%4 + b/4) % cfg.AnswerVocabSize
		bt.Label[b*cfg.AnswerVocabSize+ans] = 1
	}
	// Adam, as a test-local optimizer.
	opt := newTestAdam(len(m.Params.Data))
	const lr = 3e-3
	var first, last float32
	for step := 1; step <= 200; step++ {
		m.Step = uint64(step)
		m.ZeroGrad()
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		if step == 1 {
			first = o.Loss
		}
		last = o.Loss
		m.Backward(1)
		opt.step(m.Params, step, lr)
	}
	m.Train = false
	o, _ := m.Forward(bt)
	t.Logf("ans_loss: step 1 %.4f, step 200 %.4f (train), eval %.4f", first, last, o.Loss)
	if !(o.Loss < 0.1*first) {
		t.Errorf("loss did not fall enough: %.4f -> %.4f", first, o.Loss)
	}
	correct := 0
	for b := 0; b < B; b++ {
		row := o.Logits[b*cfg.AnswerVocabSize : (b+1)*cfg.AnswerVocabSize]
		best := 0
		for a := range row {
			if row[a] > row[best] {
				best = a
			}
		}
		if bt.Label[b*cfg.AnswerVocabSize+best] == 1 {
			correct++
		}
	}
	if correct != B {
		t.Errorf("%d of %d training questions answered correctly", correct, B)
	}
}
