package model

import "fmt"

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
	case "ResNetVLBERTForPretrainingMultitask":
		return TaskPretrainMultitask, nil
	}
	return 0, fmt.Errorf("model: MODULE %q is not supported (want ResNetVLBERT, ResNetVLBERTForPretraining or ResNetVLBERTForPretrainingMultitask)", module)
}

// Config holds the hyperparameters the network needs: NETWORK.VLBERT plus the few
// NETWORK and DATASET fields that shape the task heads. Zero values are not defaults;
// use BaseConfig or fill every field.
type Config struct {
	Task Task

	// NETWORK.VLBERT
	HiddenSize            int     // hidden_size
	VisualSize            int     // visual_size; must equal HiddenSize (no visual_1x1 layers)
	NumHiddenLayers       int     // num_hidden_layers
	NumAttentionHeads     int     // num_attention_heads
	IntermediateSize      int     // intermediate_size
	VocabSize             int     // vocab_size
	MaxPositionEmbeddings int     // max_position_embeddings
	TypeVocabSize         int     // type_vocab_size (3)
	HiddenDropout         float32 // hidden_dropout_prob
	AttentionDropout      float32 // attention_probs_dropout_prob
	InitializerRange      float32 // initializer_range
	VisualLN              bool    // visual_ln; must be true
	VisualScaleTextInit   float32 // visual_scale_text_init: initial gamma of visual_ln_text
	VisualScaleObjectInit float32 // visual_scale_object_init: initial gamma of visual_ln_object
	WithPooler            bool    // with_pooler
	RegionClasses         int     // visual_region_classes (1601)

	// NETWORK
	// E2E is IMAGE_FEAT_PRECOMPUTED=false: RoI features come from the CNN (package
	// visual) instead of the bottom-up files; MaskRawPixels is MASK_RAW_PIXELS. Together
	// they decide whether masked RoIs use object_mask_visual_embedding.
	E2E             bool
	MaskRawPixels   bool
	ImageFinalDim   int     // IMAGE_FINAL_DIM, output of obj_downsample; must equal VisualSize
	ClassifierType  string  // CLASSIFIER_TYPE: VQA "2fc", "1fc" or "mlm"; VCR "2fc" or "1fc"
	ClassifierDrop  float32 // CLASSIFIER_DROPOUT
	ClassifierHid   int     // CLASSIFIER_HIDDEN_SIZE (2fc)
	WithRelLoss     bool    // WITH_REL_LOSS
	WithMLMLoss     bool    // WITH_MLM_LOSS
	WithMVRCLoss    bool    // WITH_MVRC_LOSS
	AnswerVocabSize int     // DATASET.ANSWER_VOCAB_SIZE (VQA)

	// VCR
	ClassifierSigmoid bool    // CLASSIFIER_SIGMOID: per-choice BCE (else CE over choices)
	ClassifierPosW    float32 // CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT (0 means 1)
	AnsLossWeight     float32 // ANS_LOSS_WEIGHT
	CNNRegLossTop     bool    // ENABLE_CNN_REG_LOSS with CNN_LOSS_TOP: object-class CE on top of VL-BERT
	CNNRegDropout     float32 // CNN_REG_DROPOUT
	CNNLossWeight     float32 // CNN_LOSS_WEIGHT
}

// FeatureDim is the width of a precomputed bottom-up RoI feature (boxes[:, :, 4:]).
const FeatureDim = 2048

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
		RegionClasses: 1601, ImageFinalDim: 768, ClassifierType: "mlm", ClassifierDrop: 0.1,
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
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("model: hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.VisualSize != c.HiddenSize {
		return fmt.Errorf("model: visual_size %d != hidden_size %d (visual_1x1 layers are not supported)", c.VisualSize, c.HiddenSize)
	}
	if c.ImageFinalDim != c.VisualSize {
		return fmt.Errorf("model: IMAGE_FINAL_DIM %d != visual_size %d", c.ImageFinalDim, c.VisualSize)
	}
	if !c.VisualLN {
		return fmt.Errorf("model: visual_ln=false is not supported")
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
