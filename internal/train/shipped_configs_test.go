package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
)

// shippedCfgs holds copies of the original's cfgs/ (jackroos/VL-BERT).
const shippedCfgs = "../config/testdata/cfgs"

// shippedCase is one shipped config and the size of the original's model.
type shippedCase struct {
	file string
	// params is the number of values in the original module's state_dict
	// (parameters and BatchNorm running statistics; tied weights and the
	// FastRCNN head.0.* duplicates once; num_batches_tracked left out), as
	// testdata/count_original_params.py counts it: the MODULE class of
	// jackroos/VL-BERT (commit 4373674, torch 1.13) built from this file by
	// {task}/function/config.py's update_config.
	params int
}

// shippedCases lists every shipped config; pretraining first, so that the
// fine-tuning configs find the checkpoints their PARTIAL_PRETRAIN names.
var shippedCases = []shippedCase{
	{"pretrain/base_prec_4x16G_fp32.yaml", 114491515},
	{"pretrain/base_prec_withouttextonly_4x16G_fp32.yaml", 114490747},
	{"pretrain/large_prec_4x16G_fp16.yaml", 342071675},
	{"pretrain/base_e2e_16x16G_fp16.yaml", 157094971},
	{"pretrain/large_e2e_16x16G_fp16.yaml", 384675131},
	{"pretrain/vis_attention_maps_coco.yaml", 154649792},
	{"vqa/base_4x16G_fp32.yaml", 115041849},
	{"vqa/large_4x16G_fp32.yaml", 342553657},
	{"vcr/base_q2a_4x16G_fp32.yaml", 155893266},
	{"vcr/base_qa2r_4x16G_fp32.yaml", 155893266},
	{"vcr/large_q2a_4x16G_fp16.yaml", 383083538},
	{"vcr/large_qa2r_4x16G_fp16.yaml", 383083538},
	{"vcr/large_q2a_16x16G_fp16.yaml", 383083538},
	{"vcr/large_qa2r_16x16G_fp16.yaml", 383083538},
	{"refcoco/base_detected_regions_4x16G.yaml", 155240385},
	{"refcoco/base_gt_boxes_4x16G.yaml", 155240385},
	{"refcoco/large_detected_regions_4x16G.yaml", 381950913},
	{"refcoco/large_gt_boxes_4x16G.yaml", 381950913},
}

// shrunkSizes maps each size of the shipped configs to the shrunk copy's.
// BERT-base and BERT-large shrink to different sizes, so that a base
// checkpoint cannot load into a large model by mistake.
var shrunkSizes = map[string]map[int]int{
	"NETWORK.VLBERT.hidden_size":         {768: 32, 1024: 48},
	"NETWORK.VLBERT.visual_size":         {768: 32, 1024: 48},
	"NETWORK.IMAGE_FINAL_DIM":            {768: 32, 1024: 48},
	"NETWORK.VLBERT.num_hidden_layers":   {12: 1, 24: 2},
	"NETWORK.VLBERT.num_attention_heads": {12: 2, 16: 4},
	"NETWORK.VLBERT.intermediate_size":   {3072: 64, 4096: 96},
	"NETWORK.CLASSIFIER_HIDDEN_SIZE":     {1024: 40},
}

