package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// gradCheck compares the analytic gradient of loss() with central differences on a
// few entries of every parameter tensor. The network runs in float32, so eps and
// the tolerance are loose; golden tests pin the exact values.
func gradCheck(t *testing.T, mod Module, loss func() float64, backward func(), seed uint64) {
	m := mod.Base()
	t.Helper()
	m.ZeroGrad()
	loss()
	backward()
	grad := append([]float32(nil), m.Params.Grad...)
	rng := rand.New(rand.NewPCG(seed, 3))
	const eps = 2e-2
	checked, worst := 0, 0.0
	for _, p := range m.Params.List {
		if p.Frozen { // requires_grad=False: no gradient at all
			for i, g := range grad[p.Offset : p.Offset+p.Size] {
				if g != 0 {
					t.Fatalf("frozen %s[%d] has gradient %g", p.Name, i, g)
				}
			}
			continue
		}
		for k := 0; k < 3; k++ {
			i := p.Offset + rng.IntN(p.Size)
			if p.Name == "vlbert.word_embeddings.weight" && k == 0 {
				i = p.Offset + 101*m.Cfg.HiddenSize + rng.IntN(m.Cfg.HiddenSize) // [CLS] row: always used
			}
			an := float64(grad[i])
			// A ReLU kink within eps of the point spoils a difference; retry smaller.
			var fd, err float64
			ok := false
			for _, e := range []float32{eps, eps / 8} {
				orig := m.Params.Data[i]
				m.Params.Data[i] = orig + e
				lp := loss()
				m.Params.Data[i] = orig - e
				lm := loss()
				m.Params.Data[i] = orig
				fd = (lp - lm) / float64(2*e)
				err = math.Abs(fd - an)
				if err <= 3e-3*float64(eps/e)+3e-2*math.Max(math.Abs(fd), math.Abs(an)) {
					ok = true
					break
				}
			}
			if !ok {
				t.Errorf("%s[%d]: analytic %.6g, central difference %.6g", p.Name, i-p.Offset, an, fd)
			}
			worst = math.Max(worst, err)
			checked++
		}
	}
	t.Logf("checked %d entries of %d tensors, worst abs error %.3g", checked, len(m.Params.List), worst)
}

func TestGradCheckVQA(t *testing.T) {
	for _, train := range []bool{false, true} {
		m, err := NewVQA(tinyConfig(TaskVQA))
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(m, 1)
		m.Train, m.Seed, m.Step = train, 42, 3
		rng := rand.New(rand.NewPCG(2, 2))
		bt := &VQABatch{Boxes: randomBoxes(rng, []int{3, 2}, 4), LQ: 5,
			Question: []int32{7, 8, 9, 0, 0, 11, 0, 12, 0, 0}, Label: []float32{0, 0.3, 1, 0, 0, 0.6, 0, 0, 0.9, 0}}
		gradCheck(t, m, func() float64 {
			o, err := m.Forward(bt)
			if err != nil {
				t.Fatal(err)
			}
			return float64(o.Loss)
		}, func() { m.Backward(1) }, 5)
	}
}

