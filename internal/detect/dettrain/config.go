package dettrain

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Module is the MODULE value of a detector config; `vlbert train` sends
// configs with it here.
const Module = "BottomUpAttentionDetector"

// Config is a detector training config: the network's sizes (NETWORK), the
// data (DATASET), py-faster-rcnn's TRAIN and TEST options under their
// original names (lib/fast_rcnn/config.py, overridden as
// experiments/cfgs/faster_rcnn_end2end_resnet.yml does) and the Caffe
// solver (SOLVER, models/vg/ResNet-101/faster_rcnn_end2end_final/
// solver.prototxt). Unknown keys are an error.
type Config struct {
	Module             string      `yaml:"MODULE"`
	RNGSeed            uint64      `yaml:"RNG_SEED"`
	OutputPath         string      `yaml:"OUTPUT_PATH"`
	ModelPrefix        string      `yaml:"MODEL_PREFIX"`
	LogFrequent        int         `yaml:"LOG_FREQUENT"`
	CheckpointFrequent int         `yaml:"CHECKPOINT_FREQUENT"` // iterations between {prefix}-latest checkpoints
	Dataset            Dataset     `yaml:"DATASET"`
	Network            Network     `yaml:"NETWORK"`
	Train              TrainConfig `yaml:"TRAIN"`
	Test               TestConfig  `yaml:"TEST"`
	Solver             Solver      `yaml:"SOLVER"`
}

// Dataset names COCO-style instances files (internal/data/coco) and the
// directory their file_name entries are relative to.
type Dataset struct {
	TrainAnnotations string `yaml:"TRAIN_ANNOTATIONS"`
	ValAnnotations   string `yaml:"VAL_ANNOTATIONS"`
	ImageRoot        string `yaml:"IMAGE_ROOT"`
}

// Network is importer.Config's sizes (NumClasses and NumAttributes come
// from the data) plus the layers that do not train.
type Network struct {
	StemWidth    int       `yaml:"STEM_WIDTH"`
	Blocks       []int     `yaml:"BLOCKS"`     // res2..res5
	Bottleneck   []int     `yaml:"BOTTLENECK"` // res2..res5 widths
	Expansion    int       `yaml:"EXPANSION"`
	RPNWidth     int       `yaml:"RPN_WIDTH"`
	EmbedDim     int       `yaml:"EMBED_DIM"`
	AttrHidden   int       `yaml:"ATTR_HIDDEN"`
	PooledSize   int       `yaml:"POOLED_SIZE"`
	FeatStride   int       `yaml:"FEAT_STRIDE"`
	AnchorBase   int       `yaml:"ANCHOR_BASE"`
	AnchorScales []float64 `yaml:"ANCHOR_SCALES"`
	AnchorRatios []float64 `yaml:"ANCHOR_RATIOS"`
	// Frozen lists layer-name prefixes with lr_mult 0. train.prototxt
	// freezes conv1, res2, res3 and res4a_branch1 (BatchNorm/Scale always).
	Frozen   []string `yaml:"FROZEN"`
	InitStd  float64  `yaml:"INIT_STD"` // gaussian std of the head layers' weights (0.01 in the prototxt)
	Pretrain string   `yaml:"PRETRAIN"` // canonical weights to start from ("" = random init)
}

