package infer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
)

// Metadata keys of vlbert's safetensors checkpoints that inference reads.
const (
	// MetaConfig holds the experiment config as YAML in the original schema.
	MetaConfig = "config"
	// MetaAnswers holds the VQA answer list as a JSON array of strings, in
	// classifier row order.
	MetaAnswers = "answers"
)

// Options says what to load.
type Options struct {
	Checkpoint string // original .model/.pth (torch.save) or vlbert safetensors
	Config     string // YAML config; required for torch checkpoints, overrides the embedded one
	Answers    string // answer file (one answer a line); overrides the checkpoint's list
	// Backbone is a checkpoint with the ResNet-101 C4 weights for image inputs
	// (original e2e VL-BERT checkpoint or the raw ResNet file). Empty: use the
	// checkpoint's own image_feature_extractor.* weights when it has them.
	Backbone string
	// Visual overrides the visual network's shape (tests use tiny ones); nil
	// means ResNet-101 C4 with the config's IMAGE_STRIDE_IN_1x1 / C5_DILATED.
	Visual  *visual.Config
	Workers int    // model replicas (0 means 1)
	Limits  Limits // zero fields take the defaults
	// Int8 runs the encoder's Linear layers in int8 (model.QuantizeInt8) for
	// answers; attention maps (visualize) stay float32.
	Int8 bool
}

// Limits bound what one request may ask for.
type Limits struct {
	MaxTokens  int // wordpieces of the question / expression / caption (default 64)
	MaxRegions int // boxes besides the whole-image box (default 100)
}

func (l Limits) withDefaults() Limits {
	if l.MaxTokens <= 0 {
		l.MaxTokens = 64
	}
	if l.MaxRegions <= 0 {
		l.MaxRegions = 100
	}
	return l
}

