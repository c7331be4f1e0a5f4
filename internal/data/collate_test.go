package data

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/visual"
)

func readGolden(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile("../../testdata/golden/" + name + ".npy")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// validBoxes counts rows whose x1 > -1.5 (the model's box mask).
func validBoxes(boxes []float32, r, dim int) int {
	n := 0
	for i := range r {
		if boxes[i*dim] > -1.5 {
			n++
		}
	}
	return n
}

// TestCollateVQAGolden splits the golden VQA batch into examples and collates
// them back: the padding values and the layout must reproduce it bit for bit.
func TestCollateVQAGolden(t *testing.T) {
	boxes, imInfo := readGolden(t, "vqa_in_boxes"), readGolden(t, "vqa_in_im_info")
	question, label := readGolden(t, "vqa_in_question"), readGolden(t, "vqa_in_label")
	B, R, D := boxes.Shape[0], boxes.Shape[1], boxes.Shape[2]
	Q, A := question.Shape[1], label.Shape[1]
	var exs []*VQAExample
	for b := range B {
		n := validBoxes(boxes.F32[b*R*D:], R, D)
		q := question.I64[b*Q : (b+1)*Q]
		qlen := len(q)
		for qlen > 0 && q[qlen-1] == 0 {
			qlen--
		}
		e := &VQAExample{Index: b, Boxes: slices.Clone(boxes.F32[b*R*D : b*R*D+n*D]), NumBoxes: n, BoxDim: D,
			Question: slices.Clone(q[:qlen]), Label: slices.Clone(label.F32[b*A : (b+1)*A])}
		copy(e.ImInfo[:], imInfo.F32[4*b:])
		exs = append(exs, e)
	}
	if exs[0].NumBoxes != 10 || exs[1].NumBoxes != 7 || len(exs[1].Question) != 8 {
		t.Fatalf("golden split: %d %d boxes, question %d", exs[0].NumBoxes, exs[1].NumBoxes, len(exs[1].Question))
	}
	got, err := CollateVQA(exs)
	if err != nil {
		t.Fatal(err)
	}
	if got.B != B || got.R != R || got.BoxDim != D || got.Q != Q || got.A != A {
		t.Fatalf("shape %+v", got)
	}
	if !slices.Equal(got.Boxes, boxes.F32) || !slices.Equal(got.ImInfo, imInfo.F32) ||
		!slices.Equal(got.Question, question.I64) || !slices.Equal(got.Label, label.F32) {
		t.Error("collated VQA batch differs from the golden inputs")
	}
	// Whole-image feature = mean of the real boxes (golden row 0), to float32 rounding.
	mean := make([]float32, D-4)
	MeanFeature(mean, exs[0].Boxes[D:], exs[0].NumBoxes-1, D, 4, D-4)
	for k, v := range mean {
		if d := v - exs[0].Boxes[4+k]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("feature %d: mean %v golden %v", k, v, exs[0].Boxes[4+k])
		}
	}
}

func TestCollatePretrainGolden(t *testing.T) {
	boxes, imInfo := readGolden(t, "pt_in_boxes"), readGolden(t, "pt_in_im_info")
	text, mlm := readGolden(t, "pt_in_text"), readGolden(t, "pt_in_mlm_labels")
	ops, mvrc := readGolden(t, "pt_in_mvrc_ops"), readGolden(t, "pt_in_mvrc_labels")
	rel := readGolden(t, "pt_in_relationship_label")
	B, R, D := boxes.Shape[0], boxes.Shape[1], boxes.Shape[2]
	T, C := text.Shape[1], mvrc.Shape[2]
	var exs []*PretrainExample
	for b := range B {
		n := validBoxes(boxes.F32[b*R*D:], R, D)
		tl := 0
		for tl < T && text.I64[b*T+tl] != 0 {
			tl++
		}
		exs = append(exs, &PretrainExample{
			Index: b, Boxes: slices.Clone(boxes.F32[b*R*D : b*R*D+n*D]), NumBoxes: n, BoxDim: D,
			ImInfo: slices.Clone(imInfo.F32[4*b : 4*b+4]),
			Text:   slices.Clone(text.I64[b*T : b*T+tl]), MLMLabels: slices.Clone(mlm.I64[b*T : b*T+tl]),
			RelationshipLabel: rel.I64[b],
			MVRCOps:           slices.Clone(ops.I64[b*R : b*R+n]), MVRCLabels: slices.Clone(mvrc.F32[b*R*C : b*R*C+n*C]), NumClasses: C,
		})
	}
	if exs[1].NumBoxes != 5 || len(exs[1].Text) != 13 {
		t.Fatalf("golden split: %d boxes, %d tokens", exs[1].NumBoxes, len(exs[1].Text))
	}
	got, err := CollatePretrain(exs)
	if err != nil {
		t.Fatal(err)
	}
	if got.R != R || got.T != T || got.C != C || got.I != 4 {
		t.Fatalf("shape %+v", got)
	}
	if !slices.Equal(got.Boxes, boxes.F32) || !slices.Equal(got.ImInfo, imInfo.F32) || !slices.Equal(got.Text, text.I64) ||
		!slices.Equal(got.MLMLabels, mlm.I64) || !slices.Equal(got.MVRCOps, ops.I64) || !slices.Equal(got.MVRCLabels, mvrc.F32) ||
		!slices.Equal(got.RelationshipLabel, rel.I64) {
		t.Error("collated pretrain batch differs from the golden inputs")
	}
}

