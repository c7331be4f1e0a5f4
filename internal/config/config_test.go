package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// expectedFiles maps a config's base name to its path and task. The expected
// values in testdata/original_resolved.json were produced once by running the
// original update_config (<task>/function/config.py, PyYAML FullLoader) on
// each file and dumping the resulting EasyDict as JSON.
func expectedFiles(t *testing.T) map[string]struct {
	path string
	task Task
} {
	t.Helper()
	out := map[string]struct {
		path string
		task Task
	}{
		"vqa_small.yaml":      {"../../testdata/golden/vqa_small.yaml", TaskVQA},
		"pretrain_small.yaml": {"../../testdata/golden/pretrain_small.yaml", TaskPretrain},
	}
	files, err := filepath.Glob("testdata/cfgs/*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 18 {
		t.Fatalf("found %d original configs, want 18", len(files))
	}
	for _, f := range files {
		out[filepath.Base(f)] = struct {
			path string
			task Task
		}{f, Task(filepath.Base(filepath.Dir(f)))}
	}
	return out
}

// pythonView converts a Config to the JSON shape of the original EasyDict:
// LR_STEP as floats, LOSS_LOGGERS as pairs, numbers as float64.
func pythonView(t *testing.T, c *Config) map[string]any {
	t.Helper()
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("re-reading marshalled config: %v\n%s", err, data)
	}
	tr := m["TRAIN"].(map[string]any)
	tr["LR_STEP"] = toAnySlice(c.Train.LRStep)
	ll := []any{}
	for _, l := range c.Train.LossLoggers {
		ll = append(ll, []any{l.Output, l.Display})
	}
	tr["LOSS_LOGGERS"] = ll
	return normalize(m).(map[string]any)
}

func toAnySlice(f []float64) []any {
	out := []any{}
	for _, v := range f {
		out = append(out, v)
	}
	return out
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		if x == nil {
			return []any{}
		}
		return x
	case int:
		return float64(x)
	case float64:
		return x
	}
	return v
}

func TestMatchesOriginalUpdateConfig(t *testing.T) {
	raw, err := os.ReadFile("testdata/original_resolved.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	files := expectedFiles(t)
	if len(want) != len(files) {
		t.Fatalf("%d expected configs, %d files", len(want), len(files))
	}
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			c, err := Load(f.path, f.task)
			if err != nil {
				t.Fatal(err)
			}
			got := pythonView(t, c)
			exp := normalize(map[string]any(want[name])).(map[string]any)
			if d := diffTrees("", exp, got); len(d) > 0 {
				sort.Strings(d)
				t.Errorf("differences from the original update_config:\n%s", strings.Join(d, "\n"))
			}
			// Task detection agrees with the directory the file is in.
			data, _ := os.ReadFile(f.path)
			if dt, err := DetectTask(data); err != nil || dt != f.task {
				t.Errorf("DetectTask = %q, %v; want %q", dt, err, f.task)
			}
		})
	}
}

