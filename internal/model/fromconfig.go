package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/heads"
)

// FromConfig maps a loaded YAML config to the network configuration, and rejects the
// settings this package does not implement (each would silently change the maths),
// including the e2e visual path (IMAGE_FEAT_PRECOMPUTED=false).
func FromConfig(c *config.Config) (Config, error) { return fromConfig(c, false) }

// FromConfigE2E is FromConfig for e2e configs too: the caller computes the 2048-d RoI
// features with the ResNet (package visual), passes them in Boxes.Data, loads the CNN
// keys itself and back-propagates Boxes.FeatGrad.
func FromConfigE2E(c *config.Config) (Config, error) { return fromConfig(c, true) }

func fromConfig(c *config.Config, e2e bool) (Config, error) {
	task, err := TaskFromModule(c.Module)
	if err != nil {
		return Config{}, err
	}
	if c.Module == "ResNetVLBERT" {
		switch c.Task {
		case config.TaskRefCOCO:
			task = TaskRefCOCO
		case config.TaskVCR:
			task = TaskVCR
		}
	}
	n, v := &c.Network, &c.Network.VLBERT
	unsupported := []struct {
		bad  bool
		what string
	}{
		{!e2e && !n.ImageFeatPrecomputed, "NETWORK.IMAGE_FEAT_PRECOMPUTED=false (the e2e ResNet path; see FromConfigE2E)"},
		{n.ImageSemantic, "NETWORK.IMAGE_SEMANTIC=true"},
		{n.Blind, "NETWORK.BLIND=true"},
		{n.NoGrounding, "NETWORK.NO_GROUNDING=true"},
		{n.NoObjAttention, "NETWORK.NO_OBJ_ATTENTION=true"},
		{n.EnableCNNRegLoss && (task != TaskVCR || !n.CNNLossTop), "NETWORK.ENABLE_CNN_REG_LOSS=true with CNN_LOSS_TOP=false"},
		{task == TaskVCR && (n.AnswerFirst || n.QAOneSent), "VCR NETWORK.ANSWER_FIRST or QA_ONE_SENT"},
		{task != TaskPretrain && task != TaskPretrainMultitask && v.ObjectWordEmbedMode != 2, fmt.Sprintf("NETWORK.VLBERT.object_word_embed_mode=%d (only 2)", v.ObjectWordEmbedMode)},
	}
	if !v.ObjPosIDRelative {
		// VisualLinguisticBert.embedding: assert False, "Don't use position id 510/511 for objects and [END]!!!"
		return Config{}, fmt.Errorf("model: NETWORK.VLBERT.obj_pos_id_relative=false fails in the original (VisualLinguisticBert.embedding asserts: \"Don't use position id 510/511 for objects and [END]!!!\")")
	}
	for _, u := range unsupported {
		if u.bad {
			return Config{}, fmt.Errorf("model: %s is not supported", u.what)
		}
	}
	act, err := heads.ParseAct(v.HiddenAct)
	if err != nil {
		return Config{}, fmt.Errorf("model: NETWORK.VLBERT.%w", err)
	}
	m := Config{
		HiddenAct:             act,
		Task:                  task,
		HiddenSize:            v.HiddenSize,
		VisualSize:            v.VisualSize,
		NumHiddenLayers:       v.NumHiddenLayers,
		NumAttentionHeads:     v.NumAttentionHeads,
		IntermediateSize:      v.IntermediateSize,
		VocabSize:             v.VocabSize,
		MaxPositionEmbeddings: v.MaxPositionEmbeddings,
		TypeVocabSize:         v.TypeVocabSize,
		HiddenDropout:         float32(v.HiddenDropoutProb),
		AttentionDropout:      float32(v.AttentionProbsDropoutProb),
		InitializerRange:      float32(v.InitializerRange),
		VisualLN:              v.VisualLN,
		WordEmbeddingFrozen:   v.WordEmbeddingFrozen,
		PosEmbeddingFrozen:    v.PosEmbeddingFrozen,
		PositionShift:         v.PositionPaddingIdx + 1,
		VisualScaleTextInit:   float32(v.VisualScaleTextInit),
		VisualScaleObjectInit: float32(v.VisualScaleObjectInit),
		WithPooler:            v.WithPooler,
		RegionClasses:         v.VisualRegionClasses,
		ImageFinalDim:         n.ImageFinalDim,
		E2E:                   !n.ImageFeatPrecomputed,
		MaskRawPixels:         n.MaskRawPixels,
		ClassifierType:        n.ClassifierType,
		ClassifierDrop:        float32(n.ClassifierDropout),
		ClassifierHid:         n.ClassifierHiddenSize,
		WithRelLoss:           n.WithRelLoss,
		WithMLMLoss:           n.WithMLMLoss,
		WithMVRCLoss:          n.WithMVRCLoss,
		// The other modules never read these two.
		MLMLossNormInBatchFirst:  n.MLMLossNormInBatchFirst && (task == TaskPretrain || task == TaskPretrainMultitask),
		MVRCLossNormInBatchFirst: n.MVRCLossNormInBatchFirst && (task == TaskPretrain || task == TaskPretrainMultitask),
	}
	if task == TaskVCR {
		m.ClassifierSigmoid = n.ClassifierSigmoid
		m.ClassifierPosW = float32(n.ClassifierSigmoidLossPositiveWeight)
		if m.ClassifierSigmoid && !(m.ClassifierPosW > 0) {
			return Config{}, fmt.Errorf("model: NETWORK.CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT = %g, want > 0 (the loss is rescaled by (w+1)/(2w))", n.ClassifierSigmoidLossPositiveWeight)
		}
		m.AnsLossWeight = float32(n.AnsLossWeight)
		m.CNNRegLossTop = n.EnableCNNRegLoss && n.CNNLossTop
		m.CNNRegDropout = float32(n.CNNRegDropout)
		m.CNNLossWeight = float32(n.CNNLossWeight)
	}
	if task == TaskVQA && len(c.Datasets) > 0 {
		m.AnswerVocabSize = c.Dataset().AnswerVocabSize
	}
	return m, m.Validate()
}
