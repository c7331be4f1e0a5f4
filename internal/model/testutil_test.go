package model

import (
	"math"
	"math/rand/v2"
	"strings"
)

// tinyConfig is a network small enough for finite differences.
func tinyConfig(task Task) Config {
	c := BaseConfig(task)
	c.HiddenSize, c.VisualSize, c.ImageFinalDim = 8, 8, 8
	c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 2, 2, 16
	c.MaxPositionEmbeddings, c.VocabSize, c.RegionClasses, c.AnswerVocabSize = 32, 120, 7, 5
	if task != TaskVQA {
		c.WithPooler, c.WithRelLoss = true, true
	}
	return c
}

// randomizeParams draws weights that make every path matter (the original init zeroes
// the visual LayerNorm gammas): Linear N(0, 1/fan_in), biases and embeddings N(0, 0.3²),
// LayerNorm gammas 1 + N(0, 0.1²).
func randomizeParams(mod Module, seed uint64) {
	m := mod.Base()
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, p := range m.Params.List {
		w := m.Params.Data[p.Offset : p.Offset+p.Size]
		std, mean := 0.3, 0.0
		switch {
		case strings.Contains(p.Name, "LayerNorm.weight") || strings.Contains(p.Name, "visual_ln") && strings.HasSuffix(p.Name, ".weight"):
			std, mean = 0.1, 1
		case len(p.Shape) == 2 && !strings.Contains(p.Name, "embedding"):
			std = 1 / math.Sqrt(float64(p.Shape[1]))
		case strings.Contains(p.Name, "obj_downsample.1.bias"):
			std, mean = 0.3, 0.3 // keep most ReLUs open
		}
		for i := range w {
			w[i] = float32(mean + std*rng.NormFloat64())
		}
	}
}

// boxStride is a box row's width at the default feature width, which most
// fixtures use.
const boxStride = 4 + DefaultFeatureDim

// randomBoxes builds a padded box batch: counts[b] valid boxes (box 0 the whole image),
// padding rows -2, features N(0,1) (sparse non-negative like bottom-up features).
func randomBoxes(rng *rand.Rand, counts []int, nb int) Boxes {
	return randomBoxesDim(rng, counts, nb, DefaultFeatureDim)
}

// randomBoxesDim is randomBoxes with F-d features (IMAGE_FEAT_DIM).
func randomBoxesDim(rng *rand.Rand, counts []int, nb, F int) Boxes {
	B := len(counts)
	boxStride := 4 + F
	bx := Boxes{B: B, NB: nb, Data: make([]float32, B*nb*boxStride), ImInfo: make([]float32, B*4), InfoW: 4}
	for b := 0; b < B; b++ {
		w, h := float32(300+rng.IntN(300)), float32(200+rng.IntN(300))
		copy(bx.ImInfo[b*4:], []float32{w, h, 1, 1})
		for j := 0; j < nb; j++ {
			row := bx.Data[(b*nb+j)*boxStride : (b*nb+j+1)*boxStride]
			if j >= counts[b] {
				for i := range row {
					row[i] = -2
				}
				continue
			}
			x1, y1 := float32(rng.IntN(int(w)/2)), float32(rng.IntN(int(h)/2))
			x2, y2 := x1+1+float32(rng.IntN(int(w)/2)), y1+1+float32(rng.IntN(int(h)/2))
			if j == 0 {
				x1, y1, x2, y2 = 0, 0, w-1, h-1
			}
			copy(row, []float32{x1, y1, x2, y2})
			for i := 4; i < boxStride; i++ {
				if rng.IntN(4) == 0 {
					row[i] = float32(rng.ExpFloat64())
				}
			}
		}
	}
	return bx
}

// testAdam is plain Adam (β 0.9, 0.999) for the learning tests; the
// trainer's AdamW is internal/optim's.
type testAdam struct{ mom, vel []float32 }

func newTestAdam(n int) *testAdam {
	return &testAdam{mom: make([]float32, n), vel: make([]float32, n)}
}

// step updates p from its gradients; step counts from 1.
func (a *testAdam) step(p *Params, step int, lr float64) {
	const b1, b2 = 0.9, 0.999
	c1 := 1 - math.Pow(b1, float64(step))
	c2 := 1 - math.Pow(b2, float64(step))
	for i, g := range p.Grad {
		a.mom[i] = b1*a.mom[i] + (1-b1)*g
		a.vel[i] = b2*a.vel[i] + (1-b2)*g*g
		p.Data[i] -= float32(lr * float64(a.mom[i]) / c1 / (math.Sqrt(float64(a.vel[i])/c2) + 1e-8))
	}
}
