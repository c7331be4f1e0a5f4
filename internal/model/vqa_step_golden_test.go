package model

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/weights"
)

// TestVQAStepGolden resumes the original trainer's second VQA step: the checkpoint's
// AdamW state is indexed by Params.List order (the original named_parameters order),
// the gradients are clipped to norm 1 and one AdamW step at lr 2.5e-4 (written out
// here) must land on vqa_step2_param_after. With moments from step 1, the update
// depends on the gradient magnitudes, not only their signs.
func TestVQAStepGolden(t *testing.T) {
	path := filepath.Join(goldenDir, "vqa_ckpt_zip.model")
	ck, err := weights.ReadTorch(path)
	if err != nil {
		t.Fatal(err)
	}
	m := loadGoldenModel[*VQA](t, TaskVQA, "vqa_ckpt_zip.model")
	opt := ck.Optimizer
	if opt == nil || len(opt.ParamGroups) != 1 || len(opt.ParamGroups[0].Params) != len(m.Params.List) {
		t.Fatalf("optimizer state does not cover the %d parameters", len(m.Params.List))
	}
	for i, q := range m.Params.List {
		st := opt.State[opt.ParamGroups[0].Params[i]]
		if st == nil || !slices.Equal(st.ExpAvg.Shape, q.Shape) {
			t.Fatalf("optimizer state %d does not match parameter %s %v", i, q.Name, q.Shape)
		}
	}
	if _, err := m.Forward(vqaGoldenBatch(t)); err != nil {
		t.Fatal(err)
	}
	m.ZeroGrad()
	m.Backward(1)
	var ss float64
	for _, g := range m.Params.Grad {
		ss += float64(g) * float64(g)
	}
	coef := float32(1 / (math.Sqrt(ss) + 1e-6))
	const lr, b1, b2, eps, wd = 2.5e-4, 0.9, 0.999, 1e-6, 1e-4
	for i, q := range m.Params.List {
		st := opt.State[opt.ParamGroups[0].Params[i]]
		step := st.Step + 1
		size := float32(lr * math.Sqrt(1-math.Pow(b2, float64(step))) / (1 - math.Pow(b1, float64(step))))
		for k := 0; k < q.Size; k++ {
			g := m.Params.Grad[q.Offset+k]
			if coef < 1 {
				g *= coef
			}
			mo := b1*st.ExpAvg.F32[k] + (1-b1)*g
			v := b2*st.ExpAvgSq.F32[k] + (1-b2)*g*g
			p := m.Params.Data[q.Offset+k]
			p -= size * mo / (float32(math.Sqrt(float64(v))) + eps)
			p -= lr * wd * p
			m.Params.Data[q.Offset+k] = p
		}
	}
	for _, p := range vqaGradParams {
		q, _ := m.Params.Lookup(p)
		compareF32(t, "vqa_step2_param_after__"+gradGoldenName(p), m.Params.View(p), q.Shape, tol{1e-5, 0})
	}
}
