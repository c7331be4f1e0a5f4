// Package config loads the original VL-BERT YAML experiment configs (the
// RNG_SEED/DATASET/NETWORK/TRAIN/VAL/TEST schema of the original cfgs/
// directory) into typed Go structs.
//
// Each task (pretrain, vqa, vcr, refcoco) has its own default tree, a copy of
// the EasyDict defaults in the original <task>/function/config.py. A YAML file
// is merged on top of those defaults; a key that the task's defaults do not
// have is an error naming the key path, the file and the line, as the
// original update_config raises ValueError. Keys that exist only for some
// tasks carry a `task:"..."` struct tag.
//
// The original's special parsing is reproduced: TRAIN.LR_STEP "14,18" becomes
// floats, TRAIN.LOSS_LOGGERS "key,Display" strings become pairs, SCALES a
// list, a list-valued DATASET (pretraining only) has each entry's missing
// keys filled from the defaults, and TRAIN/VAL/TEST.BATCH_IMAGES may be a
// number or a list (one entry per dataset).
//
// A Config serializes back to the same schema (Marshal), so it can be stored
// inside checkpoints and read again by Parse, or by the original code.
// Command-line overrides use Set("TRAIN.LR=1e-4").
//
// A few keys are vlbert extensions the original does not have; their field
// carries a `vlbert:"ext,<default>"` tag (NETWORK.IMAGE_FEAT_DIM, the region
// feature width, boxes[:, :, 4:], default 2048: the original fixes the
// bottom-up ResNet-101 pool5 width in common/fast_rcnn.py, FastRCNN.obj_downsample
// and object_mask_visual_embedding; other detectors give 256 or 1024). Every
// task accepts them, and Marshal writes one
// only when it differs from its default, so a config that uses none still loads
// in the original's update_config.
//
// The package is not concerned with what the values mean: model, data and
// trainer packages interpret them.
package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Task selects the default tree.
type Task string

// The four tasks of the original repository.
const (
	TaskPretrain Task = "pretrain"
	TaskVQA      Task = "vqa"
	TaskVCR      Task = "vcr"
	TaskRefCOCO  Task = "refcoco"
)

// Tasks lists every task, in a fixed order.
var Tasks = []Task{TaskPretrain, TaskVQA, TaskVCR, TaskRefCOCO}

