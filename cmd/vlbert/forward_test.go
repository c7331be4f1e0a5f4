package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/weights"
)

const goldenDir = "../../testdata/golden"

func goldenArray(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(filepath.Join(goldenDir, name+".npy"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func writeInputs(t *testing.T, prefix string, names []string) string {
	t.Helper()
	in := map[string]*npy.Array{}
	for _, n := range names {
		in[n] = goldenArray(t, prefix+"_in_"+n)
	}
	path := filepath.Join(t.TempDir(), "in.npz")
	if err := npy.WriteNpz(path, in); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkOut compares out[key] with golden file name.
func checkOut(t *testing.T, out map[string]*npy.Array, key, golden string, atol, rtol float64) {
	t.Helper()
	got, ok := out[key]
	if !ok {
		t.Errorf("output %q missing", key)
		return
	}
	want := goldenArray(t, golden)
	if !slices.Equal(got.Shape, want.Shape) {
		t.Errorf("%s: shape %v, golden %v", key, got.Shape, want.Shape)
		return
	}
	if want.I64 != nil {
		if !slices.Equal(got.I64, want.I64) {
			t.Errorf("%s: integer values differ", key)
		}
		return
	}
	maxAbs := 0.0
	for i := range got.F32 {
		d := math.Abs(float64(got.F32[i]) - float64(want.F32[i]))
		maxAbs = max(maxAbs, d)
		if !(d <= atol+rtol*math.Abs(float64(want.F32[i]))) {
			t.Errorf("%s[%d]: got %g want %g", key, i, got.F32[i], want.F32[i])
			return
		}
	}
	t.Logf("%-40s max_abs=%.3g", key, maxAbs)
}

func runForwardGolden(t *testing.T, cfg, ckpt, inputs string) map[string]*npy.Array {
	t.Helper()
	outPath := filepath.Join(t.TempDir(), "out.npz")
	var stdout bytes.Buffer
	o := forwardOptions{cfg: filepath.Join(goldenDir, cfg), ckpt: filepath.Join(goldenDir, ckpt), inputs: inputs, out: outPath, backward: true}
	if err := runForward(context.Background(), o, &stdout); err != nil {
		t.Fatal(err)
	}
	out, err := npy.ReadNpz(outPath)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestForwardVQAGolden(t *testing.T) {
	in := writeInputs(t, "vqa", []string{"boxes", "im_info", "question", "label"})
	out := runForwardGolden(t, "vqa_small.yaml", "vqa_ckpt_zip.model", in)
	checkOut(t, out, "label_logits", "vqa_out_logits", 2e-4, 1e-4)
	checkOut(t, out, "ans_loss", "vqa_out_train_loss_at_ckpt", 1e-4, 1e-5)
	checkOut(t, out, "obj_reps", "vqa_out_obj_reps", 1e-4, 1e-4)
	for _, k := range []string{"embedding_output", "attention_mask", "text_positions_mask", "object_positions_mask",
		"text_hidden_all_layers", "object_hidden_all_layers", "attention_probs_all_layers"} {
		checkOut(t, out, k, "vqa_core_"+k, 1e-4, 1e-4)
	}
	checkOut(t, out, "grad.final_mlp.2.weight", "vqa_step2_grad_preclip__final_mlp_2_weight", 1e-4, 1e-3)
	checkOut(t, out, "grad.vlbert.encoder.layer.0.attention.self.query.weight", "vqa_step2_grad_preclip__vlbert_encoder_layer_0_attention_self_query_weight", 1e-4, 1e-3)
	if _, ok := out["pooled_output"]; ok {
		t.Error("VQA config has no pooler, but pooled_output was written")
	}
	if n := len(out); n < 60 {
		t.Errorf("only %d arrays written", n)
	}
}

func TestForwardPretrainGolden(t *testing.T) {
	in := writeInputs(t, "pt", []string{"boxes", "im_info", "text", "relationship_label", "mlm_labels", "mvrc_ops", "mvrc_labels"})
	out := runForwardGolden(t, "pretrain_small.yaml", "pretrain_ckpt_zip.model", in)
	for _, k := range []string{"relationship_logits", "mlm_logits", "mvrc_logits"} {
		checkOut(t, out, k, "pt_out_"+k, 2e-4, 1e-4)
	}
	for _, k := range []string{"relationship_loss", "mlm_loss", "mvrc_loss", "total_loss"} {
		checkOut(t, out, k, "pt_out_"+k, 1e-4, 1e-5)
	}
	for _, k := range []string{"embedding_output", "attention_mask", "text_hidden_all_layers", "object_hidden_all_layers",
		"attention_probs_all_layers", "pooled_output"} {
		checkOut(t, out, k, "pt_core_"+k, 1e-4, 1e-4)
	}
	checkOut(t, out, "grad.object_mask_visual_embedding.weight", "pt_step1_grad_preclip__object_mask_visual_embedding_weight", 1e-4, 1e-3)
	checkOut(t, out, "grad.vlbert.pooler.dense.weight", "pt_step1_grad_preclip__vlbert_pooler_dense_weight", 1e-4, 1e-3)
	if _, ok := out["grad.vlbert.mlm_head.predictions.decoder.weight"]; ok {
		t.Error("the tied decoder weight is not a separate trainable parameter")
	}
}

func TestForwardBadInputs(t *testing.T) {
	dir := t.TempDir()
	full := map[string]*npy.Array{}
	for _, n := range []string{"boxes", "im_info", "question", "label"} {
		full[n] = goldenArray(t, "vqa_in_"+n)
	}
	cases := []struct {
		name string
		edit func(m map[string]*npy.Array)
		want string
	}{
		{"missing", func(m map[string]*npy.Array) { delete(m, "question") }, `missing array "question"`},
		{"dtype", func(m map[string]*npy.Array) {
			q := m["question"]
			f := make([]float32, len(q.I64))
			m["question"] = npy.NewF32(f, q.Shape...)
		}, `"question" has dtype`},
		{"shape", func(m map[string]*npy.Array) {
			b := m["boxes"]
			m["boxes"] = npy.NewF32(b.F32[:2*10*2048], 2, 10, 2048)
		}, `"boxes" has shape`},
		{"batch", func(m map[string]*npy.Array) {
			q := m["question"]
			m["question"] = npy.NewI64(q.I64[:19], 1, 19)
		}, `"question" has shape`},
		{"vocab", func(m map[string]*npy.Array) {
			q := m["question"]
			ids := slices.Clone(q.I64)
			ids[0] = 99999
			m["question"] = npy.NewI64(ids, q.Shape...)
		}, "outside the vocabulary"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]*npy.Array{}
			for k, v := range full {
				in[k] = v
			}
			tc.edit(in)
			path := filepath.Join(dir, tc.name+".npz")
			if err := npy.WriteNpz(path, in); err != nil {
				t.Fatal(err)
			}
			o := forwardOptions{cfg: filepath.Join(goldenDir, "vqa_small.yaml"), ckpt: filepath.Join(goldenDir, "vqa_ckpt_zip.model"),
				inputs: path, out: filepath.Join(dir, tc.name+"_out.npz")}
			err := runForward(context.Background(), o, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %s", err, tc.want)
			}
		})
	}
	t.Run("corrupt", func(t *testing.T) {
		path := filepath.Join(dir, "corrupt.npz")
		if err := os.WriteFile(path, []byte("PK\x03\x04 not really a zip"), 0o644); err != nil {
			t.Fatal(err)
		}
		o := forwardOptions{cfg: filepath.Join(goldenDir, "vqa_small.yaml"), ckpt: filepath.Join(goldenDir, "vqa_ckpt_zip.model"),
			inputs: path, out: filepath.Join(dir, "c_out.npz")}
		if err := runForward(context.Background(), o, &bytes.Buffer{}); err == nil {
			t.Error("corrupt npz accepted")
		}
	})
	t.Run("wrong checkpoint", func(t *testing.T) {
		path := filepath.Join(dir, "ok.npz")
		if err := npy.WriteNpz(path, full); err != nil {
			t.Fatal(err)
		}
		o := forwardOptions{cfg: filepath.Join(goldenDir, "vqa_small.yaml"), ckpt: filepath.Join(goldenDir, "pretrain_ckpt_zip.model"),
			inputs: path, out: filepath.Join(dir, "w_out.npz")}
		err := runForward(context.Background(), o, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "final_mlp.0.dense.weight") || !strings.Contains(err.Error(), "pretrain_ckpt_zip.model") {
			t.Errorf("err = %v, want missing final_mlp keys naming the file", err)
		}
	})
}

// TestForwardRefCOCO runs the RefCOCO module (precomputed features) from a
// safetensors state dict of a randomly initialised tiny model.
func TestForwardRefCOCO(t *testing.T) {
	dir := t.TempDir()
	yml := "MODULE: ResNetVLBERT\nDATASET:\n  DATASET: refcoco+\nNETWORK:\n  IMAGE_FEAT_PRECOMPUTED: true\n  IMAGE_FINAL_DIM: 8\n  CLASSIFIER_DROPOUT: 0.0\n  VLBERT:\n    hidden_size: 8\n    visual_size: 8\n    num_hidden_layers: 1\n    num_attention_heads: 2\n    intermediate_size: 16\n    vocab_size: 200\n    max_position_embeddings: 40\n    visual_ln: true\n"
	cfgPath := filepath.Join(dir, "refcoco.yaml")
	if err := os.WriteFile(cfgPath, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfgPath, "")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := model.FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	m.Base().InitWeights(5)
	sd := map[string]*weights.Tensor{}
	for _, name := range m.Base().Params.Names() {
		q, _ := m.Base().Params.Lookup(name)
		sd["module."+name] = weights.NewF32(slices.Clone(m.Base().Params.View(name)), q.Shape...)
	}
	ckpt := filepath.Join(dir, "ref.safetensors")
	if err := weights.WriteSafetensors(ckpt, sd, nil); err != nil {
		t.Fatal(err)
	}
	boxes := goldenArray(t, "vqa_in_boxes")
	label := make([]float32, 2*10)
	label[3], label[12] = 1, 1
	in := map[string]*npy.Array{"boxes": boxes, "im_info": goldenArray(t, "vqa_in_im_info"),
		"expression": npy.NewI64([]int64{5, 6, 7, 0, 8, 9, 0, 0}, 2, 4), "label": npy.NewF32(label, 2, 10)}
	inPath := filepath.Join(dir, "in.npz")
	if err := npy.WriteNpz(inPath, in); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "out.npz")
	o := forwardOptions{cfg: cfgPath, ckpt: ckpt, inputs: inPath, out: outPath, backward: true}
	if err := runForward(context.Background(), o, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	out, err := npy.ReadNpz(outPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"label_logits", "pred_boxes", "cls_loss", "obj_reps", "grad.final_mlp.2.weight", "attention_probs_all_layers"} {
		if _, ok := out[k]; !ok {
			t.Errorf("output %q missing", k)
		}
	}
	if l := out["cls_loss"].F32[0]; !(l > 0) || math.IsNaN(float64(l)) {
		t.Errorf("cls_loss = %g", l)
	}
	if sh := out["label_logits"].Shape; !slices.Equal(sh, []int{2, 10}) {
		t.Errorf("label_logits shape %v", sh)
	}
	// The predicted box is one of the sample's boxes (scale 1 in these im_info).
	pb := out["pred_boxes"].F32
	for b := 0; b < 2; b++ {
		found := false
		for j := 0; j < 10; j++ {
			row := boxes.F32[(b*10+j)*2052:]
			if row[0] > -1.5 && slices.Equal(row[:4], pb[b*4:b*4+4]) {
				found = true
			}
		}
		if !found {
			t.Errorf("sample %d: pred box %v is not a valid input box", b, pb[b*4:b*4+4])
		}
	}
}
