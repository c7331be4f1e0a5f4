package config

import (
	"errors"
	"fmt"
)

// Validate reports values the original would reject when building the
// model, optimizer or schedule (or that would crash it later), each error
// naming the key. Parse does not call it: test-only configs may leave
// training keys unset.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	t := &c.Train
	if t.GradAccumulateSteps < 1 {
		bad("TRAIN.GRAD_ACCUMULATE_STEPS", "%d, want >= 1", t.GradAccumulateSteps)
	}
	switch t.Optimizer {
	case "SGD", "Adam", "AdamW":
	default:
		bad("TRAIN.OPTIMIZER", "%q, want SGD, Adam or AdamW", t.Optimizer)
	}
	switch t.LRSchedule {
	case "triangle", "plateau":
	case "step":
		if t.Warmup && t.WarmupMethod != "linear" && t.WarmupMethod != "constant" {
			bad("TRAIN.WARMUP_METHOD", "%q, want linear or constant", t.WarmupMethod)
		}
		for i := 1; i < len(t.LRStep); i++ {
			if t.LRStep[i] < t.LRStep[i-1] {
				bad("TRAIN.LR_STEP", "%v is not increasing", []float64(t.LRStep))
				break
			}
		}
	default:
		bad("TRAIN.LR_SCHEDULE", "%q, want step, triangle or plateau", t.LRSchedule)
	}
	for _, b := range []struct {
		key string
		v   IntOrList
	}{{"TRAIN.BATCH_IMAGES", t.BatchImages}, {"VAL.BATCH_IMAGES", c.Val.BatchImages}, {"TEST.BATCH_IMAGES", c.Test.BatchImages}} {
		for _, n := range b.v.Values {
			if n < 1 {
				bad(b.key, "%v, want positive counts", b.v.Values)
				break
			}
		}
		if b.v.List && c.DatasetIsList && len(b.v.Values) != len(c.Datasets) {
			bad(b.key, "%d entries for %d datasets", len(b.v.Values), len(c.Datasets))
		}
	}
	v := &c.Network.VLBERT
	if v.HiddenSize <= 0 || v.NumAttentionHeads <= 0 || v.HiddenSize%v.NumAttentionHeads != 0 {
		bad("NETWORK.VLBERT.hidden_size", "%d is not a positive multiple of num_attention_heads %d", v.HiddenSize, v.NumAttentionHeads)
	}
	for _, f := range []struct {
		key string
		n   int
	}{{"num_hidden_layers", v.NumHiddenLayers}, {"intermediate_size", v.IntermediateSize}, {"vocab_size", v.VocabSize},
		{"max_position_embeddings", v.MaxPositionEmbeddings}, {"type_vocab_size", v.TypeVocabSize}, {"visual_size", v.VisualSize}} {
		if f.n <= 0 {
			bad("NETWORK.VLBERT."+f.key, "%d, want > 0", f.n)
		}
	}
	if c.Network.ImageFeatDim <= 0 {
		bad("NETWORK.IMAGE_FEAT_DIM", "%d, want the region feature width (> 0; 2048 for the original's bottom-up features)", c.Network.ImageFeatDim)
	}
	if v.HiddenAct != "gelu" && v.HiddenAct != "relu" && v.HiddenAct != "swish" {
		bad("NETWORK.VLBERT.hidden_act", "%q, want gelu, relu or swish", v.HiddenAct)
	}
	for _, p := range []struct {
		key string
		v   float64
	}{{"NETWORK.VLBERT.hidden_dropout_prob", v.HiddenDropoutProb}, {"NETWORK.VLBERT.attention_probs_dropout_prob", v.AttentionProbsDropoutProb},
		{"TRAIN.FLIP_PROB", t.FlipProb}} {
		if p.v < 0 || p.v >= 1 {
			bad(p.key, "%v, want a probability in [0, 1)", p.v)
		}
	}
	return errors.Join(errs...)
}
