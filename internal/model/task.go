package model

import (
	"fmt"
	"strings"

	"github.com/vlbert/vlbert/internal/heads"
)

// taskSpec is everything that differs between the task modules outside their own
// types: the one table that construction from a Config reads. Nothing else in the
// package asks which task a model is.
type taskSpec struct {
	name string // the original class, for messages
	// corePrefix is where VisualLinguisticBert's keys live (VCR wraps it in
	// TimeDistributed: "vlbert._module.").
	corePrefix string
	// base fills the shipped configs' task settings into BaseConfig.
	base func(c *Config)
	// validate checks the task's own settings.
	validate func(c *Config) error
	// params adds the module's own parameters in registration order: pre after
	// object_linguistic_embeddings (before VisualLinguisticBert), post after it.
	pre, post func(b *paramBuilder, c *Config)
	// bertHead maps a BERT checkpoint's head key (vlbert.mlm_head.*,
	// vlbert.relationsip_head.*) to the module's parameter, "" when unused
	// (load_language_pretrained_model and the VQA init_weight).
	bertHead func(c *Config, key string) string
	// bind makes the module over the shared encoder.
	bind func(e *Encoder) Module
}

var taskSpecs = map[Task]*taskSpec{
	TaskVQA: {
		name: "ResNetVLBERT", corePrefix: "vlbert.", base: func(*Config) {},
		validate: func(c *Config) error {
			if err := validateClassifier(c, "ResNetVLBERT (VQA)", "2fc", "1fc", "mlm"); err != nil {
				return err
			}
			if c.objWordMode() != 2 || c.Blind || c.ImageSemantic || c.NoObjAttention || c.VCRLayout != 0 {
				return fmt.Errorf("model: the VQA module takes object_word_embed_mode 2 and none of BLIND, IMAGE_SEMANTIC, NO_OBJ_ATTENTION, ANSWER_FIRST, QA_ONE_SENT")
			}
			if c.AnswerVocabSize <= 0 {
				return fmt.Errorf("model: DATASET.ANSWER_VOCAB_SIZE = %d, want > 0", c.AnswerVocabSize)
			}
			return nil
		},
		pre:  func(*paramBuilder, *Config) {},
		post: func(b *paramBuilder, c *Config) { finalMLPParams(b, c, c.AnswerVocabSize) },
		bertHead: func(c *Config, k string) string {
			if c.ClassifierType != "mlm" {
				return ""
			}
			if rest, ok := strings.CutPrefix(k, "vlbert.mlm_head.predictions.transform."); ok {
				return "final_mlp.0." + rest
			}
			return ""
		},
		bind: newVQA,
	},
	TaskPretrain: {
		name: "ResNetVLBERTForPretraining", corePrefix: "vlbert.", base: pretrainBase,
		validate: validatePretrain, pre: func(b *paramBuilder, c *Config) { pretrainPre(b, c, false) }, post: pretrainPost, bertHead: pretrainBERTHead,
		bind: newPretrain,
	},
	TaskPretrainMultitask: {
		name: "ResNetVLBERTForPretrainingMultitask", corePrefix: "vlbert.", base: pretrainBase,
		validate: func(c *Config) error {
			if !c.WithMLMLoss {
				return fmt.Errorf("model: the multitask pretraining module needs WITH_MLM_LOSS")
			}
			if c.VisualSize != c.HiddenSize {
				return fmt.Errorf("model: ResNetVLBERTForPretrainingMultitask with visual_size %d != hidden_size %d: the original writes the hidden_size-wide aux_text_visual_embedding into visual_size-wide text visual embeddings and fails", c.VisualSize, c.HiddenSize)
			}
			return validatePretrain(c)
		},
		pre: func(b *paramBuilder, c *Config) {
			pretrainPre(b, c, true)
			b.add("aux_text_visual_embedding.weight", initNormal, 1, c.HiddenSize)
		},
		post: pretrainPost, bertHead: pretrainBERTHead,
		bind: newPretrainMultitask,
	},
	TaskRefCOCO: {
		name: "ResNetVLBERT (RefCOCO)", corePrefix: "vlbert.", base: func(*Config) {},
		validate: func(*Config) error { return nil },
		pre:      func(*paramBuilder, *Config) {},
		post: func(b *paramBuilder, c *Config) {
			b.linear("final_mlp.0.dense", c.HiddenSize, c.HiddenSize)
			b.linear("final_mlp.2", 1, c.HiddenSize)
		},
		bertHead: func(*Config, string) string { return "" },
		bind:     newRefCOCO,
	},
	TaskVCR: {
		name: "ResNetVLBERT (VCR)", corePrefix: "vlbert._module.",
		base: func(c *Config) {
			c.WithPooler, c.ClassifierType, c.ClassifierSigmoid = true, "1fc", true
			c.AnsLossWeight, c.CNNRegLossTop, c.CNNLossWeight = 1, true, 1
		},
		validate: func(c *Config) error {
			if !c.WithPooler {
				return fmt.Errorf("model: the VCR head reads the pooler: with_pooler must be true")
			}
			if err := validateClassifier(c, "ResNetVLBERT (VCR)", "2fc", "1fc"); err != nil {
				return err
			}
			switch {
			case c.objWordMode() < 1 || c.objWordMode() > 3:
				return fmt.Errorf("model: object_word_embed_mode %d, want 1, 2 or 3", c.ObjectWordEmbedMode)
			case c.Blind && c.VisualLN:
				return fmt.Errorf("model: BLIND needs visual_ln false (the original freezes visual_scale_*)")
			case c.Blind && c.CNNRegLossTop, c.NoObjAttention && c.CNNRegLossTop:
				return fmt.Errorf("model: BLIND and NO_OBJ_ATTENTION leave the CNN regulariser no object (the original fails)")
			case c.CNNRegLossRoI && (c.CNNRegLossTop || !c.E2E || c.Blind):
				return fmt.Errorf("model: the RoI CNN regulariser (ENABLE_CNN_REG_LOSS without CNN_LOSS_TOP) needs e2e RoI features, no CNN_LOSS_TOP and no BLIND")
			case c.ImageSemantic && c.Blind:
				return fmt.Errorf("model: IMAGE_SEMANTIC needs the image feature extractor, which BLIND removes")
			}
			if !(c.ClassifierPosW >= 0) {
				return fmt.Errorf("model: CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT = %g, want > 0 (0 in a Config means 1)", c.ClassifierPosW)
			}
			if c.CNNRegDropout < 0 || c.CNNRegDropout >= 1 {
				return fmt.Errorf("model: CNN_REG_DROPOUT = %g, want in [0, 1)", c.CNNRegDropout)
			}
			return nil
		},
		pre: func(b *paramBuilder, c *Config) {
			if c.CNNRegLossTop && !c.Blind {
				b.linear("cnn_loss_reg.0.dense", c.HiddenSize, c.HiddenSize)
				b.linear("cnn_loss_reg.2", VCRObjectClasses, c.HiddenSize)
			}
		},
		post:     func(b *paramBuilder, c *Config) { finalMLPParams(b, c, 1) },
		bertHead: func(*Config, string) string { return "" },
		bind:     newVCR,
	},
}

