package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/weights"
)

// forwardOptions are the flags of `vlbert forward`, the parity command: one batch
// through the original-checkpoint model, every output (and optionally every parameter
// gradient) written to an .npz for comparison with the PyTorch original.
type forwardOptions struct {
	cfg, ckpt, inputs, out string
	backward               bool
}

func init() {
	register(&command{name: "forward", summary: "run one batch through a checkpoint and dump outputs (parity with the original)",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o forwardOptions
			fs := newFlagSet("forward", stderr)
			fs.StringVar(&o.cfg, "cfg", "", "YAML config in the original schema (MODULE selects the task)")
			fs.StringVar(&o.ckpt, "ckpt", "", "original .model checkpoint (legacy or zip torch.save), or a .safetensors state dict")
			fs.StringVar(&o.inputs, "inputs", "", "batch: .npz (or directory of .npy) named as the golden set without prefix")
			fs.StringVar(&o.out, "out", "", "output .npz")
			fs.BoolVar(&o.backward, "backward", false, "also back-propagate the training loss (dropout off) and write grad.<key>")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			for _, f := range []struct{ name, v string }{{"cfg", o.cfg}, {"ckpt", o.ckpt}, {"inputs", o.inputs}, {"out", o.out}} {
				if f.v == "" {
					return usagef("-%s is required", f.name)
				}
			}
			return runForward(ctx, o, stdout)
		}})
}

func runForward(ctx context.Context, o forwardOptions, stdout io.Writer) error {
	cfg, err := config.Load(o.cfg, "")
	if err != nil {
		return err
	}
	mc, err := model.FromConfig(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", o.cfg, err)
	}
	m, err := model.New(mc)
	if err != nil {
		return err
	}
	var sd map[string]*weights.Tensor
	if strings.HasSuffix(o.ckpt, ".safetensors") {
		sd, _, err = weights.ReadSafetensors(o.ckpt)
	} else {
		var ck *weights.TorchCheckpoint
		if ck, err = weights.ReadTorch(o.ckpt); err == nil {
			sd = ck.StateDict
		}
	}
	if err != nil {
		return err
	}
	if _, err := m.Base().LoadTorchStateDict(sd, o.ckpt, true); err != nil {
		return err
	}
	in, err := npy.ReadNpz(o.inputs)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	out := map[string]*npy.Array{}
	switch m := m.(type) {
	case *model.VQA:
		err = forwardVQA(m, in, out, o.backward, o.inputs)
	case *model.RefCOCO:
		err = forwardRefCOCO(m, in, out, o.backward, o.inputs)
	default:
		pt, ok := model.AsPretrain(m)
		if !ok {
			return fmt.Errorf("forward: %s is not supported", mc.Task)
		}
		_, multi := m.(*model.PretrainMultitask)
		err = forwardPretrain(pt, multi, in, out, o.backward, o.inputs)
	}
	if err != nil {
		return err
	}
	addCore(m.Base(), out)
	if o.backward {
		p := m.Base().Params
		for _, name := range p.Names() {
			q, _ := p.Lookup(name)
			out["grad."+name] = npy.NewF32(slices.Clone(p.GradView(name)), q.Shape...)
		}
	}
	if err := npy.WriteNpz(o.out, out); err != nil {
		return fmt.Errorf("%w", err)
	}
	names := make([]string, 0, len(out))
	for k := range out {
		names = append(names, k)
	}
	sort.Strings(names)
	_, err = fmt.Fprintf(stdout, "forward: %s on %s: wrote %d arrays to %s\n", mc.Task, o.inputs, len(names), o.out)
	return err
}

// batchReader checks and converts the named input arrays; errors name the array.
type batchReader struct {
	src    string
	arrays map[string]*npy.Array
}

