package model

import (
	"math"
	"slices"
	"testing"
)

func ptGoldenBatch(t *testing.T) *PretrainBatch {
	boxes, info := readGolden(t, "pt_in_boxes"), readGolden(t, "pt_in_im_info")
	text := readGolden(t, "pt_in_text")
	return &PretrainBatch{
		Boxes:      Boxes{B: boxes.Shape[0], NB: boxes.Shape[1], Data: boxes.F32, ImInfo: info.F32, InfoW: info.Shape[1]},
		LT:         text.Shape[1],
		Text:       i64To32(text.I64),
		RelLabel:   i64To32(readGolden(t, "pt_in_relationship_label").I64),
		MLMLabels:  i64To32(readGolden(t, "pt_in_mlm_labels").I64),
		MVRCOps:    i64To32(readGolden(t, "pt_in_mvrc_ops").I64),
		MVRCLabels: readGolden(t, "pt_in_mvrc_labels").F32,
	}
}

var ptGradParams = []string{
	"object_mask_visual_embedding.weight", "object_mask_word_embedding.weight",
	"vlbert.encoder.layer.1.attention.output.LayerNorm.weight", "vlbert.mlm_head.predictions.bias",
	"vlbert.mlm_head.predictions.transform.dense.weight", "vlbert.mvrc_head.region_cls_pred.bias",
	"vlbert.pooler.dense.weight", "vlbert.position_embeddings.weight",
	"vlbert.relationsip_head.caption_image_relationship.weight",
}

// TestPretrainGolden checks both MLM paths: every position scored (AllMLMLogits, the
// original's mlm_logits) and the default that scores the predicted positions only
// (same losses and gradients; its rows are the golden's rows at those positions).
func TestPretrainGolden(t *testing.T) {
	for _, all := range []bool{true, false} {
		t.Run(map[bool]string{true: "all positions", false: "predicted positions"}[all], func(t *testing.T) {
			testPretrainGolden(t, all)
		})
	}
}

func testPretrainGolden(t *testing.T, allMLM bool) {
	m := loadGoldenModel[*Pretrain](t, TaskPretrain, "pretrain_ckpt_zip.model")
	m.AllMLMLogits = allMLM
	bt := ptGoldenBatch(t)
	out, err := m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	B, NB, H, W, R := bt.Boxes.B, bt.Boxes.NB, m.Cfg.HiddenSize, m.Cfg.VocabSize, m.Cfg.RegionClasses
	Lt := bt.LT
	compareF32(t, "pt_vlbert_in_text_visual_embeddings", out.TextVisual, []int{B, Lt, H}, tolHidden)
	compareF32(t, "pt_vlbert_in_object_vl_embeddings", concatObjVL(out.ObjReps, out.ObjLing, B, out.Lo, H), []int{B, out.Lo, 2 * H}, tolHidden)
	compareInt(t, "pt_vlbert_in_object_mask", boolTo64(out.ObjMask), []int{B, out.Lo})
	checkCore(t, m, "pt")
	compareF32(t, "pt_out_relationship_logits", out.RelLogits, []int{B, 2}, tolLogits)
	if allMLM {
		compareF32(t, "pt_out_mlm_logits", out.MLMLogits, []int{B, Lt, W}, tolLogits)
	} else {
		checkMLMRows(t, out, readGolden(t, "pt_out_mlm_logits").F32, bt.MLMLabels, B, Lt, W)
	}
	compareF32(t, "pt_out_mvrc_logits", out.MVRCLogits, []int{B, NB, R}, tolLogits)
	compareF32(t, "pt_out_relationship_loss", []float32{out.RelLoss}, []int{}, tolLoss)
	compareF32(t, "pt_out_mlm_loss", []float32{out.MLMLoss}, []int{}, tolLoss)
	compareF32(t, "pt_out_mvrc_loss", []float32{out.MVRCLoss}, []int{}, tolLoss)
	compareF32(t, "pt_out_total_loss", []float32{out.Total}, []int{}, tolLoss)

	m.ZeroGrad()
	m.Backward(1)
	for _, p := range ptGradParams {
		q, _ := m.Params.Lookup(p)
		compareF32(t, "pt_step1_grad_preclip__"+gradGoldenName(p), m.Params.GradView(p), q.Shape, tolGrad)
	}
	rows := readGolden(t, "pt_step1_word_embedding_rows").I64
	g := m.Params.GradView("vlbert.word_embeddings.weight")
	sel := make([]float32, 0, len(rows)*H)
	for _, r := range rows {
		sel = append(sel, g[int(r)*H:int(r+1)*H]...)
	}
	compareF32(t, "pt_step1_grad_preclip__vlbert_word_embeddings_weight_rows", sel, []int{len(rows), H}, tolGrad)
	checkGradNorm(t, m, 97.0407849435545) // manifest training.pt_step1.total_grad_norm_f64
}

