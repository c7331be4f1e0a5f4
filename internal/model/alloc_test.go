package model

import (
	"math/rand/v2"
	"testing"

	"github.com/vlbert/vlbert/internal/parallel"
)

// parallelConfig is tinyConfig widened until the kernels and GEMM take their parallel
// paths (rows x hidden above their serial thresholds) while a step stays cheap.
func parallelConfig(task Task) Config {
	c := tinyConfig(task)
	c.HiddenSize, c.VisualSize, c.ImageFinalDim = 128, 128, 128
	c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 1, 4, 512
	return c
}

// TestStepAllocatesNothing checks issue 3's promise: after warm-up a VQA and a
// pretraining forward+backward allocate nothing at all, with two threads (the
// kernels' and GEMM's parallel loops included, not only the model's arenas).
func TestStepAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates in sync primitives")
	}
	defer parallel.SetThreads(parallel.SetThreads(2))
	m, err := NewVQA(parallelConfig(TaskVQA))
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(m, 1)
	rng := rand.New(rand.NewPCG(2, 2))
	const B, LQ = 4, 16
	bt := &VQABatch{Boxes: randomBoxes(rng, []int{8, 5, 3, 8}, 8), LQ: LQ,
		Question: make([]int32, B*LQ), Label: make([]float32, B*5)}
	for i := range bt.Question {
		if i%LQ < 10+i/LQ {
			bt.Question[i] = int32(1 + rng.IntN(100))
		}
	}
	for i := range bt.Label {
		bt.Label[i] = float32(i%3) * 0.5
	}
	m.Train = true
	step := func() {
		m.Step++
		if _, err := m.Forward(bt); err != nil {
			t.Fatal(err)
		}
		m.Backward(1)
	}
	for range 3 {
		step()
	}
	if n := testing.AllocsPerRun(5, step); n != 0 {
		t.Errorf("VQA forward+backward allocates %v times per step with 2 threads, want 0", n)
	}

	p, err := NewPretrainMultitask(parallelConfig(TaskPretrainMultitask))
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(p, 2)
	pb := pretrainBatch(rand.New(rand.NewPCG(4, 4)), true)
	pstep := func() {
		if _, err := p.Forward(pb); err != nil {
			t.Fatal(err)
		}
		p.Backward(1)
	}
	for range 3 {
		pstep()
	}
	if n := testing.AllocsPerRun(5, pstep); n != 0 {
		t.Errorf("pretraining forward+backward allocates %v times per step with 2 threads, want 0", n)
	}
}