func (r batchReader) get(name string, float bool, rank int) (*npy.Array, error) {
	a, ok := r.arrays[name]
	if !ok {
		return nil, fmt.Errorf("%s: missing array %q", r.src, name)
	}
	if len(a.Shape) != rank {
		return nil, fmt.Errorf("%s: array %q has shape %v, want %d dimensions", r.src, name, a.Shape, rank)
	}
	if float && a.F32 == nil {
		return nil, fmt.Errorf("%s: array %q has dtype %s, want a float array", r.src, name, a.DType)
	}
	if !float && a.I64 == nil {
		return nil, fmt.Errorf("%s: array %q has dtype %s, want an integer array", r.src, name, a.DType)
	}
	return a, nil
}

func (r batchReader) want(name string, a *npy.Array, dim, size int) error {
	if a.Shape[dim] != size {
		return fmt.Errorf("%s: array %q has shape %v, want dimension %d = %d", r.src, name, a.Shape, dim, size)
	}
	return nil
}

// boxes reads "boxes" [B, R, 4+F] (F the model's NETWORK.IMAGE_FEAT_DIM) and "im_info".
func (r batchReader) boxes(featDim int) (model.Boxes, error) {
	bx, err := r.get("boxes", true, 3)
	if err != nil {
		return model.Boxes{}, err
	}
	if err := r.want("boxes", bx, 2, 4+featDim); err != nil {
		return model.Boxes{}, fmt.Errorf("%w (4 coordinates and the config's NETWORK.IMAGE_FEAT_DIM %d)", err, featDim)
	}
	info, err := r.get("im_info", true, 2)
	if err != nil {
		return model.Boxes{}, err
	}
	if err := r.want("im_info", info, 0, bx.Shape[0]); err != nil {
		return model.Boxes{}, err
	}
	if info.Shape[1] < 2 {
		return model.Boxes{}, fmt.Errorf("%s: array \"im_info\" has shape %v, want at least width and height", r.src, info.Shape)
	}
	if bx.Shape[0] == 0 || bx.Shape[1] == 0 {
		return model.Boxes{}, fmt.Errorf("%s: array \"boxes\" has shape %v, want a non-empty batch", r.src, bx.Shape)
	}
	return model.Boxes{B: bx.Shape[0], NB: bx.Shape[1], Data: bx.F32, ImInfo: info.F32, InfoW: info.Shape[1]}, nil
}

func toI32(a *npy.Array) []int32 {
	out := make([]int32, len(a.I64))
	for i, v := range a.I64 {
		out[i] = int32(max(min(v, 1<<31-1), -1<<31))
	}
	return out
}

func forwardVQA(m *model.VQA, in map[string]*npy.Array, out map[string]*npy.Array, backward bool, src string) error {
	r := batchReader{src, in}
	bx, err := r.boxes(m.FeatureDim())
	if err != nil {
		return err
	}
	q, err := r.get("question", false, 2)
	if err != nil {
		return err
	}
	if err := r.want("question", q, 0, bx.B); err != nil {
		return err
	}
	bt := &model.VQABatch{Boxes: bx, LQ: q.Shape[1], Question: toI32(q)}
	if _, ok := in["label"]; ok || backward {
		lab, err := r.get("label", true, 2)
		if err != nil {
			return err
		}
		if err := r.want("label", lab, 0, bx.B); err != nil {
			return err
		}
		if err := r.want("label", lab, 1, m.Cfg.AnswerVocabSize); err != nil {
			return err
		}
		bt.Label = lab.F32
	}
	res, err := m.Forward(bt)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	B, H := bx.B, m.Cfg.HiddenSize
	out["label_logits"] = npy.NewF32(slices.Clone(res.Logits), B, m.Cfg.AnswerVocabSize)
	out["obj_reps"] = npy.NewF32(slices.Clone(res.ObjReps), B, res.Lo, H)
	if bt.Label != nil {
		out["ans_loss"] = npy.NewF32([]float32{res.Loss})
	}
	if backward {
		m.ZeroGrad()
		m.Backward(1)
	}
	return nil
}