// validateClassifier checks CLASSIFIER_TYPE against the types the module builds
// (its __init__ raises "Not support classifier type" for any other) and the 2fc
// hidden size.
func validateClassifier(c *Config, module string, types ...string) error {
	ok := false
	for _, t := range types {
		ok = ok || c.ClassifierType == t
	}
	if !ok {
		return fmt.Errorf("model: %s: Not support classifier type: %s! (want one of %s)", module, c.ClassifierType, strings.Join(types, ", "))
	}
	if c.ClassifierType == "2fc" && c.ClassifierHid <= 0 {
		return fmt.Errorf("model: CLASSIFIER_HIDDEN_SIZE = %d, want > 0", c.ClassifierHid)
	}
	return nil
}

// finalMLPParams adds final_mlp's parameters for CLASSIFIER_TYPE with out outputs,
// under the indices of its nn.Sequential (dropouts and ReLU hold no parameters).
func finalMLPParams(b *paramBuilder, c *Config, out int) {
	H := c.HiddenSize
	switch c.ClassifierType {
	case "mlm":
		b.linear("final_mlp.0.dense", H, H)
		b.layerNorm("final_mlp.0.LayerNorm", H, initOne)
		b.linear("final_mlp.2", out, H)
	case "1fc":
		b.linear("final_mlp.1", out, H)
	case "2fc":
		b.linear("final_mlp.1", c.ClassifierHid, H)
		b.linear("final_mlp.4", out, c.ClassifierHid)
	}
}