// TrainConfig holds py-faster-rcnn's __C.TRAIN options the training reads.
type TrainConfig struct {
	Scales             []int     `yaml:"SCALES"`
	MaxSize            int       `yaml:"MAX_SIZE"`
	BatchSize          int       `yaml:"BATCH_SIZE"` // RoIs per image
	FgFraction         float64   `yaml:"FG_FRACTION"`
	FgThresh           float64   `yaml:"FG_THRESH"`
	BgThreshHi         float64   `yaml:"BG_THRESH_HI"`
	BgThreshLo         float64   `yaml:"BG_THRESH_LO"`
	UseFlipped         bool      `yaml:"USE_FLIPPED"`
	BboxNormalizeMeans []float64 `yaml:"BBOX_NORMALIZE_MEANS"`
	BboxNormalizeStds  []float64 `yaml:"BBOX_NORMALIZE_STDS"`
	RPNPositiveOverlap float64   `yaml:"RPN_POSITIVE_OVERLAP"`
	RPNNegativeOverlap float64   `yaml:"RPN_NEGATIVE_OVERLAP"`
	RPNFgFraction      float64   `yaml:"RPN_FG_FRACTION"`
	RPNBatchSize       int       `yaml:"RPN_BATCHSIZE"`
	RPNNMSThresh       float64   `yaml:"RPN_NMS_THRESH"`
	RPNPreNMSTopN      int       `yaml:"RPN_PRE_NMS_TOP_N"`
	RPNPostNMSTopN     int       `yaml:"RPN_POST_NMS_TOP_N"`
	RPNMinSize         float64   `yaml:"RPN_MIN_SIZE"`
	RPNSigma           float64   `yaml:"RPN_SIGMA"`        // rpn_loss_bbox smooth_l1_loss_param sigma (3)
	AttrLossWeight     float64   `yaml:"ATTR_LOSS_WEIGHT"` // loss_attr loss_weight (0.5)
}

// TestConfig holds the __C.TEST options evaluation uses.
type TestConfig struct {
	Scales         []int   `yaml:"SCALES"`
	MaxSize        int     `yaml:"MAX_SIZE"`
	NMS            float64 `yaml:"NMS"`
	RPNNMSThresh   float64 `yaml:"RPN_NMS_THRESH"`
	RPNPreNMSTopN  int     `yaml:"RPN_PRE_NMS_TOP_N"`
	RPNPostNMSTopN int     `yaml:"RPN_POST_NMS_TOP_N"`
	RPNMinSize     float64 `yaml:"RPN_MIN_SIZE"`
	ScoreThresh    float64 `yaml:"SCORE_THRESH"`  // test_net's thresh (0.05)
	MaxPerImage    int     `yaml:"MAX_PER_IMAGE"` // test_net's max_per_image (100)
}

// Solver is the Caffe SGD solver ("step" policy).
type Solver struct {
	BaseLR      float64 `yaml:"BASE_LR"`
	Momentum    float64 `yaml:"MOMENTUM"`
	WeightDecay float64 `yaml:"WEIGHT_DECAY"`
	Gamma       float64 `yaml:"GAMMA"`
	StepSize    int     `yaml:"STEPSIZE"`
	MaxIter     int     `yaml:"MAX_ITER"`
	Warmup      int     `yaml:"WARMUP"` // linear warm-up iterations (0 in the original)
}

// DefaultConfig is the original end-to-end training of the released
// ResNet-101 model: lib/fast_rcnn/config.py's defaults with
// faster_rcnn_end2end_resnet.yml's overrides (BATCH_SIZE 64, FG_FRACTION
// 0.5, BG_THRESH_LO 0, RPN_BATCHSIZE 64, precomputed target normalisation),
// train.prototxt's frozen layers and loss weights, solver.prototxt's SGD.
func DefaultConfig() Config {
	return Config{
		Module: Module, RNGSeed: 3, OutputPath: "./output/detector", ModelPrefix: "detector",
		LogFrequent: 20, CheckpointFrequent: 1000,
		Network: Network{StemWidth: 64, Blocks: []int{3, 4, 23, 3}, Bottleneck: []int{64, 128, 256, 512}, Expansion: 4,
			RPNWidth: 512, EmbedDim: 256, AttrHidden: 512, PooledSize: 14, FeatStride: 16, AnchorBase: 16,
			AnchorScales: []float64{4, 8, 16, 32}, AnchorRatios: []float64{0.5, 1, 2},
			Frozen: []string{"conv1", "res2", "res3", "res4a_branch1"}, InitStd: 0.01},
		Train: TrainConfig{Scales: []int{600}, MaxSize: 1000, BatchSize: 64, FgFraction: 0.5, FgThresh: 0.5,
			BgThreshHi: 0.5, BgThreshLo: 0, UseFlipped: true,
			BboxNormalizeMeans: []float64{0, 0, 0, 0}, BboxNormalizeStds: []float64{0.1, 0.1, 0.2, 0.2},
			RPNPositiveOverlap: 0.7, RPNNegativeOverlap: 0.3, RPNFgFraction: 0.5, RPNBatchSize: 64,
			RPNNMSThresh: 0.7, RPNPreNMSTopN: 12000, RPNPostNMSTopN: 2000, RPNMinSize: 16, RPNSigma: 3, AttrLossWeight: 0.5},
		Test: TestConfig{Scales: []int{600}, MaxSize: 1000, NMS: 0.3, RPNNMSThresh: 0.7, RPNPreNMSTopN: 6000,
			RPNPostNMSTopN: 300, RPNMinSize: 16, ScoreThresh: 0.05, MaxPerImage: 100},
		Solver: Solver{BaseLR: 0.001, Momentum: 0.9, WeightDecay: 0.0005, Gamma: 0.1, StepSize: 350000, MaxIter: 350000},
	}
}

