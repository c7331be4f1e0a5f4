package model

import "testing"

func vqaGoldenBatch(t *testing.T) *VQABatch {
	boxes, info := readGolden(t, "vqa_in_boxes"), readGolden(t, "vqa_in_im_info")
	q, label := readGolden(t, "vqa_in_question"), readGolden(t, "vqa_in_label")
	return &VQABatch{
		Boxes:    Boxes{B: boxes.Shape[0], NB: boxes.Shape[1], Data: boxes.F32, ImInfo: info.F32, InfoW: info.Shape[1]},
		LQ:       q.Shape[1],
		Question: i64To32(q.I64),
		Label:    label.F32,
	}
}

var vqaGradParams = []string{
	"final_mlp.0.LayerNorm.weight", "final_mlp.2.bias", "final_mlp.2.weight",
	"image_feature_extractor.obj_downsample.1.bias", "object_linguistic_embeddings.weight",
	"vlbert.embedding_LayerNorm.weight", "vlbert.encoder.layer.0.attention.self.query.weight",
	"vlbert.encoder.layer.1.output.dense.bias", "vlbert.end_embedding.weight",
	"vlbert.token_type_embeddings.weight", "vlbert.visual_ln_object.weight", "vlbert.visual_ln_text.bias",
}

func TestVQAGolden(t *testing.T) {
	for _, ckpt := range []string{"vqa_ckpt_legacy.model", "vqa_ckpt_zip.model"} {
		t.Run(ckpt, func(t *testing.T) {
			m := loadGoldenModel[*VQA](t, TaskVQA, ckpt)
			bt := vqaGoldenBatch(t)
			out, err := m.Forward(bt)
			if err != nil {
				t.Fatal(err)
			}
			B, H, A := bt.Boxes.B, m.Cfg.HiddenSize, m.Cfg.AnswerVocabSize
			compareF32(t, "vqa_out_obj_reps", out.ObjReps, []int{B, out.Lo, H}, tolHidden)
			compareInt(t, "vqa_vlbert_in_text_input_ids", i32To64(out.TextIDs), []int{B, out.Lt})
			compareInt(t, "vqa_vlbert_in_text_token_type_ids", i32To64(out.TextTypes), []int{B, out.Lt})
			compareInt(t, "vqa_vlbert_in_text_mask", boolTo64(out.TextMask), []int{B, out.Lt})
			compareInt(t, "vqa_vlbert_in_object_mask", boolTo64(out.ObjMask), []int{B, out.Lo})
			compareF32(t, "vqa_vlbert_in_text_visual_embeddings", out.TextVisual, []int{B, out.Lt, H}, tolHidden)
			compareF32(t, "vqa_vlbert_in_object_vl_embeddings", concatObjVL(out.ObjReps, out.ObjLing, B, out.Lo, H), []int{B, out.Lo, 2 * H}, tolHidden)
			checkCore(t, m, "vqa")
			compareF32(t, "vqa_out_logits", out.Logits, []int{B, A}, tolLogits)
			compareF32(t, "vqa_out_train_loss_at_ckpt", []float32{out.Loss}, []int{}, tolLoss)

			m.ZeroGrad()
			m.Backward(1)
			for _, p := range vqaGradParams {
				q, _ := m.Params.Lookup(p)
				compareF32(t, "vqa_step2_grad_preclip__"+gradGoldenName(p), m.Params.GradView(p), q.Shape, tolGrad)
			}
			checkGradNorm(t, m, 147.1027843800725) // manifest training.vqa_step2.total_grad_norm_f64

			// Inference (answers only: the last layer for the [MASK] rows) gives the
			// same logits.
			m.Inference = true
			defer func() { m.Inference = false }()
			inf, err := m.Forward(bt)
			if err != nil {
				t.Fatal(err)
			}
			if m.c.rowsOut == nil {
				t.Fatal("inference forward did not take the answers-only path")
			}
			compareF32(t, "vqa_out_logits", inf.Logits, []int{B, A}, tolLogits)
		})
	}
}
