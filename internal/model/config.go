package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/data"

	"github.com/vlbert/vlbert/internal/heads"
)

// Task selects the module wrapped around VisualLinguisticBert (the config's MODULE).
type Task int

const (
	// TaskVQA is vqa/modules/resnet_vlbert_for_vqa.py::ResNetVLBERT.
	TaskVQA Task = iota
	// TaskPretrain is ResNetVLBERTForPretraining (no text-only rows).
	TaskPretrain
	// TaskPretrainMultitask is ResNetVLBERTForPretrainingMultitask (aux text-only rows).
	TaskPretrainMultitask
	// TaskRefCOCO is refcoco/modules/resnet_vlbert_for_refcoco.py::ResNetVLBERT.
	TaskRefCOCO
	// TaskVCR is vcr/modules/resnet_vlbert_for_vcr.py::ResNetVLBERT (question then
	// answer, CLASSIFIER_TYPE 1fc on the pooler, VL-BERT under TimeDistributed).
	TaskVCR
)

// VCRObjectClasses is the COCO class count of VCR's CNN regularisation head.
const VCRObjectClasses = 81

func (t Task) String() string {
	if s, ok := taskSpecs[t]; ok {
		return s.name
	}
	return fmt.Sprintf("Task(%d)", int(t))
}

// TaskFromModule maps the config's MODULE name to a Task. "ResNetVLBERT" is the VQA
// module here; the RefCOCO module has the same name (FromConfig tells them apart).
func TaskFromModule(module string) (Task, error) {
	switch module {
	case "ResNetVLBERT":
		return TaskVQA, nil
	case "ResNetVLBERTForPretraining":
		return TaskPretrain, nil
	case "ResNetVLBERTForAttentionVis":
		// pretrain/modules/resnet_vlbert_for_attention_vis.py: the pretraining
		// network's encoder on caption rows, forward only; the attention
		// probabilities are the pretraining module's own (heads unused).
		return TaskPretrain, nil
	case "ResNetVLBERTForPretrainingMultitask":
		return TaskPretrainMultitask, nil
	}
	return 0, fmt.Errorf("model: MODULE %q is not supported (want ResNetVLBERT, ResNetVLBERTForPretraining, ResNetVLBERTForPretrainingMultitask or ResNetVLBERTForAttentionVis)", module)
}

