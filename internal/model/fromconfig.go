package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/heads"
)

// FromConfig maps a loaded YAML config to the network configuration, and rejects the
// settings this package does not implement (each would silently change the maths),
// including the e2e visual path (IMAGE_FEAT_PRECOMPUTED=false).
func FromConfig(c *config.Config) (Config, error) { return fromConfig(c, false) }

// FromConfigE2E is FromConfig for e2e configs too: the caller computes the RoI
// features (IMAGE_FEAT_DIM wide) with the ResNet (package visual), passes them in
// Boxes.Data, loads the CNN keys itself and back-propagates Boxes.FeatGrad.
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
	if err := refusals(c, task, e2e); err != nil {
		return Config{}, err
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
		FeatDim:               n.ImageFeatDim,
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
		m.CNNRegLossRoI = n.EnableCNNRegLoss && !n.CNNLossTop && !n.ImageFeatPrecomputed
		m.CNNRegDropout = float32(n.CNNRegDropout)
		m.CNNLossWeight = float32(n.CNNLossWeight)
	}
	// The ablations, read by the VQA and VCR modules only (the others ignore them).
	switch task {
	case TaskVQA:
		m.NoGrounding = n.NoGrounding
	case TaskVCR:
		m.NoGrounding, m.NoObjAttention, m.Blind = n.NoGrounding, n.NoObjAttention, n.Blind
		m.ImageSemantic = n.ImageSemantic && !n.Blind // a blind module has no FastRCNN
		m.ObjectWordEmbedMode = v.ObjectWordEmbedMode
		switch {
		case n.AnswerFirst:
			m.VCRLayout = data.VCRAnswerFirst
		case n.QAOneSent:
			m.VCRLayout = data.VCROneSentence
		}
	}
	if task == TaskVQA && len(c.Datasets) > 0 {
		m.AnswerVocabSize = c.Dataset().AnswerVocabSize
	}
	return m, m.Validate()
}

// refusals reports the settings that fail in the original's module (each with the
// original's reason) and the e2e path when the caller does not provide it. Every
// other switch is either implemented or, where the module never reads it,
// accepted and ignored as the original does.
func refusals(c *config.Config, task Task, e2e bool) error {
	n, v := &c.Network, &c.Network.VLBERT
	pre := n.ImageFeatPrecomputed
	for _, r := range []struct {
		bad bool
		msg string
	}{
		{!e2e && !pre, "NETWORK.IMAGE_FEAT_PRECOMPUTED=false needs the e2e ResNet path (FromConfigE2E)"},
		{!v.ObjPosIDRelative, "NETWORK.VLBERT.obj_pos_id_relative=false fails in the original: VisualLinguisticBert.embedding asserts \"Don't use position id 510/511 for objects and [END]!!!\""},
		{task == TaskVQA && n.Blind, "NETWORK.BLIND=true fails in the original's VQA module: __init__ skips image_feature_extractor, then init_weight calls image_feature_extractor.init_weight() (AttributeError)"},
		{(task == TaskVQA || task == TaskVCR) && (v.ObjectWordEmbedMode < 1 || v.ObjectWordEmbedMode > 3), fmt.Sprintf("NETWORK.VLBERT.object_word_embed_mode=%d fails in the original: __init__ raises NotImplementedError (want 1, 2 or 3)", v.ObjectWordEmbedMode)},
		{task == TaskVQA && v.ObjectWordEmbedMode != 2, fmt.Sprintf("NETWORK.VLBERT.object_word_embed_mode=%d fails in the original's VQA module: its forward asserts object_word_embed_mode == 2", v.ObjectWordEmbedMode)},
		{task != TaskVCR && n.ImageSemantic, fmt.Sprintf("NETWORK.IMAGE_SEMANTIC=true fails in the original's %s module: it passes no box classes to FastRCNN, whose obj_downsample then takes 4096 inputs instead of 4224", task)},
		{task == TaskVQA && !pre && n.EnableCNNRegLoss, "NETWORK.ENABLE_CNN_REG_LOSS=true with IMAGE_FEAT_PRECOMPUTED=false fails in the original's VQA module: FastRCNN computes cross_entropy(obj_logits, obj_labels) with no box classes (obj_labels None); set ENABLE_CNN_REG_LOSS false"},
		{task == TaskVCR && n.EnableCNNRegLoss && !n.CNNLossTop && pre, "NETWORK.ENABLE_CNN_REG_LOSS=true with CNN_LOSS_TOP=false and precomputed features fails in the original's VCR module: FastRCNN returns no cnn_regularization_loss for precomputed features (KeyError)"},
		{task == TaskVCR && n.AnswerFirst && n.QAOneSent, "NETWORK.ANSWER_FIRST with QA_ONE_SENT fails in the original's VCR module: its forward raises NotImplemented"},
		{task == TaskVCR && n.Blind && v.VisualLN, "NETWORK.BLIND=true with NETWORK.VLBERT.visual_ln=true fails in the original's VCR module: fix_params freezes vlbert._module.visual_scale_text, which exists only without visual_ln (AttributeError)"},
		{task == TaskVCR && n.Blind && n.EnableCNNRegLoss, "NETWORK.BLIND=true with ENABLE_CNN_REG_LOSS=true fails in the original's VCR module: a blind model has no CNN regulariser (cnn_loss_reg / cnn_regularization_loss missing)"},
		{task == TaskVCR && n.NoObjAttention && n.EnableCNNRegLoss && n.CNNLossTop, "NETWORK.NO_OBJ_ATTENTION=true with ENABLE_CNN_REG_LOSS and CNN_LOSS_TOP gives a NaN loss in the original's VCR module: box_mask is zeroed in place, so the CNN regulariser averages a cross-entropy over no objects"},
	} {
		if r.bad {
			return fmt.Errorf("model: %s", r.msg)
		}
	}
	return nil
}
