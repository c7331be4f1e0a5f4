package model

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/optim"
)

// realBatch: one object of a real synthetic scene, rendered alone; the answer
// is its colour; box 0 (whole image) has a zero feature.
func realBatch(rng *rand.Rand, w *synth.World, B, A int, multi bool) *VQABatch {
	const nb = 6
	bx := Boxes{B: B, NB: nb, Data: make([]float32, B*nb*boxStride), ImInfo: make([]float32, B*4), InfoW: 4}
	label := make([]float32, B*A)
	q := make([]int32, B*3)
	for b := 0; b < B; b++ {
		s := w.Train[rng.IntN(len(w.Train))]
		o := s.Objects[rng.IntN(len(s.Objects))]
		objs := []synth.Object{o}
		if multi {
			// "what color is the <shape>": all objects, o's shape unique
			objs = nil
			for _, p := range s.Objects {
				if p.Shape != o.Shape {
					objs = append(objs, p)
				}
			}
			objs = append(objs, o)
			rng.Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
		}
		if false {
			// all objects of the scene recoloured to o's colour
			objs = nil
			for _, p := range s.Objects {
				p.Color = o.Color
				objs = append(objs, p)
			}
		}
		sc := synth.Scene{ID: s.ID, Width: s.Width, Height: s.Height, Objects: objs}
		img := synth.Render(sc)
		copy(bx.ImInfo[b*4:], []float32{float32(s.Width), float32(s.Height), 1, 1})
		label[b*A+o.Color] = 1
		q[b*3], q[b*3+1], q[b*3+2] = 20, int32(30+o.Shape), 22
		for j := 0; j < nb; j++ {
			row := bx.Data[(b*nb+j)*boxStride : (b*nb+j+1)*boxStride]
			switch {
			case j == 0:
				copy(row, []float32{0, 0, float32(s.Width - 1), float32(s.Height - 1)})
			case j <= len(objs):
				copy(row, objs[j-1].Box[:])
				copy(row[4:], synth.RegionFeature(img, objs[j-1].Box))
			default:
				for i := range row {
					row[i] = -2
				}
			}
		}
	}
	return &VQABatch{Boxes: bx, LQ: 3, Question: q, Label: label}
}

func TestDiagRealFeatures(t *testing.T) {
	if os.Getenv("VLBERT_DIAG") == "" {
		t.Skip("diagnostic of the synthetic world's VQA learning (minutes): set VLBERT_DIAG=1 to run")
	}
	w, err := synth.Generate(synth.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig(TaskVQA)
	cfg.HiddenSize, cfg.VisualSize, cfg.ImageFinalDim, cfg.IntermediateSize = 128, 128, 128, 256
	cfg.NumAttentionHeads, cfg.AnswerVocabSize = 4, len(synth.Colors)
	cfg.VisualScaleObjectInit = 1
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.InitWeights(1)
	m.Train, m.Seed = true, 5
	A := cfg.AnswerVocabSize
	rng := rand.New(rand.NewPCG(3, 3))
	mom := make([]float32, len(m.Params.Data))
	vel := make([]float32, len(m.Params.Data))
	lr := 1e-3
	const b1, b2 = 0.9, 0.999
	multi := os.Getenv("VLBERT_DIAG_MULTI") != ""
	var opt optim.Optimizer
	var sched *optim.Scheduler
	var tc *config.Train
	if p := os.Getenv("VLBERT_DIAG_OPTCFG"); p != "" {
		c, err := config.Load(p, config.TaskVQA)
		if err != nil {
			t.Fatal(err)
		}
		tc = &c.Train
		params := make([]optim.Param, len(m.Params.List))
		for i, q := range m.Params.List {
			params[i] = optim.Param{Name: q.Name, Offset: q.Offset, Size: q.Size}
		}
		if opt, err = optim.NewFromConfig(tc, params, len(m.Params.Data), 1); err != nil {
			t.Fatal(err)
		}
		f, _, err := optim.ScheduleFromConfig(tc, 150)
		if err != nil {
			t.Fatal(err)
		}
		sched = optim.NewScheduler(f, opt.Groups(), 0)
		t.Logf("optimizer %s base lr %g wd %g clip %g", tc.Optimizer, tc.BaseLR(1), tc.WD, tc.ClipGradNorm)
	}
	for step := 1; step <= 600; step++ {
		bt := realBatch(rng, w, 32, A, multi)
		m.Step = uint64(step)
		m.ZeroGrad()
		o, err := m.ForwardVQA(bt)
		if err != nil {
			t.Fatal(err)
		}
		if step%20 == 0 {
			t.Logf("step %d loss %.4f", step, o.Loss)
		}
		m.BackwardVQA(1)
		if opt != nil {
			sched.Step(opt.Groups())
			gn := optim.ClipGradNorm(m.Params.Grad, tc.ClipGradNorm)
			if step%20 == 0 {
				t.Logf("  lr %.3g gradnorm %.3g", opt.Groups()[0].LR, gn)
			}
			opt.Step(m.Params.Data, m.Params.Grad, nil)
			continue
		}
		c1 := 1 - math.Pow(b1, float64(step))
		c2 := 1 - math.Pow(b2, float64(step))
		for i, g := range m.Params.Grad {
			mom[i] = b1*mom[i] + (1-b1)*g
			vel[i] = b2*vel[i] + (1-b2)*g*g
			m.Params.Data[i] -= float32(lr * float64(mom[i]) / c1 / (math.Sqrt(float64(vel[i])/c2) + 1e-8))
		}
	}
}
