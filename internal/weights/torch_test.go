package weights

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/npy"
)

const golden = "../../testdata/golden/"

func readGolden(t *testing.T, name string) *TorchCheckpoint {
	t.Helper()
	ck, err := ReadTorch(golden + name)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// The legacy stream and the zip file hold the same object.
func TestLegacyAndZipIdentical(t *testing.T) {
	leg := readGolden(t, "vqa_ckpt_legacy.model")
	zp := readGolden(t, "vqa_ckpt_zip.model")
	if !slices.Equal(leg.Keys, zp.Keys) || len(leg.Keys) != 51 {
		t.Fatalf("keys differ or wrong count: %d vs %d", len(leg.Keys), len(zp.Keys))
	}
	for _, k := range leg.Keys {
		if !strings.HasPrefix(k, "module.") {
			t.Errorf("key %q lacks the DataParallel prefix", k)
		}
		if !leg.StateDict[k].Equal(zp.StateDict[k]) {
			t.Errorf("%s differs between legacy and zip", k)
		}
	}
	if len(leg.Optimizer.State) != 51 || len(zp.Optimizer.State) != 51 {
		t.Fatalf("optimizer states: %d, %d", len(leg.Optimizer.State), len(zp.Optimizer.State))
	}
	for i, a := range leg.Optimizer.State {
		b := zp.Optimizer.State[i]
		if a.Step != b.Step || !a.ExpAvg.Equal(b.ExpAvg) || !a.ExpAvgSq.Equal(b.ExpAvgSq) {
			t.Errorf("optimizer state %d differs", i)
		}
	}
	if !slices.EqualFunc(leg.Optimizer.ParamGroups, zp.Optimizer.ParamGroups, func(a, b ParamGroup) bool {
		return a.LR == b.LR && a.Betas == b.Betas && slices.Equal(a.Params, b.Params)
	}) {
		t.Error("param groups differ")
	}
}

// Shapes follow vqa_small.yaml: hidden 64, vocab 3072, 64 positions, 2 layers.
func TestGoldenShapes(t *testing.T) {
	vqa := readGolden(t, "vqa_ckpt_zip.model")
	pt := readGolden(t, "pretrain_ckpt_zip.model")
	for _, c := range []struct {
		ck    *TorchCheckpoint
		key   string
		shape []int
	}{
		{vqa, "module.image_feature_extractor.obj_downsample.1.weight", []int{64, 4096}},
		{vqa, "module.vlbert.word_embeddings.weight", []int{3072, 64}},
		{vqa, "module.vlbert.position_embeddings.weight", []int{64, 64}},
		{vqa, "module.vlbert.token_type_embeddings.weight", []int{3, 64}},
		{vqa, "module.vlbert.encoder.layer.1.intermediate.dense.weight", []int{128, 64}},
		{vqa, "module.final_mlp.2.weight", []int{64, 64}},
		{vqa, "module.vlbert.end_embedding.weight", []int{1, 64}},
		{pt, "module.vlbert.mvrc_head.region_cls_pred.weight", []int{1601, 64}},
		{pt, "module.vlbert.mlm_head.predictions.bias", []int{3072}},
		{pt, "module.object_mask_visual_embedding.weight", []int{1, 2048}},
	} {
		got, ok := c.ck.StateDict[c.key]
		if !ok {
			t.Errorf("%s missing", c.key)
			continue
		}
		if !slices.Equal(got.Shape, c.shape) || got.DType != "F32" || len(got.F32) != got.Numel() {
			t.Errorf("%s: shape %v dtype %s len %d, want %v F32", c.key, got.Shape, got.DType, len(got.F32), c.shape)
		}
	}
	if vqa.ValidationMonitor["best_epoch"] != 0 || vqa.ValidationMonitor["best_val"] != 0.125 {
		t.Errorf("validation monitor %v", vqa.ValidationMonitor)
	}
	if pt.ValidationMonitor != nil || pt.Optimizer == nil || len(pt.Optimizer.State) != 0 {
		t.Errorf("pretrain: monitor %v optimizer %+v", pt.ValidationMonitor, pt.Optimizer)
	}
	if DetectModelKind(vqa.StateDict) != "vqa" || DetectModelKind(pt.StateDict) != "pretrain" {
		t.Errorf("kinds: %s %s", DetectModelKind(vqa.StateDict), DetectModelKind(pt.StateDict))
	}
}

func loadNpy(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(golden + name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The checkpoint was written right after vqa_step1, so its weights are the
// golden "param_after" values and its AdamW moments are the first-step
// moments of the golden clipped gradients: m = (1-β1)·g, v = (1-β2)·g².
func TestGoldenValuesAndMoments(t *testing.T) {
	ck := readGolden(t, "vqa_ckpt_legacy.model")
	names, err := ck.ParamNames()
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for i, n := range names {
		index[n] = i
	}
	g := ck.Optimizer.ParamGroups
	if len(g) != 1 || g[0].LR != 0.000125 || g[0].Betas != [2]float64{0.9, 0.999} || g[0].Eps != 1e-6 ||
		g[0].WeightDecay != 1e-4 || !g[0].CorrectBias || g[0].InitialLR != 0.0005 || len(g[0].Params) != 51 {
		t.Errorf("param group %+v", g)
	}
	for _, n := range []string{"final_mlp_2_weight", "vlbert_token_type_embeddings_weight", "object_linguistic_embeddings_weight", "vlbert_encoder_layer_0_attention_self_query_weight"} {
		key := "module." + map[string]string{
			"final_mlp_2_weight":                                 "final_mlp.2.weight",
			"vlbert_token_type_embeddings_weight":                "vlbert.token_type_embeddings.weight",
			"object_linguistic_embeddings_weight":                "object_linguistic_embeddings.weight",
			"vlbert_encoder_layer_0_attention_self_query_weight": "vlbert.encoder.layer.0.attention.self.query.weight",
		}[n]
		want := loadNpy(t, "vqa_step1_param_after__"+n+".npy")
		got := ck.StateDict[key]
		if !slices.Equal(got.Shape, want.Shape) || !slices.Equal(got.F32, want.F32) {
			t.Errorf("%s: not bit-identical to the golden param_after", key)
		}
		grad := loadNpy(t, "vqa_step1_grad_postclip__"+n+".npy")
		st := ck.Optimizer.State[index[key]]
		if st == nil || st.Step != 1 {
			t.Fatalf("%s: optimizer state %+v", key, st)
		}
		for i, gv := range grad.F32 {
			m := float64(0.1) * float64(gv)
			v := float64(0.001) * float64(gv) * float64(gv)
			if math.Abs(float64(st.ExpAvg.F32[i])-m) > 1e-6*math.Abs(m)+1e-30 ||
				math.Abs(float64(st.ExpAvgSq.F32[i])-v) > 1e-5*v+1e-30 {
				t.Fatalf("%s[%d]: moments (%g, %g), want (%g, %g)", key, i, st.ExpAvg.F32[i], st.ExpAvgSq.F32[i], m, v)
			}
		}
	}
}

// word_embeddings and the MLM decoder share one storage in the pretrain
// checkpoint: both load, with equal values, as separate copies.
func TestTiedStorage(t *testing.T) {
	ck := readGolden(t, "pretrain_ckpt_zip.model")
	we := ck.StateDict["module.vlbert.word_embeddings.weight"]
	dec := ck.StateDict["module.vlbert.mlm_head.predictions.decoder.weight"]
	if we == nil || dec == nil || !we.Equal(dec) {
		t.Fatal("tied tensors missing or different")
	}
	if &we.F32[0] == &dec.F32[0] {
		t.Error("tied tensors share memory; want independent copies")
	}
	if got := ck.Aliases["module.vlbert.mlm_head.predictions.decoder.weight"]; got != "module.vlbert.word_embeddings.weight" || len(ck.Aliases) != 1 {
		t.Errorf("aliases %v", ck.Aliases)
	}
	names, err := ck.ParamNames()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 60 || slices.Contains(names, "module.vlbert.mlm_head.predictions.decoder.weight") {
		t.Errorf("%d param names, decoder included: %v", len(names), slices.Contains(names, "module.vlbert.mlm_head.predictions.decoder.weight"))
	}
}

func f16bits(t testing.TB, vals ...uint16) *pyStorage {
	b := make([]byte, 2*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return &pyStorage{key: "h", class: "HalfStorage", numel: len(vals), data: b}
}

// synthetic builds a checkpoint exercising offsets, strides, shared storages
// and every dtype, and returns it with the expected tensors.
func synthetic(t testing.TB) (any, map[string]*Tensor) {
	base := f32Storage("0", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
	half := f16bits(t, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555) // 1, -2, 65504, 2^-24, +inf, 0.33325195
	bf := &pyStorage{key: "bf", class: "BFloat16Storage", numel: 2, data: []byte{0x80, 0x3f, 0x40, 0xc0}}
	long := i64Storage("1", 7, -3, 1<<40)
	boolean := &pyStorage{key: "2", class: "BoolStorage", numel: 3, data: []byte{1, 0, 1}}
	u8 := &pyStorage{key: "3", class: "ByteStorage", numel: 2, data: []byte{0, 255}}
	sd := pyODict{
		{"full", contiguous(base, 3, 4)},
		{"transposed", &pyTensor{st: base, size: []int{4, 3}, stride: []int{1, 4}}},
		{"offset_row", &pyTensor{st: base, offset: 8, size: []int{4}, stride: []int{1}}},
		{"every_other", &pyTensor{st: base, offset: 1, size: []int{2, 2}, stride: []int{4, 2}}},
		{"expanded", &pyTensor{st: base, offset: 5, size: []int{2, 3}, stride: []int{0, 1}}},
		{"scalar", &pyTensor{st: base, offset: 11, size: []int{}, stride: []int{}}},
		{"empty", &pyTensor{st: base, size: []int{0, 4}, stride: []int{4, 1}}},
		{"half", contiguous(half, 6)},
		{"bf16", contiguous(bf, 2)},
		{"num_batches_tracked", &pyTensor{st: long, offset: 2, size: []int{}, stride: []int{}}},
		{"long", contiguous(long, 3)},
		{"mask", contiguous(boolean, 3)},
		{"bytes", contiguous(u8, 2)},
		{"tied", contiguous(base, 3, 4)},
		{"param", pyParam{contiguous(&pyStorage{key: "d", class: "DoubleStorage", numel: 2, data: f64bytes(0.5, -1e300)}, 2)}},
		{"int32", contiguous(&pyStorage{key: "i", class: "IntStorage", numel: 2, data: []byte{0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0}}, 2)},
	}
	want := map[string]*Tensor{
		"full":                NewF32([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 3, 4),
		"transposed":          NewF32([]float32{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, 4, 3),
		"offset_row":          NewF32([]float32{8, 9, 10, 11}, 4),
		"every_other":         NewF32([]float32{1, 3, 5, 7}, 2, 2),
		"expanded":            NewF32([]float32{5, 6, 7, 5, 6, 7}, 2, 3),
		"scalar":              NewF32([]float32{11}),
		"empty":               NewF32([]float32{}, 0, 4),
		"half":                {Shape: []int{6}, DType: "F16", F32: []float32{1, -2, 65504, float32(math.Ldexp(1, -24)), float32(math.Inf(1)), 0.33325195}},
		"bf16":                {Shape: []int{2}, DType: "BF16", F32: []float32{1, -3}},
		"num_batches_tracked": NewI64([]int64{1 << 40}),
		"long":                NewI64([]int64{7, -3, 1 << 40}, 3),
		"mask":                {Shape: []int{3}, DType: "BOOL", I64: []int64{1, 0, 1}},
		"bytes":               {Shape: []int{2}, DType: "U8", I64: []int64{0, 255}},
		"tied":                NewF32([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 3, 4),
		"param":               {Shape: []int{2}, DType: "F64", F32: []float32{0.5, float32(math.Inf(-1))}},
		"int32":               {Shape: []int{2}, DType: "I32", I64: []int64{-1, 2}},
	}
	obj := pyDict{
		{"state_dict", sd},
		{"optimizer", pyDict{
			{"state", map[int]any{
				0: pyDict{{"step", 7}, {"exp_avg", contiguous(f32Storage("m", 1, 2), 2)}, {"exp_avg_sq", contiguous(f32Storage("v", 3, 4), 2)}},
				// torch >= 1.12 optimizers keep step as a 0-d tensor; SGD has momentum_buffer.
				1: pyDict{{"step", contiguous(f32Storage("s", 9))}, {"momentum_buffer", contiguous(f32Storage("mb", 5), 1)}},
			}},
			{"param_groups", pyList{pyDict{{"lr", 0.5}, {"betas", pyTuple{0.9, 0.999}}, {"eps", 1e-6}, {"weight_decay", 0.0001}, {"correct_bias", true}, {"initial_lr", 2}, {"params", pyList{0}}}}},
		}},
		{"validation_monitor", pyDict{{"best_epoch", 3}, {"best_val", 0.5}, {"host_metric_name", "Acc"}}},
		{"extra", pyList{pyTuple{nil, "x", pyBig{big1e30()}}}},
		{"config", pyObj{"argparse", "Namespace", pyTuple{}, pyDict{{"lr", 0.1}}}},
		{"np_scalar", pyObj{"numpy.core.multiarray", "scalar", pyTuple{"f8", 1}, nil}},
	}
	return obj, want
}

func f64bytes(vals ...float64) []byte {
	b := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

func big1e30() *big.Int {
	v, _ := new(big.Int).SetString("1000000000000000000000000000000", 10)
	return v
}

func checkSynthetic(t *testing.T, ck *TorchCheckpoint, want map[string]*Tensor) {
	t.Helper()
	if len(ck.Keys) != len(want) {
		t.Errorf("%d keys, want %d", len(ck.Keys), len(want))
	}
	for k, w := range want {
		got := ck.StateDict[k]
		if got == nil || !got.Equal(w) || got.DType != w.DType {
			t.Errorf("%s = %+v, want %+v", k, got, w)
		}
	}
	if ck.Aliases["tied"] != "full" || len(ck.Aliases) != 1 {
		t.Errorf("aliases %v", ck.Aliases)
	}
	st := ck.Optimizer.State[0]
	if st.Step != 7 || !slices.Equal(st.ExpAvg.F32, []float32{1, 2}) || !slices.Equal(st.ExpAvgSq.F32, []float32{3, 4}) {
		t.Errorf("optimizer state %+v", st)
	}
	if st := ck.Optimizer.State[1]; st.Step != 9 || st.Extra["momentum_buffer"].F32[0] != 5 {
		t.Errorf("optimizer state 1 %+v", st)
	}
	if pg := ck.Optimizer.ParamGroups[0]; pg.LR != 0.5 || pg.InitialLR != 2 || !pg.CorrectBias || pg.Betas[1] != 0.999 {
		t.Errorf("param group %+v", pg)
	}
	if ck.ValidationMonitor["best_epoch"] != 3 || ck.ValidationMonitor["best_val"] != 0.5 || len(ck.ValidationMonitor) != 2 {
		t.Errorf("validation monitor %v", ck.ValidationMonitor)
	}
}

func TestSyntheticLegacyAndZip(t *testing.T) {
	obj, want := synthetic(t)
	leg := legacyFile(obj)
	ck, err := ReadTorchFrom(bytes.NewReader(leg), int64(len(leg)), "legacy")
	if err != nil {
		t.Fatal(err)
	}
	checkSynthetic(t, ck, want)
	if ck.Format != "legacy" {
		t.Errorf("format %q", ck.Format)
	}
	zp := zipFile(t, obj, "some-other-name")
	ck, err = ReadTorchFrom(bytes.NewReader(zp), int64(len(zp)), "zip")
	if err != nil {
		t.Fatal(err)
	}
	if ck.Format != "zip" {
		t.Errorf("format %q", ck.Format)
	}
	checkSynthetic(t, ck, want)
}

// Files from PyTorch < 0.4 describe storage views in the persistent id.
func TestLegacyViewMetadata(t *testing.T) {
	base := f32Storage("0", 0, 1, 2, 3, 4, 5, 6, 7)
	obj := pyDict{{"state_dict", pyODict{
		{"view", &pyTensor{st: base, view: pyTuple{"v1", 4, 4}, offset: 1, size: []int{3}, stride: []int{1}}},
		{"outside", &pyTensor{st: base, view: pyTuple{"v2", 6, 2}, offset: 0, size: []int{2}, stride: []int{1}}},
	}}}
	b := legacyFile(obj)
	ck, err := ReadTorchFrom(bytes.NewReader(b), int64(len(b)), "old")
	if err != nil {
		t.Fatal(err)
	}
	if got := ck.StateDict["view"].F32; !slices.Equal(got, []float32{5, 6, 7}) {
		t.Errorf("view = %v, want [5 6 7]", got)
	}
	if got := ck.StateDict["outside"].F32; !slices.Equal(got, []float32{6, 7}) {
		t.Errorf("outside = %v", got)
	}
	bad := pyDict{{"state_dict", pyODict{{"w", &pyTensor{st: base, view: pyTuple{"v", 6, 4}, size: []int{1}, stride: []int{1}}}}}}
	b = legacyFile(bad)
	if _, err := ReadTorchFrom(bytes.NewReader(b), int64(len(b)), "old"); err == nil || !strings.Contains(err.Error(), "outside its 8 elements") {
		t.Errorf("view past the storage: %v", err)
	}
}

func BenchmarkReadTorchZip(b *testing.B) {
	for b.Loop() {
		if _, err := ReadTorch(golden + "vqa_ckpt_zip.model"); err != nil {
			b.Fatal(err)
		}
	}
}

// A bare state dict (ResNet backbone, BERT pytorch_model.bin) loads as StateDict.
func TestRawStateDict(t *testing.T) {
	obj := pyODict{{"conv1.weight", contiguous(f32Storage("0", 1, 2, 3, 4), 1, 1, 2, 2)}, {"bn1.num_batches_tracked", contiguous(i64Storage("1", 0))}}
	b := legacyFile(obj)
	ck, err := ReadTorchFrom(bytes.NewReader(b), int64(len(b)), "resnet")
	if err != nil {
		t.Fatal(err)
	}
	if !ck.Raw || ck.Optimizer != nil || !slices.Equal(ck.Keys, []string{"conv1.weight", "bn1.num_batches_tracked"}) {
		t.Errorf("raw checkpoint %+v", ck)
	}
}

// One pickled tensor object under two keys (pickle memo): two copies.
func TestMemoisedTensorTwice(t *testing.T) {
	obj := pyODict{{"a", pyPut{200, contiguous(f32Storage("0", 1, 2), 2)}}, {"b", pyGet(200)}}
	b := zipFile(t, obj, "x")
	ck, err := ReadTorchFrom(bytes.NewReader(b), int64(len(b)), "memo")
	if err != nil {
		t.Fatal(err)
	}
	a, c := ck.StateDict["a"], ck.StateDict["b"]
	if !a.Equal(c) || &a.F32[0] == &c.F32[0] || ck.Aliases["b"] != "a" {
		t.Errorf("a %v b %v aliases %v", a, c, ck.Aliases)
	}
}

func TestMalformedInputs(t *testing.T) {
	zp, _ := os.ReadFile(golden + "vqa_ckpt_zip.model")
	leg, _ := os.ReadFile(golden + "vqa_ckpt_legacy.model")
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":      {nil, "empty file"},
		"html":       {[]byte("\n<!DOCTYPE html>\n<html><body>Sign in</body></html>"), "HTML"},
		"lfs":        {[]byte("version https://git-lfs.github.com/spec/v1\noid sha256:abc\n"), "Git LFS"},
		"text":       {[]byte("hello"), "invalid load key, 'h'"},
		"not_torch":  {[]byte("\x80\x02K\x01."), "magic number"},
		"zip_no_pkl": {zipWith(t, map[string][]byte{"a/version": []byte("3\n")}), "no data.pkl"},
	}
	// Element counts that lie: a legacy storage claiming 2^40 floats.
	big := bytes.Clone(leg)
	if i := bytes.Index(big, []byte("J\x00\x00\x04\x00")); i > 0 { // BININT 262144 of the first storage
		copy(big[i:], "J\xff\xff\xff\x7f")
		cases["huge_count"] = struct {
			data []byte
			want string
		}{big, "elements"}
	}
	lying := &pyStorage{key: "0", class: "FloatStorage", numel: 1 << 30, data: make([]byte, 16)}
	lyingSD := pyDict{{"state_dict", pyODict{{"w", contiguous(lying, 4)}}}}
	small := f32Storage("0", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	outside := pyDict{{"state_dict", pyODict{{"w", &pyTensor{st: small, offset: 0, size: []int{5}, stride: []int{3}}}}}}
	notTensor := pyDict{{"state_dict", pyODict{{"w", "oops"}}}}
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"lying_numel_legacy": {legacyFile(lyingSD), "file truncated"},
		"lying_numel_zip":    {zipFile(t, lyingSD, "a"), "holds 16 bytes"},
		"view_outside":       {zipFile(t, outside, "a"), "reads element 12 of 12"},
		"not_a_tensor":       {legacyFile(notTensor), `state_dict["w"] is a "oops", not a tensor`},
		"top_level_list":     {legacyFile(pyList{1}), "not a dict"},
	} {
		cases[name] = c
	}
	for name, c := range cases {
		_, err := ReadTorchFrom(bytes.NewReader(c.data), int64(len(c.data)), name+".model")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), name+".model") {
			t.Errorf("%s: err = %v, want mention of %q and the file", name, err, c.want)
		}
	}
	// Every truncation of both formats is an error, never a panic.
	for _, data := range [][]byte{zp, leg} {
		for _, n := range []int{1, 8, 30, 100, 1000, 5000, 20000, len(data) / 2, len(data) - 100, len(data) - 1} {
			if _, err := ReadTorchFrom(bytes.NewReader(data[:n]), int64(n), "cut"); err == nil {
				t.Errorf("truncated to %d of %d bytes: no error", n, len(data))
			}
		}
	}
}

func TestReadTorchMissingFile(t *testing.T) {
	if _, err := ReadTorch("does/not/exist.model"); err == nil || !strings.Contains(err.Error(), "exist.model") {
		t.Errorf("err = %v", err)
	}
}

func FuzzReadTorch(f *testing.F) {
	obj, _ := synthetic(f)
	f.Add(legacyFile(obj))
	f.Add(zipFile(f, obj, "archive"))
	small := pyDict{{"state_dict", pyODict{{"w", &pyTensor{st: f32Storage("0", 1, 2, 3, 4), offset: 1, size: []int{2}, stride: []int{2}}}}}}
	f.Add(legacyFile(small))
	f.Add(zipFile(f, small, "a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := ReadTorchFrom(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err == nil {
			for _, k := range ck.Keys {
				tn := ck.StateDict[k]
				if len(tn.F32)+len(tn.I64) != tn.Numel() {
					t.Fatalf("%s: %d values for shape %v", k, len(tn.F32)+len(tn.I64), tn.Shape)
				}
			}
		}
	})
}