// TestMultitaskMatchesGolden runs the multitask module with the pretraining
// checkpoint plus two text-only rows: the image-caption rows are separate sequences,
// so their outputs and losses must still match the pretraining goldens, and the aux
// rows must add their own MLM loss.
func TestMultitaskMatchesGolden(t *testing.T) {
	m, err := NewPretrainMultitask(smallConfig(TaskPretrainMultitask))
	if err != nil {
		t.Fatal(err)
	}
	ref := loadGoldenModel[*Pretrain](t, TaskPretrain, "pretrain_ckpt_zip.model")
	sd := map[string]StateTensor{}
	for _, q := range ref.Params.List {
		sd[q.Name] = StateTensor{Shape: q.Shape, F32: ref.Params.View(q.Name)}
	}
	rep, err := m.Params.LoadStateDict(sd, "pretrain_ckpt_zip.model", false)
	if err != nil || len(rep.Missing) != 1 || rep.Missing[0] != "aux_text_visual_embedding.weight" || len(rep.Unexpected) != 0 {
		t.Fatalf("load: %+v %v", rep, err)
	}
	aux := m.Params.View("aux_text_visual_embedding.weight")
	for i := range aux {
		aux[i] = float32(i%7) * 0.1
	}
	bt := ptGoldenBatch(t)
	bt.BA, bt.LA = 2, 20
	bt.AuxText = make([]int32, 2*20)
	bt.AuxMLMLabels = make([]int32, 2*20)
	for i := range bt.AuxText {
		bt.AuxMLMLabels[i] = -1
		if i%20 < 17-(i/20)*6 {
			bt.AuxText[i] = int32(1000 + 37*i%2000)
		}
	}
	bt.AuxText[3], bt.AuxMLMLabels[3] = MaskID, 2000
	bt.AuxText[25], bt.AuxMLMLabels[25] = MaskID, 1500
	out, err := m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	B, NB, W, R := bt.Boxes.B, bt.Boxes.NB, m.Cfg.VocabSize, m.Cfg.RegionClasses
	compareF32(t, "pt_out_relationship_logits", out.RelLogits, []int{B, 2}, tolLogits)
	m.AllMLMLogits = true
	full, err := m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	fullAux, fullAuxLoss := slices.Clone(full.MLMAuxLogits), full.MLMAuxLoss
	compareF32(t, "pt_out_mlm_logits", full.MLMLogits, []int{B, out.Lm, W}, tolLogits)
	m.AllMLMLogits = false
	out, err = m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	// Default: only the predicted positions are scored, image-caption rows then aux.
	if n := len(out.MLMRows); n-out.MLMRowsWVC != 2 || out.MLMRowLabels[n-2] != 2000 || out.MLMRowLabels[n-1] != 1500 ||
		int(out.MLMRows[n-2]) != B*out.Lm+3 || int(out.MLMRows[n-1]) != (B+1)*out.Lm+5 {
		t.Fatalf("aux predicted rows %v labels %v (%d image-caption)", out.MLMRows, out.MLMRowLabels, out.MLMRowsWVC)
	}
	for k := 0; k < 2; k++ {
		r := int(out.MLMRows[out.MLMRowsWVC+k]) - B*out.Lm
		got, want := out.MLMRowLogits[(out.MLMRowsWVC+k)*W:(out.MLMRowsWVC+k+1)*W], fullAux[r*W:(r+1)*W]
		for j := range got {
			if math.Abs(float64(got[j]-want[j])) > 1e-5 {
				t.Fatalf("aux row %d score %d: %g, all-positions %g", k, j, got[j], want[j])
			}
		}
	}
	if math.Abs(float64(out.MLMAuxLoss-fullAuxLoss)) > 1e-5 {
		t.Errorf("aux loss %g, all-positions %g", out.MLMAuxLoss, fullAuxLoss)
	}
	compareF32(t, "pt_out_mvrc_logits", out.MVRCLogits, []int{B, NB, R}, tolLogits)
	compareF32(t, "pt_out_mlm_loss", []float32{out.MLMLoss}, []int{}, tolLoss)
	compareF32(t, "pt_out_mvrc_loss", []float32{out.MVRCLoss}, []int{}, tolLoss)
	if !(out.MLMAuxLoss > 0) || out.Total != out.RelLoss+out.MLMLoss+out.MLMAuxLoss+out.MVRCLoss {
		t.Errorf("aux loss %g, total %g", out.MLMAuxLoss, out.Total)
	}
	// The aux rows get the aux visual embedding as every text token's visual feature.
	H := m.Cfg.HiddenSize
	if got := out.TextVisual[(B*out.Lm+5)*H : (B*out.Lm+6)*H]; !slicesEqual(got, aux) {
		t.Error("aux text visual feature is not aux_text_visual_embedding")
	}
}

