package model

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkVQAStepSmall is one forward+backward of the golden-sized model (hidden 64,
// 2 layers) on a batch of 2; run with -benchmem to see steady-state allocations.
func BenchmarkVQAStepSmall(b *testing.B) {
	m, err := NewVQA(smallConfig(TaskVQA))
	if err != nil {
		b.Fatal(err)
	}
	randomizeParams(m, 1)
	m.Train = true
	rng := rand.New(rand.NewPCG(1, 1))
	bt := &VQABatch{Boxes: randomBoxes(rng, []int{10, 7}, 10), LQ: 19, Question: make([]int32, 2*19), Label: make([]float32, 2*64)}
	for i := range bt.Question {
		bt.Question[i] = int32(1000 + i)
	}
	for i := 0; i < 2; i++ {
		if _, err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
		m.Backward(1)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Step = uint64(i)
		if _, err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
		m.Backward(1)
	}
}

func baseVQA(b *testing.B) (*VQA, *VQABatch) {
	m, err := NewVQA(BaseConfig(TaskVQA))
	if err != nil {
		b.Fatal(err)
	}
	m.InitWeights(1)
	rng := rand.New(rand.NewPCG(1, 1))
	const B, LQ = 8, 60 // text = [CLS] q [SEP] [MASK] [SEP]: 64 tokens
	counts := make([]int, B)
	for i := range counts {
		counts[i] = 36
	}
	bt := &VQABatch{Boxes: randomBoxes(rng, counts, 36), LQ: LQ, Question: make([]int32, B*LQ), Label: make([]float32, B*3129)}
	for i := range bt.Question {
		bt.Question[i] = int32(1000 + rng.IntN(20000))
	}
	return m, bt
}

// BenchmarkVQAForwardBase is a BERT-base forward (random weights) on batch 8, text 64,
// 36 regions (sequence 101).
func BenchmarkVQAForwardBase(b *testing.B) {
	m, bt := baseVQA(b)
	for i := 0; i < 2; i++ { // the arena settles after the second pass
		if _, err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(8*b.N)/b.Elapsed().Seconds(), "seq/s")
}

// BenchmarkVQAStepBase is forward+backward of the same BERT-base batch.
func BenchmarkVQAStepBase(b *testing.B) {
	m, bt := baseVQA(b)
	for i := 0; i < 2; i++ {
		if _, err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
		m.Backward(1)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
		m.Backward(1)
	}
	b.ReportMetric(float64(8*b.N)/b.Elapsed().Seconds(), "seq/s")
}