// LoadConfig reads a detector config over DefaultConfig; relative dataset
// paths stay relative to the working directory, as vlbert's other configs.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("detector config: %w", err)
	}
	return ParseConfig(b, path)
}

// ParseConfig reads a detector config's YAML over DefaultConfig (path names
// it in errors).
func ParseConfig(b []byte, path string) (*Config, error) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("detector config %s: %w", path, err)
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("detector config %s: %w", path, err)
	}
	return &c, nil
}

// IsDetectorConfig reports whether the YAML file at path has MODULE: Module.
func IsDetectorConfig(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var head struct {
		Module string `yaml:"MODULE"`
	}
	return yaml.Unmarshal(b, &head) == nil && head.Module == Module
}

// Check reports settings the training cannot run with.
func (c *Config) Check() error {
	n, t := c.Network, c.Train
	switch {
	case c.Module != Module:
		return fmt.Errorf("MODULE is %q, want %q", c.Module, Module)
	case len(n.Blocks) != 4 || len(n.Bottleneck) != 4:
		return fmt.Errorf("NETWORK.BLOCKS and NETWORK.BOTTLENECK need 4 values (res2..res5), got %v and %v", n.Blocks, n.Bottleneck)
	case len(t.Scales) == 0 || len(c.Test.Scales) == 0:
		return fmt.Errorf("TRAIN.SCALES and TEST.SCALES need at least one value")
	case len(t.BboxNormalizeMeans) != 4 || len(t.BboxNormalizeStds) != 4:
		return fmt.Errorf("TRAIN.BBOX_NORMALIZE_MEANS/STDS need 4 values")
	case t.BatchSize < 1 || t.RPNBatchSize < 1:
		return fmt.Errorf("TRAIN.BATCH_SIZE %d and RPN_BATCHSIZE %d must be >= 1", t.BatchSize, t.RPNBatchSize)
	case c.Solver.MaxIter < 1 || c.Solver.BaseLR <= 0:
		return fmt.Errorf("SOLVER.MAX_ITER %d and BASE_LR %g must be > 0", c.Solver.MaxIter, c.Solver.BaseLR)
	}
	for _, s := range t.BboxNormalizeStds {
		if s <= 0 {
			return fmt.Errorf("TRAIN.BBOX_NORMALIZE_STDS %v must be > 0", t.BboxNormalizeStds)
		}
	}
	return nil
}

// Marshal is the config as YAML (every key, resolved).
func (c *Config) Marshal() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("detector config: %w", err)
	}
	return b, nil
}

// OutputDir is where a run writes: OUTPUT_PATH/<config name>.
func (c *Config) OutputDir(cfgPath string) string {
	name := filepath.Base(cfgPath)
	return filepath.Join(c.OutputPath, name[:len(name)-len(filepath.Ext(name))])
}