// TestShippedConfigs: every shipped original config loads and builds its
// model at full size, and a shrunk copy of it (the same switches; smaller
// transformer, ResNet (visualConfigHook), images, batches and epochs) trains
// one optimizer step through Run on fixture data in the original's layout
// (shippedRoot) and predicts through Predict, as `vlbert test` does.
//
// The copies run from a directory laid out as the original repository's root,
// so that every path of the config (./data/..., ./model/pretrained_model/...,
// ./output/...) stays as shipped. The fine-tuning configs start from the
// checkpoint of the shrunk pretraining config their PARTIAL_PRETRAIN names
// (vl-bert-{base,large}-{prec,e2e}.model), with the original's
// PARTIAL_PRETRAIN_PREFIX_CHANGES; the e2e ones from a raw ResNet file at
// IMAGE_PRETRAINED.
func TestShippedConfigs(t *testing.T) {
	root := shippedRoot(t)
	files := map[string]string{} // config -> absolute path (the subtests run in root)
	for _, c := range shippedCases {
		abs, err := filepath.Abs(filepath.Join(shippedCfgs, c.file))
		if err != nil {
			t.Fatal(err)
		}
		files[c.file] = abs
	}
	for _, c := range shippedCases {
		t.Run(strings.TrimSuffix(c.file, ".yaml"), func(t *testing.T) {
			cfg, err := config.Load(filepath.Join(shippedCfgs, c.file), "")
			if err != nil {
				t.Fatal(err)
			}
			checkFullSize(t, cfg, c)
			if cfg.Module == "ResNetVLBERTForAttentionVis" {
				// Forward only (the original's pretrain/vis_attention_maps.py):
				// cmd/vlbert's TestVisualizeDataset runs it over a data set,
				// TestAttentionVisNotTrained checks that training it is refused.
				return
			}
			t.Chdir(root)
			if pre := cfg.Network.PartialPretrain; pre != "" {
				ensurePretrained(t, files, pre)
			}
			trainAndPredict(t, files[c.file], c.file)
		})
	}
}

// checkFullSize builds the parameter table of cfg at its own size
// (model.Layout: the arenas of BERT-large would be 2.7 GB) with the full
// ResNet for e2e configs, and checks it against the original's sizes.
func checkFullSize(t *testing.T, cfg *config.Config, c shippedCase) {
	mc, err := modelConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := model.Layout(mc)
	if err != nil {
		t.Fatal(err)
	}
	v := cfg.Network.VLBERT
	H, L := v.HiddenSize, v.NumHiddenLayers
	prefix := "vlbert."
	if mc.Task == model.TaskVCR {
		prefix = "vlbert._module." // TimeDistributed
	}
	shapes := map[string][]int{}
	total := 0
	for _, q := range p.List {
		shapes[q.Name] = q.Shape
		total += q.Size
	}
	for name, want := range map[string][]int{
		"word_embeddings.weight":                                           {v.VocabSize, H},
		"position_embeddings.weight":                                       {v.MaxPositionEmbeddings, H},
		fmt.Sprintf("encoder.layer.%d.attention.self.query.weight", L-1):   {H, H},
		fmt.Sprintf("encoder.layer.%d.intermediate.dense.weight", L-1):     {v.IntermediateSize, H},
		fmt.Sprintf("encoder.layer.%d.output.dense.weight", L-1):           {H, v.IntermediateSize},
		"visual_ln_object.weight":                                          {H},
		"token_type_embeddings.weight":                                     {v.TypeVocabSize, H},
		fmt.Sprintf("encoder.layer.%d.attention.output.LayerNorm.bias", 0): {H},
	} {
		if got := shapes[prefix+name]; !slices.Equal(got, want) {
			t.Errorf("%s%s: shape %v, want %v", prefix, name, got, want)
		}
	}
	if _, ok := shapes[fmt.Sprintf("%sencoder.layer.%d.attention.self.query.weight", prefix, L)]; ok {
		t.Errorf("more than %d encoder layers", L)
	}
	if isE2E(cfg) {
		n, layer3 := fullResNet(t, cfg)
		if _, ok := shapes["image_feature_extractor.obj_downsample.1.weight"]; !ok {
			t.Error("no obj_downsample in an e2e model")
		}
		if layer3 != 23 { // ResNet-101: 3, 4, 23 bottlenecks in conv2..conv4
			t.Errorf("IMAGE_NUM_LAYERS 101: %d blocks in layer3, want 23", layer3)
		}
		total += n
	}
	want := c.params
	if cfg.Module == "ResNetVLBERTForAttentionVis" {
		// vlbert's attention-map model is the pretraining module's network
		// (model.TaskFromModule): it lacks aux_text_visual_embedding (1 x H),
		// which the original's ResNetVLBERTForAttentionVis.__init__ registers
		// but its forward reads only for the text-only rows of a second data
		// set, which this config does not have
		// (pretrain/modules/resnet_vlbert_for_attention_vis.py).
		want -= H
	}
	t.Logf("full size: %d values (%d tensors)", total, len(p.List))
	if total != want {
		t.Errorf("full size: %d values, the original's module has %d", total, want)
	}
}