// finalMLPOf binds final_mlp's views for CLASSIFIER_TYPE.
func finalMLPOf(p *Params, c *Config) heads.FinalMLP {
	switch c.ClassifierType {
	case "mlm":
		return heads.FinalMLP{Transform: &heads.Transform{Dense: headLinear(p, "final_mlp.0.dense"), LN: headLN(p, "final_mlp.0.LayerNorm"), Act: c.HiddenAct},
			Out: headLinear(p, "final_mlp.2")}
	case "2fc":
		hid := headLinear(p, "final_mlp.1")
		return heads.FinalMLP{Hidden: &hid, Out: headLinear(p, "final_mlp.4")}
	}
	return heads.FinalMLP{Out: headLinear(p, "final_mlp.1")}
}

// finalMLPLast is the key prefix of final_mlp's last Linear.
func finalMLPLast(c *Config) string {
	switch c.ClassifierType {
	case "mlm":
		return "final_mlp.2"
	case "2fc":
		return "final_mlp.4"
	}
	return "final_mlp.1"
}

// spec returns the task's entry; Validate has rejected unknown tasks.
func (c *Config) spec() *taskSpec {
	s, ok := taskSpecs[c.Task]
	if !ok {
		panic(fmt.Sprintf("model: unknown task %d", int(c.Task)))
	}
	return s
}

// corePrefix is where VisualLinguisticBert's keys live.
func (c *Config) corePrefix() string { return c.spec().corePrefix }

func pretrainBase(c *Config) { c.WithMLMLoss, c.WithMVRCLoss, c.MaskRawPixels = true, true, true }

func validatePretrain(c *Config) error {
	if c.WithRelLoss && !c.WithPooler {
		return fmt.Errorf("model: WITH_REL_LOSS needs with_pooler")
	}
	if c.WithMVRCLoss && c.RegionClasses <= 0 {
		return fmt.Errorf("model: visual_region_classes = %d, want > 0", c.RegionClasses)
	}
	return nil
}

// pretrainPre adds the masking embeddings. object_mask_visual_embedding replaces
// masked RoI features: always with precomputed features; in e2e mode only in the
// multitask module with MASK_RAW_PIXELS=false (otherwise the dataset masks pixels).
func pretrainPre(b *paramBuilder, c *Config, multitask bool) {
	if !c.E2E || multitask && !c.MaskRawPixels {
		b.add("object_mask_visual_embedding.weight", initZero, 1, c.FeatureDim())
	}
	if c.WithMVRCLoss {
		b.add("object_mask_word_embedding.weight", initNormal, 1, c.HiddenSize)
	}
}

func pretrainPost(b *paramBuilder, c *Config) {
	H := c.HiddenSize
	if c.WithRelLoss {
		b.linear("vlbert.relationsip_head.caption_image_relationship", 2, H)
	}
	if c.WithMLMLoss {
		b.add("vlbert.mlm_head.predictions.bias", initZero, c.VocabSize)
		b.linear("vlbert.mlm_head.predictions.transform.dense", H, H)
		b.layerNorm("vlbert.mlm_head.predictions.transform.LayerNorm", H, initOne)
		b.aliases = append(b.aliases, Alias{"vlbert.mlm_head.predictions.decoder.weight", "vlbert.word_embeddings.weight"})
	}
	if c.WithMVRCLoss {
		b.linear("vlbert.mvrc_head.transform.dense", H, H)
		b.linear("vlbert.mvrc_head.region_cls_pred", c.RegionClasses, H)
	}
}

func pretrainBERTHead(c *Config, k string) string {
	switch {
	case strings.HasPrefix(k, "vlbert.mlm_head.") && c.WithMLMLoss,
		strings.HasPrefix(k, "vlbert.relationsip_head.") && c.WithRelLoss:
		return k
	}
	return ""
}

// New builds the task module of cfg.Task with every parameter zero; call
// InitWeights or load a state dict next. The typed constructors (NewVQA, ...)
// return the concrete type.
func New(cfg Config) (Module, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg.spec().bind(newEncoder(cfg, buildParams(&cfg))), nil
}

// Layout is New without the arenas: the parameter table New would lay out for
// cfg (names in registration order, shapes, frozen flags), after the same
// validation, with Data and Grad nil. It checks a full-size configuration
// (BERT-large: 2.7 GB of parameters and gradients) without allocating it.
func Layout(cfg Config) (*Params, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return paramTable(&cfg).layout(), nil
}

// newAs is New for a caller that knows the task's type.
func newAs[T Module](cfg Config, want Task) (T, error) {
	var zero T
	if cfg.Task != want {
		return zero, fmt.Errorf("model: config is for %s, not %s", cfg.Task, want)
	}
	m, err := New(cfg)
	if err != nil {
		return zero, err
	}
	return m.(T), nil
}
