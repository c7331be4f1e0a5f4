package model

import (
	"fmt"
	"slices"
	"strings"
)

// StateTensor is what loading needs from one checkpoint tensor: its shape and float
// values (fp16 already widened).
type StateTensor struct {
	Shape []int
	F32   []float32
}

// LoadReport lists the keys that did not match the parameter table.
type LoadReport struct {
	Loaded     []string // table keys that were filled
	Missing    []string // table keys absent from the state dict
	Unexpected []string // state dict keys the table does not know
}

// LoadStateDict copies a state dict into the parameter arena. Keys may carry the
// "module." prefix of DataParallel/DDP checkpoints. Every tensor that matches a table
// key must have the table's shape; a tied key (e.g. the MLM decoder) is shape-checked
// and otherwise ignored because it shares its target's storage. With strict, any
// missing or unexpected key is an error; otherwise they are only reported, as the
// original's partial (PARTIAL_PRETRAIN) load does. source names the file in errors.
func (p *Params) LoadStateDict(sd map[string]StateTensor, source string, strict bool) (LoadReport, error) {
	var rep LoadReport
	seen := make(map[string]bool, len(p.List))
	keys := make([]string, 0, len(sd))
	for k := range sd {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, raw := range keys {
		t := sd[raw]
		name := strings.TrimPrefix(raw, "module.")
		isAlias := false
		for _, a := range p.Aliases {
			if a.Name == name {
				isAlias = true
			}
		}
		q, ok := p.Lookup(name)
		if !ok {
			rep.Unexpected = append(rep.Unexpected, raw)
			continue
		}
		if !slices.Equal(t.Shape, q.Shape) {
			return rep, fmt.Errorf("model: %s: key %q has shape %v, the model wants %v%s", source, raw, t.Shape, q.Shape, p.featDimHint(q.Name, t.Shape, q.Shape))
		}
		if len(t.F32) != q.Size {
			return rep, fmt.Errorf("model: %s: key %q is not a float tensor of %d values (got %d)", source, raw, q.Size, len(t.F32))
		}
		if isAlias {
			continue
		}
		if seen[q.Name] {
			return rep, fmt.Errorf("model: %s: key %q appears twice (with and without module. prefix)", source, raw)
		}
		seen[q.Name] = true
		copy(p.Data[q.Offset:q.Offset+q.Size], t.F32)
		rep.Loaded = append(rep.Loaded, q.Name)
	}
	for i := range p.List {
		if !seen[p.List[i].Name] {
			rep.Missing = append(rep.Missing, p.List[i].Name)
		}
	}
	if strict && (len(rep.Missing) > 0 || len(rep.Unexpected) > 0) {
		var msg []string
		if len(rep.Missing) > 0 {
			msg = append(msg, fmt.Sprintf("missing keys %s", quoteList(rep.Missing)))
		}
		if len(rep.Unexpected) > 0 {
			msg = append(msg, fmt.Sprintf("unexpected keys %s", quoteList(rep.Unexpected)))
		}
		return rep, fmt.Errorf("model: %s does not match the model: %s", source, strings.Join(msg, "; "))
	}
	return rep, nil
}

// featDimHint explains a shape mismatch of a parameter whose shape follows the
// region feature width: the width the checkpoint implies, and the config key
// (NETWORK.IMAGE_FEAT_DIM) that sets it. Empty for other mismatches.
func (p *Params) featDimHint(name string, got, want []int) string {
	if len(got) != 2 || len(want) != 2 || got[0] != want[0] {
		return ""
	}
	var ckpt int
	switch name {
	case "image_feature_extractor.obj_downsample.1.weight":
		// Input = geometry + feature (+ semantic): only the feature part varies.
		ckpt = p.featDim + got[1] - want[1]
	case "object_mask_visual_embedding.weight", "image_feature_extractor.regularizing_predictor.weight":
		ckpt = got[1]
	default:
		return ""
	}
	if ckpt <= 0 {
		return fmt.Sprintf(" (the config's NETWORK.IMAGE_FEAT_DIM is %d)", p.featDim)
	}
	return fmt.Sprintf(": the checkpoint takes %d-d region features, the config's NETWORK.IMAGE_FEAT_DIM is %d (set NETWORK.IMAGE_FEAT_DIM=%d to load it)", ckpt, p.featDim, ckpt)
}

func quoteList(keys []string) string {
	const max = 12
	var b strings.Builder
	for i, k := range keys {
		if i == max {
			fmt.Fprintf(&b, " ... (%d more)", len(keys)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", k)
	}
	return b.String()
}