// Load reads the checkpoint, its config and answer list, and builds the pipeline.
func Load(o Options) (*Pipeline, error) {
	if o.Checkpoint == "" {
		return nil, errors.New("infer: no checkpoint given")
	}
	var (
		cfg  *config.Config
		sd   map[string]*weights.Tensor
		meta map[string]string
		err  error
	)
	st, err := isSafetensors(o.Checkpoint)
	if err != nil {
		return nil, err
	}
	if st {
		sd, meta, err = weights.ReadSafetensors(o.Checkpoint)
		if err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
	} else {
		ck, err := weights.ReadTorch(o.Checkpoint)
		if err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
		sd = ck.StateDict
	}
	switch {
	case o.Config != "":
		if cfg, err = config.Load(o.Config, ""); err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
	case meta[MetaConfig] != "":
		if cfg, err = config.Parse([]byte(meta[MetaConfig]), o.Checkpoint+" (metadata "+MetaConfig+")", ""); err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
	case st:
		return nil, fmt.Errorf("infer: %s has no %q metadata; pass the experiment's YAML config (--cfg)", o.Checkpoint, MetaConfig)
	default:
		return nil, fmt.Errorf("infer: %s is an original PyTorch checkpoint, which carries no config; pass its YAML config (--cfg)", o.Checkpoint)
	}
	// e2e configs (IMAGE_FEAT_PRECOMPUTED false) take the same 2048-d RoI
	// features, computed here by the visual path from an image; precomputed
	// features work with them too.
	mc, err := model.FromConfigE2E(cfg)
	if err != nil {
		return nil, fmt.Errorf("infer: %s: %w", o.Checkpoint, err)
	}
	var answers []string
	if mc.Task == model.TaskVQA {
		if answers, err = loadAnswers(o, meta, cfg); err != nil {
			return nil, err
		}
		if len(answers) != mc.AnswerVocabSize {
			return nil, fmt.Errorf("infer: %d answers for a classifier of %d (DATASET.ANSWER_VOCAB_SIZE)", len(answers), mc.AnswerVocabSize)
		}
	}
	m, err := model.New(mc)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	modelSD := make(map[string]*weights.Tensor, len(sd))
	visualSD := map[string]visual.Tensor{}
	for k, t := range sd {
		switch {
		case strings.HasPrefix(k, "optimizer."), strings.HasPrefix(k, "trainer."):
			continue // training state of vlbert-train checkpoints
		case isVisualKey(k):
			if t != nil {
				visualSD[k] = visual.Tensor{Shape: t.Shape, F32: t.F32}
			}
			continue
		}
		modelSD[k] = t
	}
	rep, err := m.Base().LoadTorchStateDict(modelSD, o.Checkpoint, false)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	if cfg.Module == "ResNetVLBERTForAttentionVis" {
		// vis_attention_maps.py loads a pretraining checkpoint into the
		// head-less module with smart_partial_load_model_state_dict, which
		// skips the keys the module lacks (the pretraining heads).
		rep.Unexpected = nil
	}
	if len(rep.Missing) > 0 || len(rep.Unexpected) > 0 {
		return nil, fmt.Errorf("infer: %s does not match MODULE %s: missing %s, unexpected %s",
			o.Checkpoint, cfg.Module, short(rep.Missing), short(rep.Unexpected))
	}
	p, err := newPipeline(cfg, m, answers, o.Workers, o.Limits)
	if err != nil {
		return nil, err
	}
	p.Source = o.Checkpoint
	if o.Int8 {
		if err := p.QuantizeInt8(); err != nil {
			return nil, err
		}
	}
	if o.Backbone != "" {
		if visualSD, err = readVisual(o.Backbone); err != nil {
			return nil, err
		}
	}
	if len(visualSD) > 0 {
		vc := visualConfig(cfg)
		if o.Visual != nil {
			vc = *o.Visual
		}
		if err := p.SetVisual(vc, visualSD); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// isVisualKey reports a key of the e2e visual network (the ResNet backbone and RoI
// head), which the precomputed-feature model does not own.
func isVisualKey(k string) bool {
	k = strings.TrimPrefix(k, "module.")
	return strings.HasPrefix(k, "image_feature_extractor.backbone.") ||
		strings.HasPrefix(k, "image_feature_extractor.roi_head_feature_extractor.") ||
		strings.HasPrefix(k, "image_feature_extractor.head.")
}

func short(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	if len(keys) > 8 {
		return fmt.Sprintf("%q ... (%d in all)", keys[:8], len(keys))
	}
	return fmt.Sprintf("%q", keys)
}

// isSafetensors sniffs the file: a safetensors file starts with an 8-byte
// little-endian header length followed by '{'.
func isSafetensors(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("infer: %w", err)
	}
	defer f.Close()
	var head [9]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false, fmt.Errorf("infer: %s: too short for a checkpoint: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(head[:8])
	return head[8] == '{' && n > 0 && n < 1<<32, nil
}

// loadAnswers finds the VQA answer list: Options.Answers, else the
// checkpoint's metadata. A path stored in a checkpoint (its config's
// DATASET.ANSWER_VOCAB_FILE) is never opened: a checkpoint is data, and one
// crafted to point at another file must not make the loader read it.
func loadAnswers(o Options, meta map[string]string, cfg *config.Config) ([]string, error) {
	if o.Answers != "" {
		v, err := vqa.LoadAnswerVocab(o.Answers, true)
		if err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
		return v.Answers, nil
	}
	if s := meta[MetaAnswers]; s != "" {
		var a []string
		dec := json.NewDecoder(bytes.NewReader([]byte(s)))
		if err := dec.Decode(&a); err != nil {
			return nil, fmt.Errorf("infer: %s: metadata %q is not a JSON array of strings: %w", o.Checkpoint, MetaAnswers, err)
		}
		return a, nil
	}
	return nil, fmt.Errorf("infer: %s has no answer list inside (a checkpoint written before vlbert stored it, or an original .model): pass the answer file with --answers FILE", o.Checkpoint)
}

// visualConfig is the e2e visual network of cfg: ResNet-101 C4, with the
// config's stride and dilation switches when it is an e2e config (a precomputed
// config does not describe a visual network; the shipped e2e settings apply).
func visualConfig(cfg *config.Config) visual.Config {
	vc := visual.ResNet101C4()
	if !cfg.Network.ImageFeatPrecomputed {
		vc.StrideIn1x1 = cfg.Network.ImageStrideIn1x1
		vc.C5Dilated = cfg.Network.ImageC5Dilated
	}
	return vc
}

// readVisual reads the visual weights of a backbone file (torch or safetensors).
func readVisual(path string) (map[string]visual.Tensor, error) {
	st, err := isSafetensors(path)
	if err != nil {
		return nil, err
	}
	var sd map[string]*weights.Tensor
	if st {
		sd, _, err = weights.ReadSafetensors(path)
	} else {
		var ck *weights.TorchCheckpoint
		if ck, err = weights.ReadTorch(path); err == nil {
			sd = ck.StateDict
		}
	}
	if err != nil {
		return nil, fmt.Errorf("infer: backbone: %w", err)
	}
	out := make(map[string]visual.Tensor, len(sd))
	for k, t := range sd {
		if t != nil && t.F32 != nil {
			out[k] = visual.Tensor{Shape: t.Shape, F32: t.F32}
		}
	}
	return out, nil
}

// SaveCheckpoint writes m's parameters as vlbert safetensors with the config
// (YAML) and, for VQA, the answer list in the metadata, so that Load needs
// nothing else.
func SaveCheckpoint(path string, m *model.Model, cfg *config.Config, answers []string) error {
	y, err := cfg.Marshal()
	if err != nil {
		return fmt.Errorf("infer: marshal config: %w", err)
	}
	meta := map[string]string{"format": "vlbert-weights", "version": "1", MetaConfig: string(y)}
	if answers != nil {
		b, err := json.Marshal(answers)
		if err != nil {
			return err
		}
		meta[MetaAnswers] = string(b)
	}
	tensors := make(map[string]*weights.Tensor, len(m.Base().Params.List))
	for _, q := range m.Base().Params.List {
		tensors[q.Name] = weights.NewF32(m.Base().Params.Data[q.Offset:q.Offset+q.Size], q.Shape...)
	}
	return weights.WriteSafetensors(path, tensors, meta)
}