func TestCollateErrors(t *testing.T) {
	if _, err := CollateVQA(nil); err == nil {
		t.Error("empty batch accepted")
	}
	a := &VQAExample{Boxes: make([]float32, 8), NumBoxes: 1, BoxDim: 8, Label: make([]float32, 3)}
	b := &VQAExample{Boxes: make([]float32, 6), NumBoxes: 1, BoxDim: 6, Label: make([]float32, 3)}
	if _, err := CollateVQA([]*VQAExample{a, b}); err == nil {
		t.Error("mixed box widths accepted")
	}
	c := &VQAExample{Boxes: make([]float32, 8), NumBoxes: 1, BoxDim: 8}
	if _, err := CollateVQA([]*VQAExample{a, c}); err == nil {
		t.Error("labelled and unlabelled mixed")
	}
	if _, err := CollateText([]*TextExample{{Text: []int64{1, 2}, MLMLabels: []int64{-1}}}); err == nil {
		t.Error("label length mismatch accepted")
	}
	tb, err := CollateText([]*TextExample{{Text: []int64{5, 6, 7}, MLMLabels: []int64{-1, 6, -1}}, {Text: []int64{8}, MLMLabels: []int64{8}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tb.Text, []int64{5, 6, 7, 8, 0, 0}) || !slices.Equal(tb.MLMLabels, []int64{-1, 6, -1, 8, -1, -1}) {
		t.Errorf("text batch %v %v", tb.Text, tb.MLMLabels)
	}
}

// TestResizeSize: BoxTransform resizes with visual.ResizeSize (the pixels'
// size), on the cases of the shipped configs' 600/1000 scales.
func TestResizeSize(t *testing.T) {
	for _, c := range []struct{ w, h, ow, oh int }{
		{640, 480, 800, 600},
		{500, 375, 800, 600},
		{600, 400, 900, 600},
		{427, 640, 600, 899}, // int(600*640/427) = 899.29 -> 899
		{2000, 500, 1000, 250},
		{600, 600, 600, 600},
		{300, 1000, 300, 1000}, // long side capped: size = int(1000*300/1000) = 300 = w: unchanged
	} {
		ow, oh := visual.ResizeSize(c.w, c.h, 600, 1000)
		if ow != c.ow || oh != c.oh {
			t.Errorf("ResizeSize(%d,%d) = %d,%d want %d,%d", c.w, c.h, ow, oh, c.ow, c.oh)
		}
	}
}

func TestBoxTransform(t *testing.T) {
	boxes := []float32{0, 0, 639, 479, 10, 20, 100, 200, 600, 0, 700, 10}
	tr := BoxTransform{MinSize: 600, MaxSize: 1000, FlipProb: 0}
	info, flipped := tr.Apply(rand.New(rand.NewPCG(1, 1)), boxes, 3, 4, 640, 480)
	if flipped || info != [4]float32{800, 600, 1.25, 1.25} {
		t.Fatalf("info %v flipped %v", info, flipped)
	}
	want := []float32{0, 0, 798.75, 598.75, 12.5, 25, 125, 250, 750, 0, 799, 12.5} // 875 clamped to w-1
	if !slices.Equal(boxes, want) {
		t.Errorf("boxes %v want %v", boxes, want)
	}
	fl := []float32{10, 20, 100, 200}
	info, flipped = BoxTransform{FlipProb: 1}.Apply(rand.New(rand.NewPCG(1, 1)), fl, 1, 4, 500, 375)
	if !flipped || info != [4]float32{500, 375, 1, 1} || !slices.Equal(fl, []float32{399, 20, 489, 200}) {
		t.Errorf("flip: %v %v %v", info, flipped, fl)
	}
	if got := SwapLeftRight([]string{"left", "of", "right", "lefty"}); !slices.Equal(got, []string{"right", "of", "left", "lefty"}) {
		t.Errorf("SwapLeftRight = %v", got)
	}
}