// fullResNet builds the ResNet of an e2e config at full size and returns
// its number of values and of layer3 blocks, once per network (every shipped
// e2e config has the same: ResNet-101 C4, conv5 dilated). Only the counts
// are kept: the network's arenas are ~340 MB.
var fullResNets = map[string][2]int{}

func fullResNet(t *testing.T, cfg *config.Config) (values, layer3 int) {
	t.Helper()
	hook := visualConfigHook
	visualConfigHook = nil
	vc, err := visualConfig(cfg)
	visualConfigHook = hook
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("%+v", vc)
	if _, ok := fullResNets[key]; !ok {
		net := visual.NewNetwork(vc)
		n := 0
		for _, q := range net.Params.Params {
			n += len(q.Data)
		}
		fullResNets[key] = [2]int{n, len(net.Layers[2])}
	}
	c := fullResNets[key]
	return c[0], c[1]
}

// shrinkShipped loads the config at path with every size shrunk and every
// switch unchanged, which it checks by comparing the two key by key.
func shrinkShipped(t *testing.T, path string) *config.Config {
	cfg, err := config.Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	before := flatConfig(t, cfg)
	var sets []string
	for key, m := range shrunkSizes {
		v, ok := before[key]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if s, found := m[n]; err == nil && found {
			sets = append(sets, fmt.Sprintf("%s=%d", key, s))
		} else {
			t.Fatalf("%s = %s: no shrunk size", key, v)
		}
	}
	// One sample per GPU of GPUS (the configs name four: batches of four),
	// one epoch. The ResNet is shrunk by visualConfigHook (one bottleneck per
	// stage, 2x2 RoIAlign): the VCR masks are 2x2 then. Images stay at the
	// fixture's 64x64.
	batch := "1"
	if cfg.DatasetIsList {
		batch = "[1, 1]"
	}
	sets = append(sets, "TRAIN.BATCH_IMAGES="+batch, "VAL.BATCH_IMAGES="+batch, "TEST.BATCH_IMAGES="+batch, "TRAIN.END_EPOCH=1")
	if isE2E(cfg) {
		sets = append(sets, "SCALES=[32, 32]")
		if cfg.Task == config.TaskVCR {
			sets = append(sets, "DATASET.MASK_SIZE=2")
		}
	}
	if err := cfg.SetAll(sets); err != nil {
		t.Fatal(err)
	}
	// Only sizes may change: the keys of shrunkSizes and these.
	sizeKeys := []string{"TRAIN.BATCH_IMAGES", "VAL.BATCH_IMAGES", "TEST.BATCH_IMAGES", "TRAIN.END_EPOCH", "SCALES", "DATASET.MASK_SIZE"}
	for k := range shrunkSizes {
		sizeKeys = append(sizeKeys, k)
	}
	sized := func(k string) bool {
		return slices.ContainsFunc(sizeKeys, func(s string) bool { return k == s || strings.HasPrefix(k, s+".") })
	}
	for _, s := range sets {
		if k := strings.SplitN(s, "=", 2)[0]; !sized(k) {
			t.Errorf("the shrunk copy sets %s, which is no size", k)
		}
	}
	after := flatConfig(t, cfg)
	for k, v := range before {
		if after[k] != v && !sized(k) {
			t.Errorf("shrinking changed %s: %s -> %s", k, v, after[k])
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok && !sized(k) {
			t.Errorf("shrinking added %s = %s", k, v)
		}
	}
	return cfg
}

// flatConfig is cfg in the original schema as "A.B.C" -> value (list items
// "A.0").
func flatConfig(t *testing.T, cfg *config.Config) map[string]string {
	t.Helper()
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(prefix+k+".", e)
			}
		case []any:
			for i, e := range x {
				walk(prefix+strconv.Itoa(i)+".", e)
			}
			if len(x) == 0 {
				out[strings.TrimSuffix(prefix, ".")] = "[]"
			}
		default:
			out[strings.TrimSuffix(prefix, ".")] = fmt.Sprint(x)
		}
	}
	walk("", v)
	return out
}

