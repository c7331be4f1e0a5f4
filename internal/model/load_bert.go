package model

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vlbert/vlbert/internal/weights"
)

// LoadBERT copies an imported BERT checkpoint (weights.ImportBERT) into the model as
// load_language_pretrained_model does: word and position tables, embedding LayerNorm,
// encoder, the pooler when the model has one, token-type rows 0 and 1 (row 2 keeps its
// value), and for the pretraining modules the MLM head and relationship head. For the
// VQA module (CLASSIFIER_TYPE mlm) final_mlp.0 is also taken from
// cls.predictions.transform, as ResNetVLBERT.init_weight does. Shapes must match
// (the original replaces the word and position tables wholesale; here a different
// vocabulary or position count is an error). Keys the model has no use for are listed
// in the report's Unexpected; Missing lists the parameters BERT does not provide.
func (m *Encoder) LoadBERT(imp *weights.BERTImport, source string) (LoadReport, error) {
	var rep LoadReport
	cp := m.Cfg.corePrefix()
	head := m.Cfg.spec().bertHead
	loaded := map[string]bool{}
	put := func(name string, t *weights.Tensor, src string) error {
		q, ok := m.Params.Lookup(name)
		if !ok {
			rep.Unexpected = append(rep.Unexpected, src)
			return nil
		}
		if !slices.Equal(t.Shape, q.Shape) || len(t.F32) != q.Size {
			return fmt.Errorf("model: %s: BERT tensor %q has shape %v, the model's %q is %v", source, src, t.Shape, name, q.Shape)
		}
		copy(m.Params.Data[q.Offset:q.Offset+q.Size], t.F32)
		if !loaded[q.Name] {
			loaded[q.Name] = true
			rep.Loaded = append(rep.Loaded, q.Name)
		}
		return nil
	}
	keys := make([]string, 0, len(imp.Tensors))
	for k := range imp.Tensors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t := imp.Tensors[k]
		var err error
		switch {
		case strings.HasPrefix(k, "vlbert.mlm_head.") || strings.HasPrefix(k, "vlbert.relationsip_head."):
			if name := head(&m.Cfg, k); name != "" {
				err = put(name, t, k)
			} else {
				rep.Unexpected = append(rep.Unexpected, k)
			}
		case strings.HasPrefix(k, "vlbert."):
			err = put(cp+strings.TrimPrefix(k, "vlbert."), t, k)
		default:
			rep.Unexpected = append(rep.Unexpected, k)
		}
		if err != nil {
			return rep, err
		}
	}
	if imp.TokenType != nil {
		name := cp + "token_type_embeddings.weight"
		q, _ := m.Params.Lookup(name)
		table := weights.NewF32(m.Params.View(name), q.Shape...) // writes into the arena
		if _, err := imp.FillTokenType(table); err != nil {
			return rep, fmt.Errorf("model: %s: %w", source, err)
		}
		loaded[q.Name] = true
		rep.Loaded = append(rep.Loaded, q.Name)
	}
	if m.copySpecialWords() {
		loaded[cp+"special_word_embeddings.weight"] = true
	}
	for _, q := range m.Params.List {
		if !loaded[q.Name] {
			rep.Missing = append(rep.Missing, q.Name)
		}
	}
	return rep, nil
}