// Config holds the hyperparameters the network needs: NETWORK.VLBERT plus the few
// NETWORK and DATASET fields that shape the task heads. Zero values are not defaults;
// use BaseConfig or fill every field.
type Config struct {
	Task Task

	// NETWORK.VLBERT
	HiddenSize            int       // hidden_size
	VisualSize            int       // visual_size; != HiddenSize adds the visual_1x1_{text,object} projections
	NumHiddenLayers       int       // num_hidden_layers
	NumAttentionHeads     int       // num_attention_heads
	IntermediateSize      int       // intermediate_size
	HiddenAct             heads.Act // hidden_act: the FFN's and the head transforms' activation
	VocabSize             int       // vocab_size
	MaxPositionEmbeddings int       // max_position_embeddings
	TypeVocabSize         int       // type_vocab_size (3)
	HiddenDropout         float32   // hidden_dropout_prob
	AttentionDropout      float32   // attention_probs_dropout_prob
	InitializerRange      float32   // initializer_range
	VisualLN              bool      // visual_ln: LayerNorms on the visual features (false: scalar visual_scale_* parameters)
	VisualScaleTextInit   float32   // visual_scale_text_init: initial gamma of visual_ln_text
	VisualScaleObjectInit float32   // visual_scale_object_init: initial gamma of visual_ln_object
	WithPooler            bool      // with_pooler
	RegionClasses         int       // visual_region_classes (1601)
	// WordEmbeddingFrozen is word_embedding_frozen: word_embeddings gets no
	// gradient and ids below 1000 read the trainable special_word_embeddings.
	WordEmbeddingFrozen bool
	// PosEmbeddingFrozen is pos_embedding_frozen, which only the pretraining
	// modules' VisualLinguisticBertForPretraining reads (position_embeddings gets
	// no gradient); the other modules ignore it.
	PosEmbeddingFrozen bool
	// PositionShift is position_padding_idx+1, added to every position id
	// (position_padding_idx -1, no shift, for BERT; 1 for RoBERTa).
	PositionShift int

	// NETWORK
	// FeatDim is IMAGE_FEAT_DIM (a vlbert extension): the width of a region
	// feature, boxes[:, :, 4:]. The original fixes 2048 (common/fast_rcnn.py,
	// FastRCNN.obj_downsample and object_mask_visual_embedding); a smaller
	// detector's pool5 is narrower. 0 means DefaultFeatureDim.
	FeatDim int
	// E2E is IMAGE_FEAT_PRECOMPUTED=false: RoI features come from the CNN (package
	// visual) instead of the bottom-up files; MaskRawPixels is MASK_RAW_PIXELS. Together
	// they decide whether masked RoIs use object_mask_visual_embedding.
	E2E            bool
	MaskRawPixels  bool
	ImageFinalDim  int     // IMAGE_FINAL_DIM, output of obj_downsample; must equal VisualSize
	ClassifierType string  // CLASSIFIER_TYPE: VQA "2fc", "1fc" or "mlm"; VCR "2fc" or "1fc"
	ClassifierDrop float32 // CLASSIFIER_DROPOUT
	ClassifierHid  int     // CLASSIFIER_HIDDEN_SIZE (2fc)
	WithRelLoss    bool    // WITH_REL_LOSS
	WithMLMLoss    bool    // WITH_MLM_LOSS
	WithMVRCLoss   bool    // WITH_MVRC_LOSS
	// MLM_LOSS_NORM_IN_BATCH_FIRST, MVRC_LOSS_NORM_IN_BATCH_FIRST: read by the
	// pretraining modules only (each sample's rows averaged first).
	MLMLossNormInBatchFirst, MVRCLossNormInBatchFirst bool
	AnswerVocabSize                                   int // DATASET.ANSWER_VOCAB_SIZE (VQA)

	// Ablations (NETWORK) and object word embeddings.
	// NoGrounding is NO_GROUNDING: VQA text tokens see zero visual features, VCR
	// tokens all see box 0 (the whole image); the other modules never read it.
	NoGrounding bool
	// ObjectWordEmbedMode is NETWORK.VLBERT.object_word_embed_mode (VCR; VQA asserts
	// 2; the other modules never read it): 1 an embedding per COCO class (81 rows),
	// 2 one shared row, 3 no parameter, the mean word embedding of each row's text.
	// 0 means 2.
	ObjectWordEmbedMode int

	// VCR
	VCRLayout      data.VCRLayout // ANSWER_FIRST / QA_ONE_SENT row order
	NoObjAttention bool           // NO_OBJ_ATTENTION: no object tokens in the sequence
	// Blind is BLIND: no image feature extractor and no object linguistic
	// embeddings; zero object features, no object tokens, frozen visual_scale_*.
	Blind bool
	// ImageSemantic is IMAGE_SEMANTIC: a 128-d embedding of each box's COCO class
	// (image_feature_extractor.object_embed) joins its feature in obj_downsample.
	ImageSemantic     bool
	ClassifierSigmoid bool    // CLASSIFIER_SIGMOID: per-choice BCE (else CE over choices)
	ClassifierPosW    float32 // CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT (0 means 1)
	AnsLossWeight     float32 // ANS_LOSS_WEIGHT
	CNNRegLossTop     bool    // ENABLE_CNN_REG_LOSS with CNN_LOSS_TOP: object-class CE on top of VL-BERT
	// CNNRegLossRoI is ENABLE_CNN_REG_LOSS without CNN_LOSS_TOP in e2e mode:
	// FastRCNN's regularizing_predictor, an object-class CE on the RoI features.
	CNNRegLossRoI bool
	CNNRegDropout float32 // CNN_REG_DROPOUT
	CNNLossWeight float32 // CNN_LOSS_WEIGHT
}

// DefaultFeatureDim is the original's region feature width (bottom-up pool5_flat,
// ResNet-101 res5), the default of IMAGE_FEAT_DIM.
const DefaultFeatureDim = 2048

// FeatureDim is the width of a region feature, boxes[:, :, 4:] (IMAGE_FEAT_DIM).
func (c *Config) FeatureDim() int {
	if c.FeatDim == 0 {
		return DefaultFeatureDim
	}
	return c.FeatDim
}

// BoxStride is the width of one row of Boxes.Data: x1,y1,x2,y2 and the feature.
func (c *Config) BoxStride() int { return 4 + c.FeatureDim() }

// GeomDim is the width of the box geometry (sin/cos) embedding.
const GeomDim = 2048

// objDownsampleDropout is FastRCNN.obj_downsample's Dropout(p=0.1), fixed in the original.
const objDownsampleDropout = 0.1