// pretrainedFor maps the checkpoints the fine-tuning configs' PARTIAL_PRETRAIN
// names to the pretraining configs that make them.
var pretrainedFor = map[string]string{
	"vl-bert-base-prec.model":  "pretrain/base_prec_4x16G_fp32.yaml",
	"vl-bert-large-prec.model": "pretrain/large_prec_4x16G_fp16.yaml",
	"vl-bert-base-e2e.model":   "pretrain/base_e2e_16x16G_fp16.yaml",
	"vl-bert-large-e2e.model":  "pretrain/large_e2e_16x16G_fp16.yaml",
}

// ensurePretrained makes the PARTIAL_PRETRAIN file pre (relative to the
// working directory): the shrunk pretraining config's checkpoint. A
// pretraining subtest that ran before made it.
func ensurePretrained(t *testing.T, files map[string]string, pre string) {
	t.Helper()
	if _, err := os.Stat(pre); err == nil {
		return
	}
	src, ok := pretrainedFor[filepath.Base(pre)]
	if !ok {
		t.Fatalf("PARTIAL_PRETRAIN %s: no shipped pretraining config makes it", pre)
	}
	trainAndPredict(t, files[src], src)
	if _, err := os.Stat(pre); err != nil {
		t.Fatal(err)
	}
}