// checkMLMRows checks the predicted-positions output: MLMRows are exactly the
// positions with a label (row-major), with their labels, and each row's scores match
// the full scores want [B, Lt, W] at that position.
func checkMLMRows(t *testing.T, out *PretrainOutput, want []float32, labels []int32, B, Lt, W int) {
	t.Helper()
	if out.MLMLogits != nil {
		t.Error("MLMLogits filled without AllMLMLogits")
	}
	i := 0
	for r, l := range labels[:B*Lt] {
		if l < 0 {
			continue
		}
		if i >= len(out.MLMRows) || int(out.MLMRows[i]) != r || out.MLMRowLabels[i] != l {
			t.Fatalf("predicted row %d: got rows %v labels %v, want row %d label %d", i, out.MLMRows, out.MLMRowLabels, r, l)
		}
		got, w := out.MLMRowLogits[i*W:(i+1)*W], want[r*W:(r+1)*W]
		for j := range got {
			if d := math.Abs(float64(got[j] - w[j])); d > 1e-4+1e-4*math.Abs(float64(w[j])) {
				t.Fatalf("row %d (position %d) score %d: %g, golden %g", i, r, j, got[j], w[j])
			}
		}
		i++
	}
	if i != len(out.MLMRows) || i != out.MLMRowsWVC {
		t.Errorf("%d predicted rows (%d image-caption), want %d", len(out.MLMRows), out.MLMRowsWVC, i)
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPretrainStepGolden applies one step of the original trainer to the golden
// gradients (clip_grad_norm_ to 10, then the repo's AdamW from a fresh state at
// lr 1.25e-4, wd 1e-4), written out here, and compares the parameters after the step.
// A first AdamW step moves each parameter by about lr·sign(g), so this checks the sign
// and the zero pattern of the gradients and the step arithmetic, not their magnitudes
// (TestPretrainGolden does that).
func TestPretrainStepGolden(t *testing.T) {
	m := loadGoldenModel[*Pretrain](t, TaskPretrain, "pretrain_ckpt_zip.model")
	if _, err := m.Forward(ptGoldenBatch(t)); err != nil {
		t.Fatal(err)
	}
	m.ZeroGrad()
	m.Backward(1)
	var ss float64
	for _, g := range m.Params.Grad {
		ss += float64(g) * float64(g)
	}
	coef := float32(10 / (math.Sqrt(ss) + 1e-6))
	const lr, b1, b2, eps, wd = 1.25e-4, 0.9, 0.999, 1e-6, 1e-4
	for i, g := range m.Params.Grad {
		if coef < 1 {
			g *= coef
		}
		mom := (1 - b1) * g
		v := (1 - b2) * g * g
		step := float32(lr * math.Sqrt(1-b2) / (1 - b1))
		p := m.Params.Data[i]
		p -= step * mom / (float32(math.Sqrt(float64(v))) + eps)
		p -= lr * wd * p
		m.Params.Data[i] = p
	}
	tl := tol{1e-5, 0}
	for _, p := range ptGradParams {
		q, _ := m.Params.Lookup(p)
		compareF32(t, "pt_step1_param_after__"+gradGoldenName(p), m.Params.View(p), q.Shape, tl)
	}
	rows := readGolden(t, "pt_step1_word_embedding_rows").I64
	H := m.Cfg.HiddenSize
	w := m.Params.View("vlbert.word_embeddings.weight")
	sel := make([]float32, 0, len(rows)*H)
	for _, r := range rows {
		sel = append(sel, w[int(r)*H:int(r+1)*H]...)
	}
	compareF32(t, "pt_step1_param_after__vlbert_word_embeddings_weight_rows", sel, []int{len(rows), H}, tl)
}