// BaseConfig returns the BERT-base hyperparameters of the shipped configs for task.
func BaseConfig(task Task) Config {
	c := Config{
		Task: task, HiddenSize: 768, VisualSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
		IntermediateSize: 3072, VocabSize: 30522, MaxPositionEmbeddings: 512, TypeVocabSize: 3,
		HiddenDropout: 0.1, AttentionDropout: 0.1, InitializerRange: 0.02, VisualLN: true,
		RegionClasses: 1601, ImageFinalDim: 768, FeatDim: DefaultFeatureDim, ClassifierType: "mlm", ClassifierDrop: 0.1,
		ClassifierHid:   1024,
		AnswerVocabSize: 3129,
	}
	if s, ok := taskSpecs[task]; ok {
		s.base(&c)
	}
	return c
}

// Validate reports the first unsupported or inconsistent setting.
func (c *Config) Validate() error {
	pos := []struct {
		name string
		v    int
	}{{"hidden_size", c.HiddenSize}, {"visual_size", c.VisualSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"intermediate_size", c.IntermediateSize},
		{"vocab_size", c.VocabSize}, {"max_position_embeddings", c.MaxPositionEmbeddings},
		{"type_vocab_size", c.TypeVocabSize}, {"IMAGE_FINAL_DIM", c.ImageFinalDim}}
	for _, p := range pos {
		if p.v <= 0 {
			return fmt.Errorf("model: config %s = %d, want > 0", p.name, p.v)
		}
	}
	if c.FeatDim < 0 {
		return fmt.Errorf("model: config IMAGE_FEAT_DIM = %d, want > 0 (0 means %d)", c.FeatDim, DefaultFeatureDim)
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("model: hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.ImageFinalDim != c.VisualSize {
		// object_vl_embeddings = cat(obj_reps [IMAGE_FINAL_DIM], linguistic [H]) is split
		// at visual_size, so the original's embedding fails on the shapes.
		return fmt.Errorf("model: IMAGE_FINAL_DIM %d != visual_size %d: the original's VisualLinguisticBert.embedding splits cat(obj_reps, object_linguistic_embeddings) at visual_size and then fails adding tensors of different sizes", c.ImageFinalDim, c.VisualSize)
	}
	if c.WordEmbeddingFrozen && c.VocabSize < numSpecialWords {
		return fmt.Errorf("model: word_embedding_frozen needs vocab_size >= %d (the original copies word_embeddings[:%d] into special_word_embeddings), got %d", numSpecialWords, numSpecialWords, c.VocabSize)
	}
	if c.PositionShift < 0 {
		return fmt.Errorf("model: position_padding_idx %d < -1 gives negative position ids (the original's position_embeddings lookup fails)", c.PositionShift-1)
	}
	if c.TypeVocabSize < 3 {
		return fmt.Errorf("model: type_vocab_size %d, want >= 3 (type 2 marks visual tokens)", c.TypeVocabSize)
	}
	for _, p := range []struct {
		name string
		v    float32
	}{{"hidden_dropout_prob", c.HiddenDropout}, {"attention_probs_dropout_prob", c.AttentionDropout}, {"CLASSIFIER_DROPOUT", c.ClassifierDrop}} {
		if p.v < 0 || p.v >= 1 {
			return fmt.Errorf("model: config %s = %g, want in [0, 1)", p.name, p.v)
		}
	}
	s, ok := taskSpecs[c.Task]
	if !ok {
		return fmt.Errorf("model: unknown task %d", int(c.Task))
	}
	return s.validate(c)
}

// posWeight is CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT, 1 when unset.
func (c *Config) posWeight() float32 {
	if c.ClassifierPosW == 0 {
		return 1
	}
	return c.ClassifierPosW
}

// posFrozen reports whether position_embeddings is frozen (pos_embedding_frozen,
// read by the pretraining modules only).
func (c *Config) posFrozen() bool {
	return c.PosEmbeddingFrozen && (c.Task == TaskPretrain || c.Task == TaskPretrainMultitask)
}

// objWordMode is object_word_embed_mode with 0 read as 2.
func (c *Config) objWordMode() int {
	if c.ObjectWordEmbedMode == 0 {
		return 2
	}
	return c.ObjectWordEmbedMode
}

// hasVisualExtractor reports whether the module has FastRCNN's parameters (not BLIND).
func (c *Config) hasVisualExtractor() bool { return !c.Blind }

// objDownsampleIn is obj_downsample's input width: geometry, feature and, with
// IMAGE_SEMANTIC, the class embedding.
func (c *Config) objDownsampleIn() int {
	if c.ImageSemantic {
		return GeomDim + c.FeatureDim() + SemanticDim
	}
	return GeomDim + c.FeatureDim()
}

// SemanticDim is the width of FastRCNN's object_embed (IMAGE_SEMANTIC).
const SemanticDim = 128
