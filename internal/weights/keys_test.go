package weights

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func f(vals ...float32) *Tensor { return NewF32(vals, len(vals)) }

func TestCanonicalKey(t *testing.T) {
	for in, want := range map[string]string{
		"module.vlbert.encoder.layer.0.output.dense.weight":          "vlbert.encoder.layer.0.output.dense.weight",
		"module.vlbert._module.word_embeddings.weight":               "vlbert.word_embeddings.weight",
		"vlbert._module.encoder.layer.3.attention.self.query.bias":   "vlbert.encoder.layer.3.attention.self.query.bias",
		"module.image_feature_extractor.head.0.1.conv2.weight":       "image_feature_extractor.roi_head_feature_extractor.1.conv2.weight",
		"image_feature_extractor.roi_head_feature_extractor.0.bn1.x": "image_feature_extractor.roi_head_feature_extractor.0.bn1.x",
		"final_mlp.2.bias": "final_mlp.2.bias",
	} {
		if got := CanonicalKey(in); got != want {
			t.Errorf("CanonicalKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCanonicalizeDuplicates(t *testing.T) {
	keys := []string{"module.image_feature_extractor.roi_head_feature_extractor.0.conv1.weight", "module.image_feature_extractor.head.0.0.conv1.weight", "module.a"}
	sd := map[string]*Tensor{keys[0]: f(1, 2), keys[1]: f(1, 2), keys[2]: f(3)}
	out, order, err := Canonicalize(keys, sd)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{"image_feature_extractor.roi_head_feature_extractor.0.conv1.weight", "a"}) || len(out) != 2 {
		t.Errorf("order %v", order)
	}
	// Only the head.0 copy present: accepted under the canonical name.
	out, _, err = Canonicalize(keys[1:2], sd)
	if err != nil || out["image_feature_extractor.roi_head_feature_extractor.0.conv1.weight"] == nil {
		t.Errorf("head.0 only: %v %v", out, err)
	}
	sd[keys[1]] = f(1, 3)
	if _, _, err := Canonicalize(keys, sd); err == nil || !strings.Contains(err.Error(), "different values") {
		t.Errorf("differing duplicates: %v", err)
	}
}

func TestStripModulePrefix(t *testing.T) {
	out := StripModulePrefix(map[string]*Tensor{"module.a": f(1), "b": f(2), "module.module.c": f(3)})
	if out["a"] == nil || out["b"] == nil || out["module.c"] == nil || len(out) != 3 {
		t.Errorf("got %v", out)
	}
}

// The VQA config's PARTIAL_PRETRAIN_PREFIX_CHANGES: the first matching rule wins.
func TestApplyPrefixChanges(t *testing.T) {
	sd := map[string]*Tensor{
		"module.vlbert.mlm_head.predictions.transform.dense.weight": f(1),
		"module.vlbert.encoder.layer.0.x":                           f(2),
		"module.other":                                              f(3),
	}
	out, err := ApplyPrefixChanges([]string{
		"vlbert.mlm_head.predictions.transform->final_mlp.0",
		"module.vlbert.mlm_head.predictions.transform->module.final_mlp.0",
		"module.vlbert.mlm_head->module.never",
		"module.vlbert->module.vlbert",
	}, sd)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"module.final_mlp.0.dense.weight", "module.other", "module.vlbert.encoder.layer.0.x"}
	if got := sortedKeys(out); !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	if _, err := ApplyPrefixChanges([]string{"no arrow"}, sd); err == nil {
		t.Error("malformed rule accepted")
	}
}

func TestPartialLoad(t *testing.T) {
	model := map[string][]int{
		"module.a":                      {2},
		"module.b":                      {1},
		"module.bn.num_batches_tracked": {},
		"module.not_in_ckpt":            {3},
	}
	rep, err := PartialLoad(model, map[string]*Tensor{"a": f(1, 2), "module.b": f(3), "extra": f(4)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Matched, []string{"module.a", "module.b"}) || !slices.Equal(rep.NonMatched, []string{"extra"}) ||
		!slices.Equal(rep.NonPretrained, []string{"module.not_in_ckpt"}) || rep.Loaded["module.a"].F32[1] != 2 {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(rep.String(), "[Partial Load] non matched keys: [extra]") {
		t.Errorf("report text %q", rep.String())
	}
	if _, err := PartialLoad(model, map[string]*Tensor{"a": f(1, 2, 3)}); err == nil || !strings.Contains(err.Error(), "a: checkpoint [3], model [2]") {
		t.Errorf("shape mismatch: %v", err)
	}
}

func TestCheckKeys(t *testing.T) {
	expected := map[string][]int{"w": {2, 2}, "b": {2}, "gone": {1}}
	got := map[string]*Tensor{"w": NewF32(make([]float32, 4), 2, 2), "b": f(1, 2, 3), "surplus": f(1)}
	err := CheckKeys("ckpt.model", expected, got)
	var km *KeyMismatchError
	if !errors.As(err, &km) {
		t.Fatalf("err = %v", err)
	}
	if !slices.Equal(km.Missing, []string{"gone"}) || !slices.Equal(km.Unexpected, []string{"surplus"}) || len(km.Shapes) != 1 {
		t.Errorf("%+v", km)
	}
	for _, s := range []string{"ckpt.model", "gone", "surplus", "b: file [3], model [2]"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	delete(expected, "gone")
	expected["b"] = []int{3}
	delete(got, "surplus")
	if err := CheckKeys("ckpt.model", expected, got); err != nil {
		t.Errorf("matching keys: %v", err)
	}
}

func TestImportBERT(t *testing.T) {
	sd := map[string]*Tensor{
		"bert.embeddings.word_embeddings.weight":                NewF32(make([]float32, 6), 3, 2),
		"bert.embeddings.position_embeddings.weight":            NewF32(make([]float32, 4), 2, 2),
		"bert.embeddings.token_type_embeddings.weight":          NewF32([]float32{1, 2, 3, 4}, 2, 2),
		"bert.embeddings.LayerNorm.gamma":                       f(1, 1),
		"bert.embeddings.LayerNorm.beta":                        f(0, 0),
		"bert.encoder.layer.0.attention.output.LayerNorm.gamma": f(1, 1),
		"bert.encoder.layer.0.attention.self.query.weight":      NewF32(make([]float32, 4), 2, 2),
		"bert.pooler.dense.bias":                                f(0, 0),
		"cls.predictions.transform.LayerNorm.beta":              f(0, 0),
		"cls.predictions.bias":                                  f(0, 0, 0),
		"cls.seq_relationship.weight":                           NewF32(make([]float32, 4), 2, 2),
		"other.thing":                                           f(1),
	}
	imp, err := ImportBERT(sd)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"vlbert.embedding_LayerNorm.bias", "vlbert.embedding_LayerNorm.weight",
		"vlbert.encoder.layer.0.attention.output.LayerNorm.weight", "vlbert.encoder.layer.0.attention.self.query.weight",
		"vlbert.mlm_head.predictions.bias", "vlbert.mlm_head.predictions.transform.LayerNorm.bias",
		"vlbert.pooler.dense.bias", "vlbert.position_embeddings.weight",
		"vlbert.relationsip_head.caption_image_relationship.weight", "vlbert.word_embeddings.weight",
	}
	if got := sortedKeys(imp.Tensors); !slices.Equal(got, want) {
		t.Errorf("keys\n%v\nwant\n%v", got, want)
	}
	if !slices.Equal(imp.Unexpected, []string{"other.thing"}) {
		t.Errorf("unexpected %v", imp.Unexpected)
	}
	table := NewF32([]float32{9, 9, 9, 9, 7, 8}, 3, 2)
	rows, err := imp.FillTokenType(table)
	if err != nil || !slices.Equal(rows, []int{0, 1}) || !slices.Equal(table.F32, []float32{1, 2, 3, 4, 7, 8}) {
		t.Errorf("token type rows %v table %v err %v", rows, table.F32, err)
	}
	// RoBERTa's single row goes to all three rows.
	imp.TokenType = NewF32([]float32{5, 6}, 1, 2)
	rows, _ = imp.FillTokenType(table)
	if !slices.Equal(rows, []int{0, 1, 2}) || !slices.Equal(table.F32, []float32{5, 6, 5, 6, 5, 6}) {
		t.Errorf("roberta rows %v table %v", rows, table.F32)
	}
	if _, err := imp.FillTokenType(NewF32(make([]float32, 3), 1, 3)); err == nil {
		t.Error("mismatched table accepted")
	}
}

func TestDetectModelKind(t *testing.T) {
	for want, keys := range map[string][]string{
		"vcr":     {"module.vlbert._module.word_embeddings.weight", "module.final_mlp.1.weight"},
		"resnet":  {"conv1.weight", "layer1.0.conv1.weight"},
		"bert":    {"bert.embeddings.word_embeddings.weight"},
		"unknown": {"x"},
	} {
		sd := map[string]*Tensor{}
		for _, k := range keys {
			sd[k] = f(1)
		}
		if got := DetectModelKind(sd); got != want {
			t.Errorf("%v: %s, want %s", keys, got, want)
		}
	}
	ref := map[string]*Tensor{"final_mlp.0.dense.weight": NewF32(make([]float32, 4), 2, 2), "final_mlp.2.weight": NewF32(make([]float32, 2), 1, 2)}
	if got := DetectModelKind(ref); got != "refcoco" {
		t.Errorf("refcoco detected as %s", got)
	}
}
