package onnx

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vlbert/vlbert/internal/model"
)

// TestInt8Parity: an --int8 export run by ONNX Runtime gives vlbert's own int8
// answers (model.QuantizeInt8). Both quantize every encoder Linear's input per
// token to 7 bits, so where the two float32 paths differ by an ulp an input can
// land on the other side of a rounding step; the difference is then one step of
// one input, far below int8's own error. So the check is: within the golden
// tolerance for most logits, and everywhere within a tenth of the int8-vs-float32
// difference.
func TestInt8Parity(t *testing.T) {
	c, spec := smallConfig(model.TaskVQA)
	m, err := model.NewVQA(c)
	if err != nil {
		t.Fatal(err)
	}
	randomize(m.Base(), 11)
	path := exportTo(t, spec, weightsOf(m.Base()), Options{Int8: true})
	checkModel(t, path)
	rng := rand.New(rand.NewPCG(12, 12))
	var runs [][]ortTensor
	var want8, want32 [][]float32
	for _, s := range parityShapes {
		boxes, info := boxesFor(rng, s, -2)
		q := tokens(rng, s.B, s.T, s.nText, s.holeText, spec.Vocab)
		bt := &model.VQABatch{Boxes: model.Boxes{B: s.B, NB: s.R, Data: boxes, ImInfo: info, InfoW: 4}, LQ: s.T, Question: to32(q)}
		out, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		want32 = append(want32, append([]float32(nil), out.Logits...))
		if err := m.QuantizeInt8(); err != nil {
			t.Fatal(err)
		}
		m.Inference = true
		out, err = m.Forward(bt)
		m.Inference = false
		m.DropInt8()
		if err != nil {
			t.Fatal(err)
		}
		want8 = append(want8, append([]float32(nil), out.Logits...))
		runs = append(runs, []ortTensor{{Name: "boxes", Dims: []int{s.B, s.R, 4 + DefaultFeatureDim}, F32: boxes},
			{Name: "im_info", Dims: []int{s.B, 4}, F32: info}, {Name: "question", Dims: []int{s.B, s.T}, I64: q}})
	}
	res := runORT(t, path, runs, 1)
	for i, r := range res {
		if r.Err != "" {
			t.Fatalf("shape %d: onnxruntime: %s", i, r.Err)
		}
		got := r.Outputs["label_logits"].F32
		var d8, d32 float64
		within := 0
		for k := range got {
			d := math.Abs(float64(got[k] - want8[i][k]))
			d8 = max(d8, d)
			d32 = max(d32, math.Abs(float64(want8[i][k]-want32[i][k])))
			if d <= tolAbs+tolRel*math.Abs(float64(want8[i][k])) {
				within++
			}
		}
		t.Logf("shape %d: ONNX int8 vs vlbert int8 max |diff| %.3g (%d of %d within the golden tolerance); vlbert int8 vs float32 %.3g", i, d8, within, len(got), d32)
		if d32 == 0 {
			t.Fatalf("shape %d: int8 and float32 logits are identical: vlbert did not quantize", i)
		}
		if d8 > d32/10 || within < len(got)*9/10 {
			t.Error(fmt.Sprintf("shape %d: int8 export differs from vlbert's int8 by %.3g (int8 vs float32: %.3g), %d of %d within tolerance", i, d8, d32, within, len(got)))
		}
	}
}
