package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/config"
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
		{v.WordEmbeddingFrozen, "NETWORK.VLBERT.word_embedding_frozen=true"},
		{v.PosEmbeddingFrozen, "NETWORK.VLBERT.pos_embedding_frozen=true"},
		{!v.ObjPosIDRelative, "NETWORK.VLBERT.obj_pos_id_relative=false"},
		{v.PositionPaddingIdx != -1, fmt.Sprintf("NETWORK.VLBERT.position_padding_idx=%d (only -1)", v.PositionPaddingIdx)},
		{v.HiddenAct != "gelu", fmt.Sprintf("NETWORK.VLBERT.hidden_act=%q (only gelu)", v.HiddenAct)},
		{task != TaskPretrain && task != TaskPretrainMultitask && v.ObjectWordEmbedMode != 2, fmt.Sprintf("NETWORK.VLBERT.object_word_embed_mode=%d (only 2)", v.ObjectWordEmbedMode)},
		{task != TaskVQA && n.MLMLossNormInBatchFirst, "NETWORK.MLM_LOSS_NORM_IN_BATCH_FIRST=true"},
		{task != TaskVQA && n.MVRCLossNormInBatchFirst, "NETWORK.MVRC_LOSS_NORM_IN_BATCH_FIRST=true"},
	}
	for _, u := range unsupported {
		if u.bad {
			return Config{}, fmt.Errorf("model: %s is not supported", u.what)
		}
	}
	m := Config{
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