func forwardRefCOCO(m *model.RefCOCO, in map[string]*npy.Array, out map[string]*npy.Array, backward bool, src string) error {
	r := batchReader{src, in}
	bx, err := r.boxes(m.FeatureDim())
	if err != nil {
		return err
	}
	e, err := r.get("expression", false, 2)
	if err != nil {
		return err
	}
	if err := r.want("expression", e, 0, bx.B); err != nil {
		return err
	}
	bt := &model.RefCOCOBatch{Boxes: bx, LE: e.Shape[1], Expression: toI32(e)}
	if _, ok := in["label"]; ok || backward {
		lab, err := r.get("label", true, 2)
		if err != nil {
			return err
		}
		if !slices.Equal(lab.Shape, []int{bx.B, bx.NB}) {
			return fmt.Errorf("%s: array \"label\" has shape %v, want [%d %d]", src, lab.Shape, bx.B, bx.NB)
		}
		bt.Label = lab.F32
	}
	res, err := m.Forward(bt)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	out["label_logits"] = npy.NewF32(slices.Clone(res.Logits), bx.B, bx.NB)
	out["pred_boxes"] = npy.NewF32(slices.Clone(res.PredBoxes), bx.B, 4)
	out["obj_reps"] = npy.NewF32(slices.Clone(res.ObjReps), bx.B, res.Lo, m.Cfg.HiddenSize)
	if bt.Label != nil {
		out["cls_loss"] = npy.NewF32([]float32{res.Loss})
	}
	if backward {
		m.ZeroGrad()
		m.Backward(1)
	}
	return nil
}