func diffTrees(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want mapping, got %v", path, got)}
		}
		var d []string
		for k := range w {
			if _, ok := g[k]; !ok {
				d = append(d, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			d = append(d, diffTrees(path+"."+k, w[k], g[k])...)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				d = append(d, fmt.Sprintf("%s.%s: extra key", path, k))
			}
		}
		return d
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
		var d []string
		for i := range w {
			d = append(d, diffTrees(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return d
	}
	if !reflect.DeepEqual(want, got) {
		return []string{fmt.Sprintf("%s: want %#v, got %#v", path, want, got)}
	}
	return nil
}

func TestGoldenSmallConfigs(t *testing.T) {
	c, err := Load("../../testdata/golden/vqa_small.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Task != TaskVQA || c.Network.VLBERT.HiddenSize != 64 || c.Dataset().AnswerVocabSize != 64 ||
		c.Network.ClassifierType != "mlm" || !c.Network.VLBERT.VisualLN || c.Train.ClipGradNorm != 1 {
		t.Errorf("vqa_small: unexpected values %+v", c)
	}
	// Spec §2.3: LR × world × Σ BATCH_IMAGES; golden lr base 5e-4.
	if got := c.Train.BaseLR(c.NumGPUs()); got != 5e-4 {
		t.Errorf("vqa_small base lr = %v, want 5e-4", got)
	}
	if got := c.Network.PartialPretrainPrefixChanges; len(got) != 4 || got[0] != "vlbert.mlm_head.predictions.transform->final_mlp.0" {
		t.Errorf("prefix changes %q", got)
	}
	p, err := Load("../../testdata/golden/pretrain_small.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Task != TaskPretrain || p.Network.VLBERT.VisualRegionClasses != 1601 || !p.Network.VLBERT.WithPooler ||
		len(p.Train.LossLoggers) != 3 || p.Train.LossLoggers[2] != (LossLogger{"mvrc_loss", "MVRCLoss"}) {
		t.Errorf("pretrain_small: unexpected values %+v", p)
	}
}

func TestMultitaskPretrainConfig(t *testing.T) {
	c, err := Load("testdata/cfgs/pretrain/base_prec_4x16G_fp32.yaml", TaskPretrain)
	if err != nil {
		t.Fatal(err)
	}
	if !c.DatasetIsList || len(c.Datasets) != 2 {
		t.Fatalf("want 2 datasets in list form, got %d (list %v)", len(c.Datasets), c.DatasetIsList)
	}
	if c.Datasets[1].Dataset != "general_corpus" || c.Datasets[1].MinSeqLen != 64 || c.Datasets[1].MaskSize != 14 {
		t.Errorf("second dataset %+v", c.Datasets[1])
	}
	// Missing keys of list entries come from the defaults.
	if c.Datasets[0].SeqLen != 64 || c.Datasets[0].MinSeqLen != 0 || c.Datasets[0].TaskName != "Q2AR" {
		t.Errorf("first dataset %+v", c.Datasets[0])
	}
	if !c.Train.BatchImages.List || c.Train.BatchImages.Sum() != 64 || c.Train.BatchImages.At(1) != 32 {
		t.Errorf("BATCH_IMAGES %+v", c.Train.BatchImages)
	}
	// Spec §2.3: prec 1e-7 × 4 GPUs × (32+32) = 2.56e-5.
	if got, want := c.Train.BaseLR(4), 2.56e-5; !approxEqual(got, want) {
		t.Errorf("base lr %v, want %v", got, want)
	}
	if err := c.Set("DATASET.1.SEQ_LEN=32"); err != nil || c.Datasets[1].SeqLen != 32 {
		t.Errorf("set DATASET.1.SEQ_LEN: %v, %d", err, c.Datasets[1].SeqLen)
	}
	if err := c.Set("DATASET.SEQ_LEN=32"); err == nil {
		t.Error("DATASET.SEQ_LEN on a list-valued DATASET: want an error")
	}
	if err := c.Set("DATASET.2.SEQ_LEN=32"); err == nil {
		t.Error("DATASET.2 out of range: want an error")
	}
}

func approxEqual(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-12*(1+b)
}

func TestVCRStepSchedule(t *testing.T) {
	c, err := Load("testdata/cfgs/vcr/base_q2a_4x16G_fp32.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Task != TaskVCR || c.Train.LRSchedule != "step" || !reflect.DeepEqual([]float64(c.Train.LRStep), []float64{14, 18}) {
		t.Errorf("vcr: %+v", c.Train)
	}
	// 7e-5 × 4 GPUs × 4 images × 4 accumulation steps.
	if got := c.Train.BaseLR(4); !approxEqual(got, 7e-5*64) {
		t.Errorf("vcr base lr %v", got)
	}
	if c.Dataset().LabelIndexInBatch != 7 && c.Dataset().LabelIndexInBatch != -1 {
		t.Errorf("LABEL_INDEX_IN_BATCH %d", c.Dataset().LabelIndexInBatch)
	}
}

func TestUnknownKeys(t *testing.T) {
	cases := []struct {
		yaml, task, wantSub string
	}{
		{"FOO: 1\n", "vqa", "unknown key FOO"},
		{"TRAIN:\n  LRR: 1\n", "vqa", "unknown key TRAIN.LRR"},
		{"NETWORK:\n  VLBERT:\n    hidden: 3\n", "vqa", "unknown key NETWORK.VLBERT.hidden"},
		// Keys of another task's defaults.
		{"DATASET:\n  SEQ_LEN: 3\n", "vqa", "unknown key DATASET.SEQ_LEN"},
		{"NETWORK:\n  VLBERT:\n    visual_region_classes: 3\n", "refcoco", "unknown key NETWORK.VLBERT.visual_region_classes"},
		{"TRAIN:\n  VISUAL_SCALE_TEXT_LR_MULT: 1\n", "pretrain", "unknown key TRAIN.VISUAL_SCALE_TEXT_LR_MULT"},
		{"DATASET:\n- DATASET: x\n  FOO: 1\n", "pretrain", "unknown key DATASET.0.FOO"},
		{"DATASET:\n- DATASET: x\n", "vqa", "only supported for pretraining"},
		{"TRAIN:\n  LR: abc\n", "vqa", "TRAIN.LR"},
		{"TRAIN:\n  LR_STEP: \"14,x\"\n", "vqa", "TRAIN.LR_STEP"},
		{"TRAIN:\n  LOSS_LOGGERS:\n  - \"a\"\n", "vqa", "output,Display"},
		{"TRAIN: 3\n", "vqa", "TRAIN: want a mapping"},
		{"- 1\n", "vqa", "not a mapping"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.yaml), "x.yaml", Task(tc.task))
		if err == nil || !strings.Contains(err.Error(), tc.wantSub) || !strings.Contains(err.Error(), "x.yaml") {
			t.Errorf("%q (%s): err = %v, want it to mention %q and the file", tc.yaml, tc.task, err, tc.wantSub)
		}
	}
	// Line numbers point at the offending key.
	_, err := Parse([]byte("TRAIN:\n  LR: 1.0\n  BAD: 2\n"), "y.yaml", TaskVQA)
	if err == nil || !strings.Contains(err.Error(), "y.yaml:3:") {
		t.Errorf("want line 3 in %v", err)
	}
}

func TestSet(t *testing.T) {
	c, err := Defaults(TaskVQA)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{
		"TRAIN.LR=1e-4", "NETWORK.VLBERT.hidden_size=64", "TRAIN.LR_STEP=3,5", "GPUS=0",
		"TRAIN.BATCH_IMAGES=[4, 8]", "DATASET.DATASET=vqa", "TRAIN.LOSS_LOGGERS=[\"a,B\"]", "SCALES=[600, 1000]",
		"NETWORK.PARTIAL_PRETRAIN=", "TRAIN.WARMUP=true",
	} {
		if err := c.Set(a); err != nil {
			t.Fatalf("Set(%q): %v", a, err)
		}
	}
	if c.Train.LR != 1e-4 || c.Network.VLBERT.HiddenSize != 64 || !reflect.DeepEqual([]float64(c.Train.LRStep), []float64{3, 5}) ||
		c.GPUs != "0" || c.Train.BatchImages.Sum() != 12 || c.Train.LossLoggers[0].Display != "B" ||
		!reflect.DeepEqual(c.Scales, []int{600, 1000}) || !c.Train.Warmup {
		t.Errorf("after Set: %+v", c.Train)
	}
	for _, a := range []string{"TRAIN.NOPE=1", "NOPE=1", "TRAIN.LR.X=1", "TRAIN.LR", "=3", "NETWORK=3",
		"DATASET.SEQ_LEN=3", "TRAIN.LR=[1", "NETWORK.VLBERT.hidden_size=1.5"} {
		if err := c.Set(a); err == nil {
			t.Errorf("Set(%q): want an error", a)
		}
	}
	if c.Train.LR != 1e-4 || c.Network.VLBERT.HiddenSize != 64 {
		t.Errorf("failed Set changed values: lr %v hidden %d", c.Train.LR, c.Network.VLBERT.HiddenSize)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for name, f := range expectedFiles(t) {
		c, err := Load(f.path, f.task)
		if err != nil {
			t.Fatal(err)
		}
		data, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(data, name+" (marshalled)", f.task)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, data)
		}
		if !reflect.DeepEqual(c, back) {
			t.Errorf("%s: round trip differs:\n%+v\n%+v", name, c, back)
		}
		// Detection works on our own output too.
		if dt, err := DetectTask(data); err != nil || dt != f.task {
			t.Errorf("%s: DetectTask on marshalled = %q, %v", name, dt, err)
		}
	}
}

func TestFormatFloat(t *testing.T) {
	for in, want := range map[float64]string{1e-7: "1.0e-07", 2.5e-4: "0.00025", 10: "10.0", 0.1: "0.1", -1: "-1.0", 1e21: "1.0e+21"} {
		if got := formatFloat(in); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultsPerTask(t *testing.T) {
	for _, task := range Tasks {
		c, err := Defaults(task)
		if err != nil {
			t.Fatal(err)
		}
		data, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(data, "defaults", task)
		if err != nil || !reflect.DeepEqual(c, back) {
			t.Errorf("%s defaults do not round-trip: %v", task, err)
		}
	}
	if _, err := Defaults("nope"); err == nil {
		t.Error("unknown task: want an error")
	}
	if _, err := Parse([]byte("RNG_SEED: 1\n"), "x", ""); err == nil {
		t.Error("undetectable task: want an error")
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../testdata/golden/vqa_small.yaml", "testdata/cfgs/pretrain/base_prec_4x16G_fp32.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("TRAIN:\n  BATCH_IMAGES: [1, 2]\n  LR_STEP: \"1,2\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, task := range Tasks {
			c, err := Parse(data, "fuzz", task)
			if err != nil {
				continue
			}
			if len(c.Datasets) == 0 {
				t.Fatal("no dataset")
			}
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(out, "fuzz-marshalled", task); err != nil {
				t.Fatalf("re-parse: %v\n%s", err, out)
			}
		}
	})
}

func TestOutputDir(t *testing.T) {
	c, err := Load("testdata/cfgs/pretrain/base_prec_4x16G_fp32.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	got := c.OutputDir("/m", "cfgs/pretrain/base_prec_4x16G_fp32.yaml")
	if want := "/m/output/pretrain/vlbert/base_prec_4x16G_fp32/train_train"; got != want {
		t.Errorf("OutputDir %s, want %s", got, want)
	}
	if got := c.ModelPrefixPath("", "x.yaml"); got != "output/pretrain/vlbert/x/train_train/vl-bert_base_res101_pretrain_multitask" {
		t.Errorf("ModelPrefixPath %s", got)
	}
}

func TestValidate(t *testing.T) {
	for name, f := range expectedFiles(t) {
		c, err := Load(f.path, f.task)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	c, err := Load("testdata/cfgs/pretrain/base_prec_4x16G_fp32.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"TRAIN.GRAD_ACCUMULATE_STEPS=0", "TRAIN.OPTIMIZER=Adagrad", "TRAIN.BATCH_IMAGES=[1, 2, 3]",
		"NETWORK.VLBERT.num_attention_heads=7", "NETWORK.VLBERT.hidden_dropout_prob=1.5", "NETWORK.VLBERT.hidden_act=tanh"} {
		if err := c.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	err = c.Validate()
	for _, key := range []string{"GRAD_ACCUMULATE_STEPS", "OPTIMIZER", "TRAIN.BATCH_IMAGES: 3 entries for 2 datasets", "hidden_size", "hidden_dropout_prob", "hidden_act"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate: %v; want it to mention %s", err, key)
		}
	}
	c.Train.LRSchedule = "step"
	c.Train.LRStep = FloatList{18, 14}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "LR_STEP") {
		t.Errorf("decreasing LR_STEP: %v", err)
	}
}

// TestImageFeatDim checks the vlbert extension key NETWORK.IMAGE_FEAT_DIM: every
// task has it (default 2048), Marshal leaves it out at its default (the original's
// update_config rejects unknown keys) and writes it otherwise, and Validate
// rejects a width <= 0.
func TestImageFeatDim(t *testing.T) {
	for _, task := range Tasks {
		c, err := Defaults(task)
		if err != nil {
			t.Fatal(err)
		}
		if c.Network.ImageFeatDim != 2048 {
			t.Errorf("%s: default IMAGE_FEAT_DIM %d, want 2048", task, c.Network.ImageFeatDim)
		}
		data, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "IMAGE_FEAT_DIM") {
			t.Errorf("%s: Marshal writes IMAGE_FEAT_DIM at its default", task)
		}
		if err := c.Set("NETWORK.IMAGE_FEAT_DIM=256"); err != nil {
			t.Fatal(err)
		}
		if data, err = c.Marshal(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "IMAGE_FEAT_DIM: 256") {
			t.Errorf("%s: Marshal leaves out IMAGE_FEAT_DIM 256", task)
		}
		back, err := Parse(data, "featdim", task)
		if err != nil || back.Network.ImageFeatDim != 256 {
			t.Errorf("%s: round trip gives %v, %v", task, back, err)
		}
		c.Network.ImageFeatDim = 0
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "NETWORK.IMAGE_FEAT_DIM") {
			t.Errorf("%s: IMAGE_FEAT_DIM 0: %v", task, err)
		}
	}
}
