package weights

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// StripModulePrefix returns a new map (sharing the tensors) in which a
// leading "module." (DataParallel / DistributedDataParallel) is removed from
// every key.
func StripModulePrefix(sd map[string]*Tensor) map[string]*Tensor {
	out := make(map[string]*Tensor, len(sd))
	for k, t := range sd {
		out[strings.TrimPrefix(k, "module.")] = t
	}
	return out
}

const (
	headPrefix    = "image_feature_extractor.head.0."
	roiHeadPrefix = "image_feature_extractor.roi_head_feature_extractor."
)

// CanonicalKey is the name vlbert uses for an original state_dict key:
// "module." is stripped, VCR's TimeDistributed "vlbert._module." becomes
// "vlbert.", and the second registration of the res5 head,
// "image_feature_extractor.head.0.*", becomes
// "image_feature_extractor.roi_head_feature_extractor.*".
func CanonicalKey(k string) string {
	k = strings.TrimPrefix(k, "module.")
	if rest, ok := strings.CutPrefix(k, "vlbert._module."); ok {
		k = "vlbert." + rest
	}
	if rest, ok := strings.CutPrefix(k, headPrefix); ok {
		k = roiHeadPrefix + rest
	}
	return k
}

// Canonicalize renames keys with CanonicalKey and returns the new map and
// key order. Keys that collapse onto one name (head.0.* and
// roi_head_feature_extractor.*) must hold equal tensors; one copy is kept.
func Canonicalize(keys []string, sd map[string]*Tensor) (map[string]*Tensor, []string, error) {
	out := make(map[string]*Tensor, len(sd))
	from := map[string]string{}
	var order []string
	for _, k := range keys {
		t := sd[k]
		if t == nil {
			continue
		}
		c := CanonicalKey(k)
		if prev, dup := out[c]; dup {
			if !prev.Equal(t) {
				return nil, nil, fmt.Errorf("weights: keys %q and %q both mean %q but hold different values", from[c], k, c)
			}
			continue
		}
		out[c], from[c] = t, k
		order = append(order, c)
	}
	return out, order, nil
}

// ApplyPrefixChanges applies NETWORK.PARTIAL_PRETRAIN_PREFIX_CHANGES: each
// rule is "old->new"; for every key the first rule whose old prefix matches
// rewrites it, and keys no rule matches are kept. As in the original, a later
// key that lands on an existing name replaces it (keys are processed in
// sorted order here, since a Go map has none).
func ApplyPrefixChanges(rules []string, sd map[string]*Tensor) (map[string]*Tensor, error) {
	type rule struct{ old, new string }
	parsed := make([]rule, len(rules))
	for i, r := range rules {
		old, nw, ok := strings.Cut(r, "->")
		if !ok {
			return nil, fmt.Errorf("weights: prefix change %q: want \"old->new\"", r)
		}
		parsed[i] = rule{strings.TrimSpace(old), strings.TrimSpace(nw)}
	}
	keys := sortedKeys(sd)
	out := make(map[string]*Tensor, len(sd))
	for _, k := range keys {
		nk := k
		for _, r := range parsed {
			if rest, ok := strings.CutPrefix(k, r.old); ok {
				nk = r.new + rest
				break
			}
		}
		out[nk] = sd[k]
	}
	return out, nil
}

// LoadReport is the outcome of PartialLoad, the counterpart of the
// original's smart_partial_load_model_state_dict.
type LoadReport struct {
	Loaded        map[string]*Tensor // model key -> pretrained tensor (shape checked)
	Matched       []string           // model keys that were loaded, sorted
	NonMatched    []string           // pretrained keys the model does not have
	NonPretrained []string           // model keys not loaded (num_batches_tracked omitted, as in the original)
}

// PartialLoad matches pretrained tensors to the model's parameters (key ->
// shape), adding or stripping "module." where that makes a key match. It is
// non-strict about names but, like load_state_dict, an error if a matched
// tensor has the wrong shape.
func PartialLoad(model map[string][]int, pretrained map[string]*Tensor) (*LoadReport, error) {
	rep := &LoadReport{Loaded: map[string]*Tensor{}}
	var bad []string
	for _, k := range sortedKeys(pretrained) {
		mk := k
		if _, ok := model[mk]; !ok {
			if rest, cut := strings.CutPrefix(k, "module."); cut {
				mk = rest
			} else {
				mk = "module." + k
			}
		}
		shape, ok := model[mk]
		if !ok {
			rep.NonMatched = append(rep.NonMatched, k)
			continue
		}
		t := pretrained[k]
		if !slices.Equal(shape, t.Shape) {
			bad = append(bad, fmt.Sprintf("%s: checkpoint %v, model %v", k, t.Shape, shape))
			continue
		}
		rep.Loaded[mk] = t
		rep.Matched = append(rep.Matched, mk)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("weights: size mismatch for %s", listSome(bad, 10))
	}
	for _, k := range sortedKeys(model) {
		if _, ok := rep.Loaded[k]; !ok && !strings.Contains(k, "num_batches_tracked") {
			rep.NonPretrained = append(rep.NonPretrained, k)
		}
	}
	sort.Strings(rep.Matched)
	return rep, nil
}

// String prints the report the way the original logs it.
func (r *LoadReport) String() string {
	return fmt.Sprintf("[Partial Load] partial load state dict of keys: %v\n[Partial Load] non matched keys: %v\n[Partial Load] non pretrain keys: %v\n",
		r.Matched, r.NonMatched, r.NonPretrained)
}