func forwardPretrain(m *model.Pretrain, multi bool, in map[string]*npy.Array, out map[string]*npy.Array, backward bool, src string) error {
	r := batchReader{src, in}
	bx, err := r.boxes(m.FeatureDim())
	if err != nil {
		return err
	}
	B, NB, R := bx.B, bx.NB, m.Cfg.RegionClasses
	text, err := r.get("text", false, 2)
	if err != nil {
		return err
	}
	if err := r.want("text", text, 0, B); err != nil {
		return err
	}
	LT := text.Shape[1]
	bt := &model.PretrainBatch{Boxes: bx, LT: LT, Text: toI32(text)}
	if m.Cfg.WithRelLoss {
		rel, err := r.get("relationship_label", false, 1)
		if err != nil {
			return err
		}
		if err := r.want("relationship_label", rel, 0, B); err != nil {
			return err
		}
		bt.RelLabel = toI32(rel)
		for i, l := range bt.RelLabel {
			if l != 0 && l != 1 {
				return fmt.Errorf("%s: relationship_label[%d] = %d, want 0 or 1", src, i, l)
			}
		}
	}
	if m.Cfg.WithMLMLoss {
		lab, err := r.get("mlm_labels", false, 2)
		if err != nil {
			return err
		}
		if !slices.Equal(lab.Shape, text.Shape) {
			return fmt.Errorf("%s: array \"mlm_labels\" has shape %v, want %v (as text)", src, lab.Shape, text.Shape)
		}
		bt.MLMLabels = toI32(lab)
	}
	ops, err := r.get("mvrc_ops", false, 2)
	if err != nil {
		return err
	}
	if !slices.Equal(ops.Shape, []int{B, NB}) {
		return fmt.Errorf("%s: array \"mvrc_ops\" has shape %v, want [%d %d]", src, ops.Shape, B, NB)
	}
	bt.MVRCOps = toI32(ops)
	if m.Cfg.WithMVRCLoss {
		lab, err := r.get("mvrc_labels", true, 3)
		if err != nil {
			return err
		}
		if !slices.Equal(lab.Shape, []int{B, NB, R}) {
			return fmt.Errorf("%s: array \"mvrc_labels\" has shape %v, want [%d %d %d]", src, lab.Shape, B, NB, R)
		}
		bt.MVRCLabels = lab.F32
	}
	if multi {
		aux, err := r.get("aux_text", false, 2)
		if err != nil {
			return err
		}
		auxLab, err := r.get("aux_text_mlm_labels", false, 2)
		if err != nil {
			return err
		}
		if !slices.Equal(aux.Shape, auxLab.Shape) {
			return fmt.Errorf("%s: array \"aux_text_mlm_labels\" has shape %v, want %v (as aux_text)", src, auxLab.Shape, aux.Shape)
		}
		bt.BA, bt.LA, bt.AuxText, bt.AuxMLMLabels = aux.Shape[0], aux.Shape[1], toI32(aux), toI32(auxLab)
	}
	m.AllMLMLogits = true // the dump holds every position's scores, as the original's
	res, err := m.Forward(bt)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	H, W := m.Cfg.HiddenSize, m.Cfg.VocabSize
	out["obj_reps"] = npy.NewF32(slices.Clone(res.ObjReps), B, res.Lo, H)
	scalar := func(v float32) *npy.Array { return npy.NewF32([]float32{v}) }
	if m.Cfg.WithRelLoss {
		out["relationship_logits"] = npy.NewF32(slices.Clone(res.RelLogits), B, 2)
	}
	if m.Cfg.WithMLMLoss {
		if multi {
			out["mlm_logits_wvc"] = npy.NewF32(slices.Clone(res.MLMLogits), B, res.Lm, W)
			out["mlm_logits_aux"] = npy.NewF32(slices.Clone(res.MLMAuxLogits), bt.BA, res.Lm, W)
			out["mlm_loss_wvc"] = scalar(res.MLMLoss)
			out["mlm_loss_aux"] = scalar(res.MLMAuxLoss)
		} else {
			out["mlm_logits"] = npy.NewF32(slices.Clone(res.MLMLogits), B, LT, W)
		}
	}
	if m.Cfg.WithMVRCLoss {
		out["mvrc_logits"] = npy.NewF32(slices.Clone(res.MVRCLogits), B, NB, R)
	}
	out["relationship_loss"] = scalar(res.RelLoss)
	if !multi {
		out["mlm_loss"] = scalar(res.MLMLoss)
	}
	out["mvrc_loss"] = scalar(res.MVRCLoss)
	out["total_loss"] = scalar(res.Total)
	if backward {
		m.ZeroGrad()
		m.Backward(1)
	}
	return nil
}

// addCore writes VisualLinguisticBert's intermediate tensors in the golden layouts.
func addCore(m *model.Model, out map[string]*npy.Array) {
	co := m.CoreOutputs()
	B, L, H, nl := co.B, co.L, co.H, co.Layers
	out["embedding_output"] = npy.NewF32(co.EmbeddingOutput, B, L, H)
	out["attention_mask"] = npy.NewI64(co.AttentionMask, B, L)
	out["text_positions_mask"] = npy.NewI64(co.TextPositions, B, L)
	out["object_positions_mask"] = npy.NewI64(co.ObjectPositions, B, L)
	// The original slices the first Lt slots of an L-long sequence: min(Lt, L) of them.
	lt := min(co.Lt, L)
	text := make([]float32, 0, nl*B*lt*H)
	for l := 0; l < nl; l++ {
		for b := 0; b < B; b++ {
			base := (l*B + b) * co.Lt * H
			text = append(text, co.TextHidden[base:base+lt*H]...)
		}
	}
	out["text_hidden_all_layers"] = npy.NewF32(text, nl, B, lt, H)
	out["object_hidden_all_layers"] = npy.NewF32(co.ObjectHidden, nl, B, co.Lo, H)
	out["attention_probs_all_layers"] = npy.NewF32(co.AttentionProbs, nl, B, co.NH, L, L)
	if co.Pooled != nil {
		out["pooled_output"] = npy.NewF32(co.Pooled, B, H)
	}
}
