package onnx

import (
	"fmt"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
)

// DefaultFeatureDim is the original's region feature width (boxes[:, :, 4:]),
// the default of NETWORK.IMAGE_FEAT_DIM; the checkpoint's obj_downsample fixes the
// width (its input is 2048 geometry + the feature).
const DefaultFeatureDim = 2048

// SpecFromConfig reads the network an experiment config describes. It rejects
// the settings whose forward the exported graph does not reproduce. An e2e config
// (IMAGE_FEAT_PRECOMPUTED false) puts the visual network in the graph (Spec.E2E:
// ResNet-101 C4 with the config's IMAGE_STRIDE_IN_1x1 and IMAGE_C5_DILATED, as
// internal/visual builds it); set Spec.E2E to nil to export its precomputed path.
func SpecFromConfig(c *config.Config) (Spec, error) {
	n, v := &c.Network, &c.Network.VLBERT
	s := Spec{Hidden: v.HiddenSize, Layers: v.NumHiddenLayers, Heads: v.NumAttentionHeads,
		Intermediate: v.IntermediateSize, Vocab: v.VocabSize, MaxPositions: v.MaxPositionEmbeddings,
		TypeVocab: v.TypeVocabSize, Pooler: v.WithPooler, FeatureDim: n.ImageFeatDim}
	if s.FeatureDim == 0 {
		s.FeatureDim = DefaultFeatureDim
	}
	switch {
	case c.Module != "ResNetVLBERT":
		return s, fmt.Errorf("onnx: MODULE %q is not exportable (the VQA, RefCOCO+ and VCR modules are ResNetVLBERT)", c.Module)
	case c.Task == config.TaskVQA:
		s.Task = TaskVQA
		if len(c.Datasets) > 0 {
			s.AnswerVocab = c.Dataset().AnswerVocabSize
		}
	case c.Task == config.TaskRefCOCO:
		s.Task = TaskRefCOCO
	case c.Task == config.TaskVCR:
		s.Task = TaskVCR
	default:
		return s, fmt.Errorf("onnx: a %s config is not exportable (want vqa, refcoco or vcr)", c.Task)
	}
	bad := []struct {
		cond bool
		what string
	}{
		{v.VisualSize != v.HiddenSize, fmt.Sprintf("NETWORK.VLBERT.visual_size %d != hidden_size %d", v.VisualSize, v.HiddenSize)},
		{n.ImageFinalDim != v.HiddenSize, fmt.Sprintf("NETWORK.IMAGE_FINAL_DIM %d != hidden_size %d", n.ImageFinalDim, v.HiddenSize)},
		{!v.VisualLN, "NETWORK.VLBERT.visual_ln=false"},
		{v.HiddenAct != "gelu", fmt.Sprintf("NETWORK.VLBERT.hidden_act=%q (only gelu)", v.HiddenAct)},
		{!v.ObjPosIDRelative, "NETWORK.VLBERT.obj_pos_id_relative=false"},
		{v.PositionPaddingIdx != -1, fmt.Sprintf("NETWORK.VLBERT.position_padding_idx=%d (only -1)", v.PositionPaddingIdx)},
		{v.ObjectWordEmbedMode != 2, fmt.Sprintf("NETWORK.VLBERT.object_word_embed_mode=%d (only 2)", v.ObjectWordEmbedMode)},
		{n.ImageSemantic, "NETWORK.IMAGE_SEMANTIC=true"},
		{n.Blind, "NETWORK.BLIND=true"},
		{n.NoGrounding, "NETWORK.NO_GROUNDING=true"},
		{n.NoObjAttention, "NETWORK.NO_OBJ_ATTENTION=true"},
		{s.Task == TaskVQA && n.ClassifierType != "mlm", fmt.Sprintf("VQA NETWORK.CLASSIFIER_TYPE=%q (only mlm)", n.ClassifierType)},
		{s.Task == TaskVCR && n.ClassifierType != "1fc", fmt.Sprintf("VCR NETWORK.CLASSIFIER_TYPE=%q (only 1fc)", n.ClassifierType)},
		{s.Task == TaskVCR && (n.AnswerFirst || n.QAOneSent), "VCR NETWORK.ANSWER_FIRST or QA_ONE_SENT"},
	}
	for _, b := range bad {
		if b.cond {
			return s, fmt.Errorf("onnx: %s is not supported", b.what)
		}
	}
	if !n.ImageFeatPrecomputed {
		if n.ImageNumLayers != 101 {
			return s, fmt.Errorf("onnx: NETWORK.IMAGE_NUM_LAYERS=%d is not supported (the e2e network is ResNet-101)", n.ImageNumLayers)
		}
		vc := visual.ResNet101C4()
		vc.StrideIn1x1, vc.C5Dilated = n.ImageStrideIn1x1, n.ImageC5Dilated
		ra := vc.RoIAlign
		s.E2E = &VisualNet{Blocks: vc.Blocks, HeadBlocks: vc.HeadBlocks, Width: vc.Width, StrideIn1x1: vc.StrideIn1x1,
			C5Dilated: vc.C5Dilated, PooledH: ra.PooledH, PooledW: ra.PooledW, SpatialScale: ra.SpatialScale, SamplingRatio: ra.SamplingRatio}
	}
	return s, s.Validate()
}

// WeightsFromStateDict takes the float tensors of a checkpoint's state dict
// (original PyTorch or vlbert safetensors), keyed without "module.". Non-float
// tensors (optimizer steps, counters) are skipped; the graph builder reports any
// tensor it needs and does not find.
func WeightsFromStateDict(sd map[string]*weights.Tensor) Weights {
	w := make(Weights, len(sd))
	for k, t := range sd {
		if t == nil || t.F32 == nil {
			continue
		}
		w[strings.TrimPrefix(k, "module.")] = Weight{Shape: t.Shape, Data: t.F32}
	}
	// The RoI head is also saved as head.0.* (FastRCNN.head wraps it): keep the
	// canonical name too.
	for k, t := range w {
		if c := weights.CanonicalKey(k); c != k {
			if _, ok := w[c]; !ok {
				w[c] = t
			}
		}
	}
	return w
}