// exportPretrained writes ckpt as the .model of pretrainedFor that name
// makes, if any: its state_dict as the original saves it (DataParallel's
// "module." prefixes), without the optimizer, in safetensors (LoadPartial
// reads either format).
func exportPretrained(t *testing.T, name, ckpt string) {
	t.Helper()
	for model, src := range pretrainedFor {
		if src != name {
			continue
		}
		ts, _, err := weights.ReadSafetensors(ckpt)
		if err != nil {
			t.Fatal(err)
		}
		sd := map[string]*weights.Tensor{}
		for k, v := range ts {
			if !strings.HasPrefix(k, "optimizer.") && !strings.HasPrefix(k, "trainer.") {
				sd["module."+k] = v
			}
		}
		if err := weights.WriteSafetensors(filepath.Join("model", "pretrained_model", model), sd, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// partialLoaded matches buildModel's report of PARTIAL_PRETRAIN.
var (
	partialLoaded = regexp.MustCompile(`partial pretrain \S+: (\d+) keys loaded`)
	notPretrained = regexp.MustCompile(`model keys not pretrained: .*`)
)

// trainAndPredict trains the shrunk copy of the config at path (named name)
// for one optimizer update (GRAD_ACCUMULATE_STEPS batches) through Run and
// validates (the config's VAL split, e.g. RefCOCO+ VAL_BOXES), then
// predicts from its checkpoint as `vlbert test` does and checks the files
// (pretraining, which has no test script in the original, evaluates the val
// split instead).
func trainAndPredict(t *testing.T, path, name string) {
	cfg := shrinkShipped(t, path)
	accum := max(1, cfg.Train.GradAccumulateSteps)
	var log strings.Builder
	res, err := Run(context.Background(), cfg, Options{CfgPath: path, StopAfter: accum, ValEvery: accum, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if res.State.Updates != 1 || res.State.Global != accum {
		t.Fatalf("stopped after %d batches, %d updates; want %d, 1", res.State.Global, res.State.Updates, accum)
	}
	if val := valMetricsAt(t, res.OutputDir, int64(accum)); len(val) == 0 {
		t.Error("no validation after the update")
	} else {
		for k, v := range val {
			if !finiteMetric(k, v, val, "Val-") {
				t.Errorf("%s = %v", k, v)
			}
		}
	}
	losses := trainLosses(t, res.OutputDir)
	if len(losses) == 0 || slices.ContainsFunc(losses, func(l float64) bool { return math.IsNaN(l) || math.IsInf(l, 0) || l <= 0 }) {
		t.Errorf("train losses %v", losses)
	}
	if cfg.Network.PartialPretrain != "" {
		if m := partialLoaded.FindStringSubmatch(log.String()); m == nil || m[1] == "0" {
			t.Errorf("no PARTIAL_PRETRAIN keys loaded:\n%s", log.String())
		}
		// The prefix changes map every VisualLinguisticBert key of the
		// pretrained model (VCR: into TimeDistributed's vlbert._module.).
		if m := notPretrained.FindString(log.String()); strings.Contains(m, "encoder.layer.") || strings.Contains(m, "word_embeddings") {
			t.Errorf("transformer weights not loaded from PARTIAL_PRETRAIN: %s", m)
		}
	}
	if isE2E(cfg) && !strings.Contains(log.String(), "ResNet weights from "+cfg.Network.ImagePretrained) {
		t.Errorf("the ResNet did not start from IMAGE_PRETRAINED:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "BERT weights from "+filepath.Join(cfg.Network.BertModelName, "pytorch_model.bin")) {
		t.Errorf("VisualLinguisticBert did not start from BERT_MODEL_NAME:\n%s", log.String())
	}
	if cfg.Train.FP16 && !strings.Contains(log.String(), "TRAIN.FP16 is true: training in float32") {
		t.Errorf("FP16 config: the log does not say it trains in float32:\n%s", log.String())
	}
	t.Logf("%d batches, loss %.4g, %v", res.State.Global, losses, res.Elapsed)
	exportPretrained(t, name, res.Checkpoint)
	checkPredictions(t, cfg, path, res.Checkpoint)
}

// checkPredictions runs the test split of cfg from ckpt and checks the
// leaderboard files: one row per test question (VQA test2015, VCR
// test.jsonl, neither labelled) or expression (RefCOCO+), each valid.
func checkPredictions(t *testing.T, cfg *config.Config, path, ckpt string) {
	ctx := context.Background()
	out := t.TempDir()
	switch cfg.Task {
	case config.TaskPretrain:
		// The original's pretrain/ has no test script: Predict refuses, and
		// the val split evaluates from the checkpoint.
		if _, err := Predict(ctx, cfg, path, ckpt, "test", out, InferenceOptions{}); err == nil || !strings.Contains(err.Error(), "pretraining has no test split") {
			t.Errorf("Predict on a pretraining config: %v", err)
		}
		val, names, err := Evaluate(ctx, cfg, ckpt, "val", InferenceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if v, ok := val[n]; !ok || !finiteMetric(n, v, val, "") {
				t.Errorf("val %s = %v (of %v)", n, v, val)
			}
		}
	case config.TaskVQA:
		files, err := Predict(ctx, cfg, path, ckpt, "test", out, InferenceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []struct {
			QuestionID int64  `json:"question_id"`
			Answer     string `json:"answer"`
		}
		readJSON(t, files[0], &got)
		var qs struct {
			Questions []struct {
				QuestionID int64 `json:"question_id"`
			} `json:"questions"`
		}
		readJSON(t, filepath.Join("data", "coco", "vqa", "v2_OpenEnded_mscoco_test2015_questions.json"), &qs)
		answers := map[string]bool{}
		for _, a := range readLines(t, cfg.Dataset().AnswerVocabFile) {
			answers[a] = true
		}
		if len(got) != len(qs.Questions) || len(got) == 0 {
			t.Fatalf("%s: %d answers for %d test2015 questions", files[0], len(got), len(qs.Questions))
		}
		for i, g := range got {
			if g.QuestionID != qs.Questions[i].QuestionID || !answers[g.Answer] {
				t.Fatalf("answer %d: %+v (question %d)", i, g, qs.Questions[i].QuestionID)
			}
		}
	case config.TaskVCR:
		files, err := Predict(ctx, cfg, path, ckpt, "test", out, InferenceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		test := readLines(t, filepath.Join(cfg.Dataset().DatasetPath, cfg.Dataset().TestAnnotationFile))
		rows := readCSV(t, files[0])
		cols := 1 + 4
		if cfg.Dataset().TaskName == "QA2R" {
			cols = 1 + 16
		}
		if len(rows) != 1+len(test) {
			t.Fatalf("%s: %d rows for %d test questions", files[0], len(rows)-1, len(test))
		}
		for i, r := range rows[1:] {
			if len(r) != cols || !strings.Contains(test[i], `"annot_id":"`+r[0]+`"`) {
				t.Fatalf("row %d: %v", i, r)
			}
			for g := 1; g < cols; g += 4 {
				sum := 0.0
				for _, f := range r[g : g+4] {
					v, err := strconv.ParseFloat(f, 64)
					if err != nil || !(v >= 0 && v <= 1) {
						t.Fatalf("row %d: %q", i, f)
					}
					sum += v
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Errorf("row %d: probabilities %v sum to %g", i, r[g:g+4], sum)
				}
			}
		}
	case config.TaskRefCOCO:
		// RefCOCO+ (unc) has no "test" split (testA, testB): predict val, as
		// `vlbert test --split val` does.
		cfg.Dataset().TestImageSet = "val"
		files, err := Predict(ctx, cfg, path, ckpt, "val", out, InferenceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []struct {
			RefID int64      `json:"ref_id"`
			Box   [4]float64 `json:"box"`
		}
		readJSON(t, files[0], &got)
		task := mustTask(t, cfg, "val")
		refs := len(innerOf(task).(*refcocoTask).samples["val"])
		if len(got) != refs || refs == 0 {
			t.Fatalf("%s: %d boxes for %d val expressions", files[0], len(got), refs)
		}
		for _, g := range got {
			if b := g.Box; !(b[0] >= 0 && b[1] >= 0 && b[2] >= b[0] && b[3] >= b[1] && b[2] < 64 && b[3] < 64) {
				t.Fatalf("ref %d: box %v", g.RefID, b)
			}
		}
	default:
		t.Fatalf("task %s", cfg.Task)
	}
}

// innerOf is the task an e2e task wraps, or task.
func innerOf(task Task) Task {
	if e := e2eOf(task); e != nil {
		return e.Task
	}
	return task
}

// TestLanguagePretrained: the BERT checkpoint a module starts from is
// BERT_PRETRAINED's '{}-{:04d}.model' first, then BERT_MODEL_NAME's
// pytorch_model.bin if the file exists, else none.
func TestLanguagePretrained(t *testing.T) {
	dir := t.TempDir()
	withBin := filepath.Join(dir, "bert")
	if err := os.MkdirAll(withBin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withBin, "pytorch_model.bin"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pretrained string
		epoch      int
		name, want string
	}{
		{"/m/bert", 3, withBin, "/m/bert-0003.model"},
		{"", 0, withBin, filepath.Join(withBin, "pytorch_model.bin")},
		{"", 0, dir, ""},
		{"", 0, "bert-base-uncased", ""},
	} {
		var cfg config.Config
		cfg.Network.BertPretrained, cfg.Network.BertPretrainedEpoch, cfg.Network.BertModelName = c.pretrained, c.epoch, c.name
		if got := languagePretrained(&cfg); got != c.want {
			t.Errorf("BERT_PRETRAINED %q epoch %d, BERT_MODEL_NAME %s: %q, want %q", c.pretrained, c.epoch, c.name, got, c.want)
		}
	}
}

// finiteMetric reports whether metric name's value v is finite, or NaN for
// the one legitimate reason: MVRCAccuracy over a split where no region was
// masked (its loss is 0), which the original's metric reports as NaN too
// (common/metrics/eval_metric.py EvalMetric.get with num_inst 0).
func finiteMetric(name string, v float64, all map[string]float64, prefix string) bool {
	if math.IsNaN(v) && name == prefix+"MVRCAccuracy" {
		return all[prefix+"MVRCLoss"] == 0
	}
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}

// valMetricsAt returns the Val-* metrics metrics.jsonl records at step.
func valMetricsAt(t *testing.T, outDir string, step int64) map[string]float64 {
	t.Helper()
	recs := readMetricsLog(t, outDir)
	out := map[string]float64{}
	for _, r := range recs {
		for k, v := range r.Metrics {
			if strings.HasPrefix(k, "Val-") && r.Step == step {
				out[k] = v
			}
		}
	}
	return out
}