// ParseTask converts a task name ("pretrain", "vqa", "vcr", "refcoco").
func ParseTask(s string) (Task, error) {
	for _, t := range Tasks {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("config: unknown task %q (want pretrain, vqa, vcr or refcoco)", s)
}

// Config is one experiment configuration. Field names follow the YAML keys.
type Config struct {
	Task Task `yaml:"-"` // which default tree the config was built on

	RNGSeed            int    `yaml:"RNG_SEED"`
	OutputPath         string `yaml:"OUTPUT_PATH"`
	Module             string `yaml:"MODULE"`
	GPUs               string `yaml:"GPUS"` // "0,1,2,3"
	LogFrequent        int    `yaml:"LOG_FREQUENT"`
	ValFrequent        int    `yaml:"VAL_FREQUENT"` // parsed but unused by the original trainer
	CheckpointFrequent int    `yaml:"CHECKPOINT_FREQUENT"`
	ModelPrefix        string `yaml:"MODEL_PREFIX"`
	NumWorkersPerGPU   int    `yaml:"NUM_WORKERS_PER_GPU"`
	Scales             []int  `yaml:"SCALES"` // (short side, max long side)

	// Datasets holds DATASET: one entry when the YAML gives a mapping, one
	// per list entry when it gives a list (pretraining multitask configs).
	Datasets      []Dataset `yaml:"DATASET"`
	DatasetIsList bool      `yaml:"-"` // DATASET was a list in the YAML

	Network Network `yaml:"NETWORK"`
	Train   Train   `yaml:"TRAIN"`
	Val     Eval    `yaml:"VAL"`
	Test    Test    `yaml:"TEST"`
}

// Dataset returns the first (usually only) DATASET entry.
func (c *Config) Dataset() *Dataset { return &c.Datasets[0] }

// SplitSettings are the per-split keys of a DATASET mapping and of the
// TRAIN/VAL/TEST sections that the data sets read.
type SplitSettings struct {
	ImageSet       string  // {TRAIN,VAL,TEST}_IMAGE_SET
	AnnotationFile string  // {TRAIN,VAL,TEST}_ANNOTATION_FILE
	Boxes          string  // {TRAIN,VAL,TEST}_BOXES (RefCOCO+)
	FlipProb       float64 // {TRAIN,VAL,TEST}.FLIP_PROB
}

// Split returns the settings of split ("train", "val" or "test") for ds.
func (c *Config) Split(ds *Dataset, split string) (SplitSettings, error) {
	switch split {
	case "train":
		return SplitSettings{ds.TrainImageSet, ds.TrainAnnotationFile, ds.TrainBoxes, c.Train.FlipProb}, nil
	case "val":
		return SplitSettings{ds.ValImageSet, ds.ValAnnotationFile, ds.ValBoxes, c.Val.FlipProb}, nil
	case "test":
		return SplitSettings{ds.TestImageSet, ds.TestAnnotationFile, ds.TestBoxes, c.Test.FlipProb}, nil
	}
	return SplitSettings{}, fmt.Errorf("config: split %q is not train, val or test", split)
}

// NumGPUs is len(GPUS.split(',')), the device count of the original's
// non-distributed mode.
func (c *Config) NumGPUs() int { return len(strings.Split(c.GPUs, ",")) }

// Dataset is one DATASET mapping.
type Dataset struct {
	Dataset             string `yaml:"DATASET"`
	AnswerVocabFile     string `yaml:"ANSWER_VOCAB_FILE" task:"pretrain,vqa,refcoco"`
	AnswerVocabSize     int    `yaml:"ANSWER_VOCAB_SIZE" task:"pretrain,vqa,refcoco"`
	LabelIndexInBatch   int    `yaml:"LABEL_INDEX_IN_BATCH"`
	AppendIndex         bool   `yaml:"APPEND_INDEX"`
	TaskName            string `yaml:"TASK"` // VCR: Q2A, QA2R, Q2AR
	BasicAlign          bool   `yaml:"BASIC_ALIGN"`
	DatasetPath         string `yaml:"DATASET_PATH"`
	RootPath            string `yaml:"ROOT_PATH"`
	TrainImageSet       string `yaml:"TRAIN_IMAGE_SET"`
	ValImageSet         string `yaml:"VAL_IMAGE_SET"`
	TestImageSet        string `yaml:"TEST_IMAGE_SET"`
	TrainAnnotationFile string `yaml:"TRAIN_ANNOTATION_FILE"`
	ValAnnotationFile   string `yaml:"VAL_ANNOTATION_FILE"`
	TestAnnotationFile  string `yaml:"TEST_ANNOTATION_FILE"`
	OnlyUseRelevantDets bool   `yaml:"ONLY_USE_RELEVANT_DETS"`
	AddImageAsABox      bool   `yaml:"ADD_IMAGE_AS_A_BOX"`
	ZipMode             bool   `yaml:"ZIP_MODE"`
	CacheMode           bool   `yaml:"CACHE_MODE"`
	IgnoreDBCache       bool   `yaml:"IGNORE_DB_CACHE"`
	MaskSize            int    `yaml:"MASK_SIZE"`
	QA2RNoQ             bool   `yaml:"QA2R_NOQ"`
	QA2RAug             bool   `yaml:"QA2R_AUG"`
	SeqLen              int    `yaml:"SEQ_LEN" task:"pretrain"`
	MinSeqLen           int    `yaml:"MIN_SEQ_LEN" task:"pretrain"`
	Boxes               string `yaml:"BOXES" task:"vqa"` // "36" or "10-100ada"
	TrainBoxes          string `yaml:"TRAIN_BOXES" task:"refcoco"`
	ValBoxes            string `yaml:"VAL_BOXES" task:"refcoco"`
	TestBoxes           string `yaml:"TEST_BOXES" task:"refcoco"`
	ProposalSource      string `yaml:"PROPOSAL_SOURCE" task:"refcoco"`
	UseIMDB             bool   `yaml:"USE_IMDB" task:"vqa,refcoco"`
}

// Network is the NETWORK mapping.
type Network struct {
	Blind                        bool      `yaml:"BLIND"`
	NoGrounding                  bool      `yaml:"NO_GROUNDING"`
	PartialPretrain              string    `yaml:"PARTIAL_PRETRAIN"`
	PartialPretrainPrefixChanges []string  `yaml:"PARTIAL_PRETRAIN_PREFIX_CHANGES"` // "old->new"
	PartialPretrainSegmbInit     bool      `yaml:"PARTIAL_PRETRAIN_SEGMB_INIT" task:"vcr"`
	ForMaskVLModelingPretrain    bool      `yaml:"FOR_MASK_VL_MODELING_PRETRAIN" task:"pretrain,vqa,vcr"`
	NoObjAttention               bool      `yaml:"NO_OBJ_ATTENTION"`
	ImageFeatPrecomputed         bool      `yaml:"IMAGE_FEAT_PRECOMPUTED"`
	ImageNumLayers               int       `yaml:"IMAGE_NUM_LAYERS"`
	ImageC5Dilated               bool      `yaml:"IMAGE_C5_DILATED"`
	ImageStrideIn1x1             bool      `yaml:"IMAGE_STRIDE_IN_1x1"`
	PixelMeans                   []float64 `yaml:"PIXEL_MEANS"`
	PixelStds                    []float64 `yaml:"PIXEL_STDS"`
	ImagePretrained              string    `yaml:"IMAGE_PRETRAINED"`
	ImagePretrainedEpoch         int       `yaml:"IMAGE_PRETRAINED_EPOCH"`
	ImageFrozenBackboneStages    []int     `yaml:"IMAGE_FROZEN_BACKBONE_STAGES"`
	ImageFrozenBN                bool      `yaml:"IMAGE_FROZEN_BN"`
	ImageFinalDim                int       `yaml:"IMAGE_FINAL_DIM"`
	ImageFeatDim                 int       `yaml:"IMAGE_FEAT_DIM" vlbert:"ext,2048"` // region feature width; see the package doc
	ImageSemantic                bool      `yaml:"IMAGE_SEMANTIC"`
	QAOneSent                    bool      `yaml:"QA_ONE_SENT" task:"vcr"`
	OutputConv5                  bool      `yaml:"OUTPUT_CONV5"`
	BertModelName                string    `yaml:"BERT_MODEL_NAME"`
	BertPretrained               string    `yaml:"BERT_PRETRAINED"`
	BertPretrainedEpoch          int       `yaml:"BERT_PRETRAINED_EPOCH"`
	BertFrozen                   bool      `yaml:"BERT_FROZEN"`
	BertAlignQuestion            bool      `yaml:"BERT_ALIGN_QUESTION"`
	BertAlignAnswer              bool      `yaml:"BERT_ALIGN_ANSWER"`
	BertUseLayer                 int       `yaml:"BERT_USE_LAYER"`
	BertWithNSPLoss              bool      `yaml:"BERT_WITH_NSP_LOSS"`
	BertWithMLMLoss              bool      `yaml:"BERT_WITH_MLM_LOSS"`
	EnableCNNRegLoss             bool      `yaml:"ENABLE_CNN_REG_LOSS"`
	CNNRegDropout                float64   `yaml:"CNN_REG_DROPOUT" task:"vcr"`
	CNNLossTop                   bool      `yaml:"CNN_LOSS_TOP" task:"vcr"`
	CNNLossWeight                float64   `yaml:"CNN_LOSS_WEIGHT"`
	AnsLossWeight                float64   `yaml:"ANS_LOSS_WEIGHT"`
	AnsLossType                  string    `yaml:"ANS_LOSS_TYPE" task:"vqa,refcoco"` // "bce" or "ce"
	ReplaceObjectChangeLabel     bool      `yaml:"REPLACE_OBJECT_CHANGE_LABEL" task:"vqa,refcoco"`
	AnswerFirst                  bool      `yaml:"ANSWER_FIRST" task:"vcr"`
	LoadRelHead                  bool      `yaml:"LOAD_REL_HEAD" task:"vcr"`

	VLBERT VLBERT `yaml:"VLBERT"`

	ClassifierType                      string  `yaml:"CLASSIFIER_TYPE"` // "2fc", "1fc" or "mlm"
	ClassifierPretrained                bool    `yaml:"CLASSIFIER_PRETRAINED" task:"vqa,refcoco"`
	ClassifierHiddenSize                int     `yaml:"CLASSIFIER_HIDDEN_SIZE"`
	ClassifierDropout                   float64 `yaml:"CLASSIFIER_DROPOUT"`
	ClassifierSigmoid                   bool    `yaml:"CLASSIFIER_SIGMOID"`
	ClassifierSigmoidLossPositiveWeight float64 `yaml:"CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT"`

	WithRelLoss              bool `yaml:"WITH_REL_LOSS" task:"pretrain"`
	WithMLMLoss              bool `yaml:"WITH_MLM_LOSS" task:"pretrain"`
	WithMVRCLoss             bool `yaml:"WITH_MVRC_LOSS" task:"pretrain"`
	MLMLossNormInBatchFirst  bool `yaml:"MLM_LOSS_NORM_IN_BATCH_FIRST" task:"pretrain"`
	MVRCLossNormInBatchFirst bool `yaml:"MVRC_LOSS_NORM_IN_BATCH_FIRST" task:"pretrain"`
	MaskRawPixels            bool `yaml:"MASK_RAW_PIXELS" task:"pretrain"`
}

// VLBERT is NETWORK.VLBERT, the transformer's hyperparameters (lower-case
// keys, as in the original).
type VLBERT struct {
	FromScratch               bool    `yaml:"from_scratch" task:"pretrain"`
	InputSize                 int     `yaml:"input_size"`
	InputTransformType        int     `yaml:"input_transform_type"`
	WordEmbeddingFrozen       bool    `yaml:"word_embedding_frozen"`
	PosEmbeddingFrozen        bool    `yaml:"pos_embedding_frozen" task:"pretrain"`
	ObjPosIDRelative          bool    `yaml:"obj_pos_id_relative"`
	HiddenSize                int     `yaml:"hidden_size"`
	VisualSize                int     `yaml:"visual_size"`
	NumHiddenLayers           int     `yaml:"num_hidden_layers"`
	NumAttentionHeads         int     `yaml:"num_attention_heads"`
	IntermediateSize          int     `yaml:"intermediate_size"`
	HiddenAct                 string  `yaml:"hidden_act"`
	HiddenDropoutProb         float64 `yaml:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64 `yaml:"attention_probs_dropout_prob"`
	MaxPositionEmbeddings     int     `yaml:"max_position_embeddings"`
	TypeVocabSize             int     `yaml:"type_vocab_size"`
	VocabSize                 int     `yaml:"vocab_size"`
	InitializerRange          float64 `yaml:"initializer_range"`
	VisualScaleTextInit       float64 `yaml:"visual_scale_text_init"`
	VisualScaleObjectInit     float64 `yaml:"visual_scale_object_init"`
	VisualLN                  bool    `yaml:"visual_ln"`
	ObjectWordEmbedMode       int     `yaml:"object_word_embed_mode"` // 1 class, 2 class-agnostic, 3 mean of text
	WithPooler                bool    `yaml:"with_pooler"`
	VisualRegionClasses       int     `yaml:"visual_region_classes" task:"pretrain"`
	PositionPaddingIdx        int     `yaml:"position_padding_idx"`
}

// Train is the TRAIN mapping.
type Train struct {
	LRMult                  LRMults     `yaml:"LR_MULT"`
	VisualScaleTextLRMult   float64     `yaml:"VISUAL_SCALE_TEXT_LR_MULT" task:"vqa,vcr,refcoco"`
	VisualScaleObjectLRMult float64     `yaml:"VISUAL_SCALE_OBJECT_LR_MULT" task:"vqa,vcr,refcoco"`
	VisualScaleClipGradNorm float64     `yaml:"VISUAL_SCALE_CLIP_GRAD_NORM" task:"vqa,vcr,refcoco"`
	Shuffle                 bool        `yaml:"SHUFFLE"`
	FlipProb                float64     `yaml:"FLIP_PROB"`
	BatchImages             IntOrList   `yaml:"BATCH_IMAGES"`
	AspectGrouping          bool        `yaml:"ASPECT_GROUPING"`
	Resume                  bool        `yaml:"RESUME"`
	AutoResume              bool        `yaml:"AUTO_RESUME"`
	BeginEpoch              int         `yaml:"BEGIN_EPOCH"`
	EndEpoch                int         `yaml:"END_EPOCH"`
	Optimizer               string      `yaml:"OPTIMIZER"` // SGD, Adam, AdamW
	ClipGradNorm            float64     `yaml:"CLIP_GRAD_NORM"`
	GradAccumulateSteps     int         `yaml:"GRAD_ACCUMULATE_STEPS"`
	LR                      float64     `yaml:"LR"`          // per sample: the optimizer gets LR × global batch
	LRSchedule              string      `yaml:"LR_SCHEDULE"` // step, triangle, plateau
	LRFactor                float64     `yaml:"LR_FACTOR"`
	LRStep                  FloatList   `yaml:"LR_STEP"` // epochs, "14,18" in the YAML
	Warmup                  bool        `yaml:"WARMUP"`
	WarmupMethod            string      `yaml:"WARMUP_METHOD"` // linear or constant
	WarmupFactor            float64     `yaml:"WARMUP_FACTOR"`
	WarmupSteps             int         `yaml:"WARMUP_STEPS"`
	WD                      float64     `yaml:"WD"`
	Momentum                float64     `yaml:"MOMENTUM"`
	FP16                    bool        `yaml:"FP16"`
	FP16LossScale           LossScale   `yaml:"FP16_LOSS_SCALE"`
	LossLoggers             LossLoggers `yaml:"LOSS_LOGGERS"`
}

// GlobalBatch is the batch the original scales the LR with:
// worldSize × Σ BATCH_IMAGES, times GRAD_ACCUMULATE_STEPS when it is > 1.
// worldSize is the number of processes in distributed mode, len(GPUS) in
// DataParallel mode.
func (t *Train) GlobalBatch(worldSize int) int {
	b := worldSize * t.BatchImages.Sum()
	if t.GradAccumulateSteps > 1 {
		b *= t.GradAccumulateSteps
	}
	return b
}

// BaseLR is TRAIN.LR × GlobalBatch(worldSize), the lr handed to the
// optimizer (before the schedule factor and LR_MULT multipliers).
func (t *Train) BaseLR(worldSize int) float64 {
	return t.LR * float64(t.GlobalBatch(worldSize))
}

// Eval is the VAL mapping.
type Eval struct {
	Shuffle     bool      `yaml:"SHUFFLE"`
	FlipProb    float64   `yaml:"FLIP_PROB"`
	BatchImages IntOrList `yaml:"BATCH_IMAGES"`
}

// Test is the TEST mapping.
type Test struct {
	Shuffle     bool      `yaml:"SHUFFLE"`
	FlipProb    float64   `yaml:"FLIP_PROB"`
	TestEpoch   int       `yaml:"TEST_EPOCH"`
	BatchImages IntOrList `yaml:"BATCH_IMAGES"`
}

// IntOrList is a count that the YAML may give either as a number or as a list
// (one per dataset of a multitask config).
type IntOrList struct {
	Values []int
	List   bool // written as a list in the YAML
}

// Int returns a scalar IntOrList.
func Int(v int) IntOrList { return IntOrList{Values: []int{v}} }

// Sum is Σ Values, the original's sum(BATCH_IMAGES) for lists.
func (b IntOrList) Sum() int {
	s := 0
	for _, v := range b.Values {
		s += v
	}
	return s
}

// At returns entry i, or the scalar for every i.
func (b IntOrList) At(i int) int {
	if !b.List {
		return b.Values[0]
	}
	return b.Values[i]
}

// UnmarshalYAML accepts a number or a sequence of numbers.
func (b *IntOrList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var v int
		if err := n.Decode(&v); err != nil {
			return err
		}
		*b = IntOrList{Values: []int{v}}
	case yaml.SequenceNode:
		var vs []int
		if err := n.Decode(&vs); err != nil {
			return err
		}
		if len(vs) == 0 {
			return fmt.Errorf("line %d: empty list", n.Line)
		}
		*b = IntOrList{Values: vs, List: true}
	default:
		return fmt.Errorf("line %d: want a number or a list of numbers", n.Line)
	}
	return nil
}

// MarshalYAML writes the form it was read in.
func (b IntOrList) MarshalYAML() (any, error) {
	if b.List || len(b.Values) != 1 {
		return b.Values, nil
	}
	return b.Values[0], nil
}

// FloatList is TRAIN.LR_STEP: "14,18" in the YAML (the original splits the
// string on commas and converts each part with float()).
type FloatList []float64

// UnmarshalYAML accepts the original comma-separated string, and also a
// single number or a sequence of numbers.
func (f *FloatList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*f = nil
			return nil
		}
		if strings.TrimSpace(n.Value) == "" {
			*f = FloatList{}
			return nil
		}
		parts := strings.Split(n.Value, ",")
		out := make(FloatList, len(parts))
		for i, p := range parts {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return fmt.Errorf("line %d: %q is not a comma-separated list of numbers", n.Line, n.Value)
			}
			out[i] = v
		}
		*f = out
	case yaml.SequenceNode:
		var vs []float64
		if err := n.Decode(&vs); err != nil {
			return err
		}
		*f = vs
	default:
		return fmt.Errorf("line %d: want a string like \"14,18\"", n.Line)
	}
	return nil
}

// MarshalYAML writes the original's "14,18" form.
func (f FloatList) MarshalYAML() (any, error) {
	parts := make([]string, len(f))
	for i, v := range f {
		parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strings.Join(parts, ","), nil
}

// LossLogger is one TRAIN.LOSS_LOGGERS entry: the model output to average
// and the name it is displayed under (Train-<Display>).
type LossLogger struct {
	Output  string
	Display string
}

// LossLoggers is TRAIN.LOSS_LOGGERS, written as "output,Display" strings.
type LossLoggers []LossLogger

// UnmarshalYAML splits each "output,Display" string on its comma.
func (l *LossLoggers) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*l = LossLoggers{}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: want a list of \"output,Display\" strings", n.Line)
	}
	out := make(LossLoggers, 0, len(n.Content))
	for _, e := range n.Content {
		if e.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: want an \"output,Display\" string", e.Line)
		}
		parts := strings.Split(e.Value, ",")
		if len(parts) != 2 {
			return fmt.Errorf("line %d: %q is not of the form \"output,Display\"", e.Line, e.Value)
		}
		out = append(out, LossLogger{Output: parts[0], Display: parts[1]})
	}
	*l = out
	return nil
}

// MarshalYAML writes "output,Display" strings.
func (l LossLoggers) MarshalYAML() (any, error) {
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = e.Output + "," + e.Display
	}
	return out, nil
}

// LRMult is one TRAIN.LR_MULT entry: parameters whose name contains Key get
// lr × Mult in their own parameter group.
type LRMult struct {
	Key  string
	Mult float64
}

// LRMults is TRAIN.LR_MULT, a list of [key, multiplier] pairs.
type LRMults []LRMult

// UnmarshalYAML reads a list of two-element lists.
func (l *LRMults) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*l = LRMults{}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: want a list of [key, multiplier] pairs", n.Line)
	}
	out := make(LRMults, 0, len(n.Content))
	for _, e := range n.Content {
		if e.Kind != yaml.SequenceNode || len(e.Content) != 2 {
			return fmt.Errorf("line %d: want a [key, multiplier] pair", e.Line)
		}
		var m LRMult
		if err := e.Content[0].Decode(&m.Key); err != nil {
			return err
		}
		if err := e.Content[1].Decode(&m.Mult); err != nil {
			return err
		}
		out = append(out, m)
	}
	*l = out
	return nil
}

// MarshalYAML writes [key, multiplier] pairs.
func (l LRMults) MarshalYAML() (any, error) {
	out := make([][]any, len(l))
	for i, m := range l {
		out[i] = []any{m.Key, m.Mult}
	}
	return out, nil
}

// LossScale is TRAIN.FP16_LOSS_SCALE: a number, or "dynamic" (apex's
// dynamic loss scaling).
type LossScale struct {
	Dynamic bool
	Value   float64 // when not Dynamic
}

// UnmarshalYAML accepts a number or the string "dynamic".
func (l *LossScale) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "dynamic" {
		*l = LossScale{Dynamic: true}
		return nil
	}
	var v float64
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("line %d: want a number or \"dynamic\"", n.Line)
	}
	*l = LossScale{Value: v}
	return nil
}

// MarshalYAML writes "dynamic" or the number.
func (l LossScale) MarshalYAML() (any, error) {
	if l.Dynamic {
		return "dynamic", nil
	}
	return l.Value, nil
}
