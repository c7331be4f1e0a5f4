package config

import "fmt"

// Defaults returns the default tree of a task, as in the original
// <task>/function/config.py. Fields that the task does not have (see the
// `task` struct tags) are left at their zero values and are never read or
// written by Parse, Set or Marshal.
func Defaults(task Task) (*Config, error) {
	if _, err := ParseTask(string(task)); err != nil {
		return nil, err
	}
	c := commonDefaults()
	c.Task = task
	ds := &c.Datasets[0]
	n := &c.Network
	switch task {
	case TaskPretrain:
		ds.SeqLen = 64
		ds.MinSeqLen = 0
		n.VLBERT.WithPooler = true
		n.VLBERT.VisualRegionClasses = 1601
		n.WithRelLoss = true
		n.WithMLMLoss = true
		n.WithMVRCLoss = true
		n.MaskRawPixels = true
		c.Train.LossLoggers = LossLoggers{{"relationship_loss", "RelLoss"}, {"mlm_loss", "MLMLoss"}, {"mvrc_loss", "MVRCLoss"}}
	case TaskVQA:
		ds.Boxes = "36"
		ds.UseIMDB = true
		n.AnsLossType = "bce"
		n.ReplaceObjectChangeLabel = true
		n.VLBERT.WithPooler = false
		setVisualScaleDefaults(&c.Train)
		c.Train.LossLoggers = LossLoggers{{"ans_loss", "AnsLoss"}}
	case TaskVCR:
		ds.LabelIndexInBatch = 7
		n.ImageSemantic = true
		n.LoadRelHead = true
		n.VLBERT.ObjectWordEmbedMode = 1
		n.VLBERT.WithPooler = true
		setVisualScaleDefaults(&c.Train)
		c.Train.LossLoggers = LossLoggers{{"ans_loss", "AnsLoss"}, {"cnn_regularization_loss", "CNNRegLoss"}}
	case TaskRefCOCO:
		ds.TrainBoxes = "gt"
		ds.ValBoxes = "gt"
		ds.TestBoxes = "gt"
		ds.ProposalSource = "official"
		ds.UseIMDB = true
		n.EnableCNNRegLoss = false
		n.AnsLossType = "bce"
		n.ReplaceObjectChangeLabel = true
		n.VLBERT.WithPooler = false
		setVisualScaleDefaults(&c.Train)
		c.Train.LossLoggers = LossLoggers{{"cls_loss", "ClsLoss"}}
	default:
		panic(fmt.Sprintf("config: task %q has no defaults", task))
	}
	if task != TaskVCR {
		ds.AnswerVocabSize = 3129
	}
	return c, nil
}

func setVisualScaleDefaults(t *Train) {
	t.VisualScaleTextLRMult = 1.0
	t.VisualScaleObjectLRMult = 1.0
	t.VisualScaleClipGradNorm = -1
}

// commonDefaults holds the values shared by all four config.py files.
func commonDefaults() *Config {
	return &Config{
		RNGSeed:            -1,
		LogFrequent:        50,
		ValFrequent:        1,
		CheckpointFrequent: 1,
		NumWorkersPerGPU:   4,
		Scales:             []int{},
		Datasets:           []Dataset{defaultDataset()},
		Network: Network{
			PartialPretrainPrefixChanges: []string{},
			ImageNumLayers:               50,
			PixelMeans:                   []float64{},
			PixelStds:                    []float64{},
			ImageFrozenBackboneStages:    []int{1, 2},
			ImageFrozenBN:                true,
			ImageFinalDim:                512,
			ImageFeatDim:                 2048,
			BertModelName:                "bert-base-uncased",
			BertFrozen:                   true,
			BertAlignQuestion:            true,
			BertAlignAnswer:              true,
			BertUseLayer:                 -2,
			EnableCNNRegLoss:             true,
			CNNLossWeight:                1.0,
			AnsLossWeight:                1.0,
			VLBERT: VLBERT{
				InputSize:                 1280,
				InputTransformType:        1,
				ObjPosIDRelative:          true,
				HiddenSize:                512,
				VisualSize:                512,
				NumHiddenLayers:           4,
				NumAttentionHeads:         8,
				IntermediateSize:          2048,
				HiddenAct:                 "gelu",
				HiddenDropoutProb:         0.1,
				AttentionProbsDropoutProb: 0.1,
				MaxPositionEmbeddings:     512,
				TypeVocabSize:             3,
				VocabSize:                 30522,
				InitializerRange:          0.02,
				ObjectWordEmbedMode:       2,
				PositionPaddingIdx:        -1,
			},
			ClassifierType:                      "2fc",
			ClassifierHiddenSize:                1024,
			ClassifierDropout:                   0.1,
			ClassifierSigmoidLossPositiveWeight: 1.0,
		},
		Train: Train{
			LRMult:              LRMults{},
			Shuffle:             true,
			FlipProb:            0.5,
			BatchImages:         Int(1),
			AspectGrouping:      true,
			AutoResume:          true,
			Optimizer:           "SGD",
			ClipGradNorm:        -1,
			GradAccumulateSteps: 1,
			LR:                  0.1,
			LRSchedule:          "step",
			LRFactor:            0.1,
			LRStep:              FloatList{},
			WarmupMethod:        "linear",
			WarmupFactor:        1.0 / 3,
			WarmupSteps:         1000,
			WD:                  0.0001,
			Momentum:            0.9,
			FP16LossScale:       LossScale{Value: 128.0},
		},
		Val:  Eval{BatchImages: Int(1)},
		Test: Test{BatchImages: Int(1)},
	}
}

func defaultDataset() Dataset {
	return Dataset{
		LabelIndexInBatch:   -1,
		TaskName:            "Q2AR",
		OnlyUseRelevantDets: true,
		AddImageAsABox:      true,
		IgnoreDBCache:       true,
		MaskSize:            14,
	}
}

// defaultDatasetFor is the template a list-valued DATASET entry is filled
// from.
func defaultDatasetFor(task Task) Dataset {
	c, err := Defaults(task)
	if err != nil {
		panic(err)
	}
	return c.Datasets[0]
}