// KeyMismatchError says how a state dict differs from what a model expects.
type KeyMismatchError struct {
	Source     string   // file the tensors came from
	Missing    []string // expected keys absent from the file
	Unexpected []string // keys in the file the model does not have
	Shapes     []string // "key: file [..], model [..]"
}

func (e *KeyMismatchError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d missing keys: %s", len(e.Missing), listSome(e.Missing, 8)))
	}
	if len(e.Unexpected) > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected keys: %s", len(e.Unexpected), listSome(e.Unexpected, 8)))
	}
	if len(e.Shapes) > 0 {
		parts = append(parts, fmt.Sprintf("%d wrong shapes: %s", len(e.Shapes), listSome(e.Shapes, 8)))
	}
	return fmt.Sprintf("weights: %s does not fit the model: %s", e.Source, strings.Join(parts, "; "))
}

// CheckKeys verifies that got has exactly the expected keys with the
// expected shapes; source (the file name) is quoted in the error, a
// *KeyMismatchError.
func CheckKeys(source string, expected map[string][]int, got map[string]*Tensor) error {
	e := &KeyMismatchError{Source: source}
	for _, k := range sortedKeys(expected) {
		t, ok := got[k]
		switch {
		case !ok:
			e.Missing = append(e.Missing, k)
		case !slices.Equal(t.Shape, expected[k]):
			e.Shapes = append(e.Shapes, fmt.Sprintf("%s: file %v, model %v", k, t.Shape, expected[k]))
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := expected[k]; !ok {
			e.Unexpected = append(e.Unexpected, k)
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.Shapes) == 0 {
		return nil
	}
	return e
}

// ParamNames maps optimizer parameter indices to state_dict keys. The
// original builds its optimizer over model.named_parameters(), which lists
// parameters in state_dict order but without buffers (BatchNorm running
// statistics) and without a second name for a shared parameter (tied MLM
// decoder, head.0.*). That correspondence is only certain with a single
// param group whose indices are 0..N-1 and N such parameters; otherwise
// an error says why.
func (ck *TorchCheckpoint) ParamNames() ([]string, error) {
	if ck.Optimizer == nil {
		return nil, fmt.Errorf("weights: checkpoint has no optimizer state")
	}
	var idx []int
	for _, g := range ck.Optimizer.ParamGroups {
		idx = append(idx, g.Params...)
	}
	if len(ck.Optimizer.ParamGroups) != 1 {
		return nil, fmt.Errorf("weights: %d optimizer param groups: cannot tell which parameter each index is", len(ck.Optimizer.ParamGroups))
	}
	for i, p := range idx {
		if p != i {
			return nil, fmt.Errorf("weights: optimizer param indices are not 0..%d", len(idx)-1)
		}
	}
	var names []string
	for _, k := range ck.Keys {
		if _, alias := ck.Aliases[k]; alias || isBuffer(k) {
			continue
		}
		names = append(names, k)
	}
	if len(names) != len(idx) {
		return nil, fmt.Errorf("weights: optimizer has %d parameters, the state_dict %d", len(idx), len(names))
	}
	for i, st := range ck.Optimizer.State {
		if i < 0 || i >= len(names) {
			return nil, fmt.Errorf("weights: optimizer state for parameter %d, which no group lists", i)
		}
		want := ck.StateDict[names[i]].Shape
		if st.ExpAvg != nil && !slices.Equal(st.ExpAvg.Shape, want) {
			return nil, fmt.Errorf("weights: optimizer state %d has shape %v, parameter %s %v", i, st.ExpAvg.Shape, names[i], want)
		}
	}
	return names, nil
}

// isBuffer reports whether a state_dict key is a BatchNorm buffer rather
// than a parameter.
func isBuffer(k string) bool {
	return strings.HasSuffix(k, ".running_mean") || strings.HasSuffix(k, ".running_var") || strings.HasSuffix(k, ".num_batches_tracked")
}

// DetectModelKind guesses which original model a state dict belongs to from
// characteristic keys: "pretrain", "vqa", "vcr", "refcoco", "resnet" (a
// backbone), "bert" (a BERT pytorch_model.bin) or "unknown".
func DetectModelKind(sd map[string]*Tensor) string {
	has := func(prefix string) bool {
		for k := range sd {
			if strings.HasPrefix(CanonicalKey(k), prefix) {
				return true
			}
		}
		return false
	}
	rawHas := func(prefix string) bool {
		for k := range sd {
			if strings.HasPrefix(strings.TrimPrefix(k, "module."), prefix) {
				return true
			}
		}
		return false
	}
	switch {
	case rawHas("vlbert._module.") || has("cnn_loss_reg."):
		return "vcr"
	case has("vlbert.mlm_head.") || has("vlbert.mvrc_head."):
		return "pretrain"
	case has("final_mlp."):
		// The last final_mlp Linear has one output for RefCOCO (a score per
		// box) and one per answer for VQA.
		last, out := -1, 0
		for k, t := range sd {
			var i int
			if _, err := fmt.Sscanf(CanonicalKey(k), "final_mlp.%d.weight", &i); err == nil && len(t.Shape) == 2 && i > last {
				last, out = i, t.Shape[0]
			}
		}
		if out == 1 {
			return "refcoco"
		}
		return "vqa"
	case has("bert.") || has("roberta."):
		return "bert"
	case has("conv1.weight") && has("layer1."):
		return "resnet"
	}
	return "unknown"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", ... (%d more)", len(items)-n)
}