func pretrainBatch(rng *rand.Rand, multitask bool) *PretrainBatch {
	B, NB, R := 2, 4, 7
	bt := &PretrainBatch{Boxes: randomBoxes(rng, []int{3, 2}, NB), LT: 12,
		Text:      []int32{101, 103, 20, 102, 0, 0, 0, 0, 0, 0, 0, 0, 101, 30, 103, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		MLMLabels: []int32{-1, 44, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 50, -1, -1, -1, -1, -1, -1, -1, -1, -1},
		RelLabel:  []int32{1, 0},
		MVRCOps:   []int32{0, 1, 0, 0, 0, 1, 0, 0},
	}
	bt.MVRCLabels = make([]float32, B*NB*R)
	for b := 0; b < B; b++ {
		for j := 0; j < NB; j++ {
			if bt.MVRCOps[b*NB+j] == 1 {
				row := bt.MVRCLabels[(b*NB+j)*R : (b*NB+j+1)*R]
				row[1], row[4], row[6] = 0.5, 0.3, 0.2
			}
		}
	}
	if multitask {
		bt.BA, bt.LA = 2, 14
		bt.AuxText = make([]int32, 2*14)
		bt.AuxMLMLabels = make([]int32, 2*14)
		for i := range bt.AuxText {
			bt.AuxMLMLabels[i] = -1
			if i%14 < 9-(i/14)*3 {
				bt.AuxText[i] = int32(10 + rng.IntN(100))
			}
		}
		bt.AuxText[2], bt.AuxMLMLabels[2] = 103, 77
		bt.AuxText[14+1], bt.AuxMLMLabels[14+1] = 103, 66
	}
	return bt
}

func TestGradCheckPretrain(t *testing.T) {
	for _, task := range []Task{TaskPretrain, TaskPretrainMultitask} {
		for _, train := range []bool{false, true} {
			mod, err := New(tinyConfig(task))
			if err != nil {
				t.Fatal(err)
			}
			m, _ := AsPretrain(mod)
			randomizeParams(m, 11)
			m.Train, m.Seed, m.Step = train, 9, 1
			bt := pretrainBatch(rand.New(rand.NewPCG(4, 4)), task == TaskPretrainMultitask)
			gradCheck(t, m, func() float64 {
				o, err := m.Forward(bt)
				if err != nil {
					t.Fatal(err)
				}
				if task == TaskPretrainMultitask && o.MLMAuxLoss == 0 {
					t.Fatal("aux MLM loss is 0")
				}
				return float64(o.Total)
			}, func() { m.Backward(1) }, 6)
		}
	}
}

// TestFeatureGrad checks Boxes.FeatGrad (the hook for the e2e CNN path) against
// central differences on box features.
func TestFeatureGrad(t *testing.T) {
	m, bt := tinyVQA(t)
	bt.Boxes.FeatGrad = make([]float32, bt.Boxes.B*bt.Boxes.NB*DefaultFeatureDim)
	loss := func() float64 {
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		return float64(o.Loss)
	}
	loss()
	m.Backward(1)
	g := append([]float32(nil), bt.Boxes.FeatGrad...)
	rng := rand.New(rand.NewPCG(8, 8))
	nonzero := 0
	for k := 0; k < 40; k++ {
		b, j, f := rng.IntN(bt.Boxes.B), rng.IntN(bt.Boxes.NB), rng.IntN(DefaultFeatureDim)
		i := (b*bt.Boxes.NB+j)*boxStride + 4 + f
		gi := g[(b*bt.Boxes.NB+j)*DefaultFeatureDim+f]
		orig := bt.Boxes.Data[i]
		if orig == -2 { // padding row: no gradient
			if gi != 0 {
				t.Errorf("padding box %d,%d has gradient %g", b, j, gi)
			}
			continue
		}
		const eps = 1e-2
		bt.Boxes.Data[i] = orig + eps
		lp := loss()
		bt.Boxes.Data[i] = orig - eps
		lm := loss()
		bt.Boxes.Data[i] = orig
		fd := (lp - lm) / (2 * eps)
		if math.Abs(fd-float64(gi)) > 2e-3+3e-2*math.Abs(fd) {
			t.Errorf("feature [%d,%d,%d]: analytic %g, central difference %g", b, j, f, gi, fd)
		}
		if gi != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Error("all sampled feature gradients are zero")
	}
}

func TestGradCheckRefCOCO(t *testing.T) {
	for _, train := range []bool{false, true} {
		m, err := NewRefCOCO(tinyConfig(TaskRefCOCO))
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(m, 21)
		m.Train, m.Seed, m.Step = train, 4, 2
		rng := rand.New(rand.NewPCG(5, 5))
		bt := &RefCOCOBatch{Boxes: randomBoxes(rng, []int{4, 2}, 5), LE: 4,
			Expression: []int32{7, 8, 9, 0, 11, 12, 0, 0}, Label: []float32{1, 0, 1, 0, -1, 0, 1, -1, -1, -1}}
		gradCheck(t, m, func() float64 {
			o, err := m.Forward(bt)
			if err != nil {
				t.Fatal(err)
			}
			return float64(o.Loss)
		}, func() { m.Backward(1) }, 7)
	}
}
