package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The tests below run the visual path at a region feature width other than the
// original's 2048 (NETWORK.IMAGE_FEAT_DIM), as a small detector's pool5 gives.
const smallFeatDim = 24

// checkFeatGrad compares Boxes.FeatGrad with central differences on n sampled
// box features; padding rows (valid false) must get no gradient.
func checkFeatGrad(t *testing.T, bx *Boxes, F int, loss func() float64, backward func(), valid func(b, j int) bool, n int) {
	t.Helper()
	stride := 4 + F
	bx.FeatGrad = make([]float32, bx.B*bx.NB*F)
	loss()
	backward()
	g := slices.Clone(bx.FeatGrad)
	rng := rand.New(rand.NewPCG(8, 8))
	nonzero := 0
	for k := 0; k < n; k++ {
		b, j, f := rng.IntN(bx.B), rng.IntN(bx.NB), rng.IntN(F)
		i := (b*bx.NB+j)*stride + 4 + f
		gi := g[(b*bx.NB+j)*F+f]
		if !valid(b, j) {
			if gi != 0 {
				t.Errorf("padding box %d,%d has gradient %g", b, j, gi)
			}
			continue
		}
		orig := bx.Data[i]
		const eps = 1e-2
		bx.Data[i] = orig + eps
		lp := loss()
		bx.Data[i] = orig - eps
		lm := loss()
		bx.Data[i] = orig
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

// TestGradCheckFeatDim checks every parameter gradient and the box features'
// gradient by central differences at 24-d features: VQA (obj_downsample takes
// 2048+24), pretraining (object_mask_visual_embedding [1, 24] replaces masked
// features) and VCR's e2e RoI regulariser (Linear(24→81)) with IMAGE_SEMANTIC
// (obj_downsample takes 2048+24+128).
func TestGradCheckFeatDim(t *testing.T) {
	const F = smallFeatDim
	t.Run("vqa", func(t *testing.T) {
		c := tinyConfig(TaskVQA)
		c.FeatDim = F
		m, err := NewVQA(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.FeatureDim(); got != F {
			t.Fatalf("FeatureDim() %d, want %d", got, F)
		}
		if q, _ := m.Params.Lookup("image_feature_extractor.obj_downsample.1.weight"); q.Shape[1] != GeomDim+F {
			t.Fatalf("obj_downsample weight %v, want input %d", q.Shape, GeomDim+F)
		}
		randomizeParams(m, 1)
		m.Train, m.Seed, m.Step = true, 3, 1
		rng := rand.New(rand.NewPCG(2, 2))
		bt := &VQABatch{Boxes: randomBoxesDim(rng, []int{3, 2}, 4, F), LQ: 5,
			Question: []int32{7, 8, 9, 0, 0, 11, 0, 12, 0, 0}, Label: []float32{0, 0.3, 1, 0, 0, 0.6, 0, 0, 0.9, 0}}
		loss := func() float64 {
			o, err := m.Forward(bt)
			if err != nil {
				t.Fatal(err)
			}
			return float64(o.Loss)
		}
		gradCheck(t, m, loss, func() { m.Backward(1) }, 5)
		m.ZeroGrad()
		checkFeatGrad(t, &bt.Boxes, F, loss, func() { m.Backward(1) },
			func(b, j int) bool { return j < []int{3, 2}[b] }, 40)
	})
	t.Run("pretrain", func(t *testing.T) {
		c := tinyConfig(TaskPretrain)
		c.FeatDim = F
		mod, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := AsPretrain(mod)
		if q, _ := m.Params.Lookup("object_mask_visual_embedding.weight"); !slices.Equal(q.Shape, []int{1, F}) {
			t.Fatalf("object_mask_visual_embedding %v, want [1 %d]", q.Shape, F)
		}
		randomizeParams(m, 11)
		m.Train, m.Seed, m.Step = true, 9, 1
		bt := pretrainBatch(rand.New(rand.NewPCG(4, 4)), false)
		bt.Boxes = randomBoxesDim(rand.New(rand.NewPCG(4, 5)), []int{3, 2}, 4, F)
		gradCheck(t, m, func() float64 {
			o, err := m.Forward(bt)
			if err != nil {
				t.Fatal(err)
			}
			return float64(o.Total)
		}, func() { m.Backward(1) }, 6)
	})
	t.Run("vcr-roi-semantic", func(t *testing.T) {
		c := vcrAblation(func(c *Config) {
			c.E2E, c.CNNRegLossRoI, c.CNNLossWeight, c.ImageSemantic, c.FeatDim = true, true, 0.7, true, F
		})
		m, err := NewVCR(c)
		if err != nil {
			t.Fatal(err)
		}
		if q, _ := m.Params.Lookup("image_feature_extractor.regularizing_predictor.weight"); !slices.Equal(q.Shape, []int{VCRObjectClasses, F}) {
			t.Fatalf("regularizing_predictor %v, want [%d %d]", q.Shape, VCRObjectClasses, F)
		}
		randomizeParams(m, 29)
		m.Train, m.Seed, m.Step = true, 1, 1
		bt := vcrBatch(rand.New(rand.NewPCG(7, 7)))
		// The same boxes at F-d features, VCR padding (-1).
		bt.Boxes = randomBoxesDim(rand.New(rand.NewPCG(7, 8)), []int{3, 4}, 5, F)
		for i := 0; i < len(bt.Boxes.Data); i += 4 + F {
			if bt.Boxes.Data[i] == -2 {
				for k := 0; k < 4+F; k++ {
					bt.Boxes.Data[i+k] = -1
				}
			}
		}
		loss := func() float64 {
			o, err := m.Forward(bt)
			if err != nil {
				t.Fatal(err)
			}
			if o.CNNLoss <= 0 {
				t.Fatal("RoI regulariser loss is 0")
			}
			return float64(o.Total)
		}
		gradCheck(t, m, loss, func() { m.Backward(1) }, 3)
		m.ZeroGrad()
		checkFeatGrad(t, &bt.Boxes, F, loss, func() { m.Backward(1) },
			func(b, j int) bool { return j < []int{3, 4}[b] }, 30)
	})
}

// TestVQALearnsFeatDim is TestVQALearns with 256-d region features, the width
// of the synthetic detector's pool5 (res5 64·4).
func TestVQALearnsFeatDim(t *testing.T) { testVQALearnsDim(t, "2fc", 256) }

// TestLoadFeatDimMismatch loads a checkpoint of 256-d features into models built
// for other widths: the error names the width the checkpoint implies and the key.
func TestLoadFeatDimMismatch(t *testing.T) {
	c := tinyConfig(TaskPretrain)
	c.FeatDim = 256
	src, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	sd := make(map[string]StateTensor)
	p := src.Base().Params
	for _, q := range p.List {
		sd[q.Name] = StateTensor{Shape: q.Shape, F32: p.Data[q.Offset : q.Offset+q.Size]}
	}
	for _, F := range []int{DefaultFeatureDim, smallFeatDim} {
		c.FeatDim = F
		dst, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dst.Base().Params.LoadStateDict(sd, "ck.model", false)
		if err == nil || !strings.Contains(err.Error(), "IMAGE_FEAT_DIM=256") || !strings.Contains(err.Error(), "ck.model") {
			t.Errorf("F=%d: error %v, want one naming ck.model and NETWORK.IMAGE_FEAT_DIM=256", F, err)
		}
	}
	c.FeatDim = 256
	dst, _ := New(c)
	if _, err := dst.Base().Params.LoadStateDict(sd, "ck.model", true); err != nil {
		t.Errorf("same width: %v", err)
	}
}

func TestConfigFeatDim(t *testing.T) {
	c := tinyConfig(TaskVQA)
	if c.FeatureDim() != DefaultFeatureDim || c.BoxStride() != 4+DefaultFeatureDim {
		t.Errorf("default FeatureDim %d, BoxStride %d", c.FeatureDim(), c.BoxStride())
	}
	c.FeatDim = 0 // a zero value reads as the original's width
	if c.FeatureDim() != DefaultFeatureDim {
		t.Errorf("FeatDim 0 gives %d", c.FeatureDim())
	}
	c.FeatDim = -3
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "IMAGE_FEAT_DIM") {
		t.Errorf("negative width: %v", err)
	}
}
