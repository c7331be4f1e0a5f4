package infer_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/infer/infertest"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
)

func loadVQA(t *testing.T, workers int) (*infer.Pipeline, *infertest.Scene) {
	t.Helper()
	return loadVQAWith(t, infer.Options{Workers: workers})
}

// loadVQAWith loads a fresh test checkpoint with o (its Checkpoint is set here).
func loadVQAWith(t *testing.T, o infer.Options) (*infer.Pipeline, *infertest.Scene) {
	t.Helper()
	dir := t.TempDir()
	ck, err := infertest.WriteVQA(dir, 7)
	if err != nil {
		t.Fatal(err)
	}
	o.Checkpoint = ck
	p, err := infer.Load(o)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := infertest.NewScene(0)
	if err != nil {
		t.Fatal(err)
	}
	return p, sc
}

func TestVQAFromSafetensors(t *testing.T) {
	p, sc := loadVQA(t, 1)
	if p.Task() != model.TaskVQA || len(p.Answers) != len(infertest.Answers()) {
		t.Fatalf("task %v, %d answers", p.Task(), len(p.Answers))
	}
	r, err := p.ParseFeatures("scene", sc.JSON)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.VQA(context.Background(), infertest.Question(sc.Scene), r, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Answers) != 5 {
		t.Fatalf("%d answers, want 5", len(res.Answers))
	}
	for i, a := range res.Answers {
		if a.Score <= 0 || a.Score >= 1 || math.Abs(a.Score-1/(1+math.Exp(-a.Logit))) > 1e-12 {
			t.Errorf("answer %d: score %g for logit %g", i, a.Score, a.Logit)
		}
		if i > 0 && a.Logit > res.Answers[i-1].Logit {
			t.Errorf("answers not sorted: %v", res.Answers)
		}
		if p.Answers[a.Index] != a.Answer {
			t.Errorf("answer %d: index %d is %q, not %q", i, a.Index, p.Answers[a.Index], a.Answer)
		}
	}
	if strings.Join(res.Tokens, " ") != strings.Join(p.Tok.Tokenize(infertest.Question(sc.Scene)), " ") {
		t.Errorf("tokens %v", res.Tokens)
	}
	// The answer depends on the regions: other features give other logits.
	r2, err := p.ParseFeatures("random", infertest.RandomRecord(3, 4, 96, 96, 2048))
	if err != nil {
		t.Fatal(err)
	}
	res2, err := p.VQA(context.Background(), infertest.Question(sc.Scene), r2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Answers) != len(p.Answers) {
		t.Fatalf("top-k 0 gave %d answers, want all %d", len(res2.Answers), len(p.Answers))
	}
	same := true
	for _, a := range res2.Answers {
		if a.Index == res.Answers[0].Index && a.Logit != res.Answers[0].Logit {
			same = false
		}
	}
	if same {
		t.Error("logits do not depend on the regions")
	}
}

// Concurrent requests on a pool of replicas give exactly the serial answers, in
// float32 and with the replicas sharing one set of int8 weights.
func TestVQAConcurrentMatchesSerial(t *testing.T) {
	for _, q8 := range []bool{false, true} {
		t.Run(fmt.Sprintf("int8=%v", q8), func(t *testing.T) { testConcurrentMatchesSerial(t, q8) })
	}
}

func testConcurrentMatchesSerial(t *testing.T, useInt8 bool) {
	p, _ := loadVQAWith(t, infer.Options{Workers: 4, Int8: useInt8})
	if p.Workers() != 4 || p.Int8 != useInt8 {
		t.Fatalf("%d workers, Int8 %v", p.Workers(), p.Int8)
	}
	qs := []string{"what color is the circle?", "how many squares are there?", "is there a red diamond?", "what shape is left of the triangle?"}
	var regs []*infer.Regions
	for i := range 3 {
		r, err := p.ParseFeatures("r", infertest.RandomRecord(uint64(i), 2+i, 64+16*i, 80, 2048))
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, r)
	}
	want := map[[2]int]float64{}
	for qi, q := range qs {
		for ri, r := range regs {
			res, err := p.VQA(context.Background(), q, r, 1)
			if err != nil {
				t.Fatal(err)
			}
			want[[2]int{qi, ri}] = res.Answers[0].Logit
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 4; k++ {
				qi, ri := (g+k)%len(qs), (g*k)%len(regs)
				res, err := p.VQA(context.Background(), qs[qi], regs[ri], 1)
				if err != nil {
					errs <- err
					return
				}
				if res.Answers[0].Logit != want[[2]int{qi, ri}] {
					errs <- errors.New("concurrent answer differs from the serial one")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// The workers share one read-only copy of the weights: every replica's parameter
// table is the same backing array, none has a gradient arena, and int8 layers are
// shared too. (TestVQAConcurrentMatchesSerial runs them at once; run it with -race.)
func TestReplicasShareWeights(t *testing.T) {
	for _, q8 := range []bool{false, true} {
		p, _ := loadVQAWith(t, infer.Options{Workers: 4, Int8: q8})
		ms := infer.Replicas(p)
		if len(ms) != 4 {
			t.Fatalf("%d replicas, want 4", len(ms))
		}
		first := ms[0].Base()
		for i, m := range ms {
			e := m.Base()
			if &e.Params.Data[0] != &first.Params.Data[0] || len(e.Params.Data) != len(first.Params.Data) {
				t.Errorf("int8 %v: replica %d holds its own copy of the weights", q8, i)
			}
			if e.Trainable() || e.Params.Grad != nil {
				t.Errorf("int8 %v: replica %d has a gradient arena", q8, i)
			}
			if e.Int8() != q8 {
				t.Errorf("replica %d: Int8 %v, want %v", i, e.Int8(), q8)
			}
		}
	}
}

func TestInputErrors(t *testing.T) {
	p, sc := loadVQA(t, 1)
	p.Limits.MaxRegions = 3
	p.Limits.MaxTokens = 6
	ctx := context.Background()
	good, err := p.ParseFeatures("ok", infertest.RandomRecord(1, 2, 50, 50, 2048))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, q string
		js      []byte
		want    string
	}{
		{"too many regions", "what?", infertest.RandomRecord(1, 4, 50, 50, 2048), "num_boxes"},
		{"wrong feature size", "what?", infertest.RandomRecord(1, 2, 50, 50, 1024), "features"},
		{"not json", "what?", []byte("{"), "unexpected end"},
		{"empty question", "  ", nil, "question is empty"},
		{"long question", "one two three four five six seven", nil, "over the limit of 6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good
			var err error
			if c.js != nil {
				r, err = p.ParseFeatures("req", c.js)
			}
			if err == nil {
				_, err = p.VQA(ctx, c.q, r, 1)
			}
			if !errors.Is(err, infer.ErrInput) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want ErrInput mentioning %q", err, c.want)
			}
		})
	}
	_ = sc
	// A cancelled context is not an input error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.VQA(cctx, "what?", good, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := p.Ground(ctx, "the red circle", good); !errors.Is(err, infer.ErrUnsupported) {
		t.Fatalf("ground on a VQA checkpoint: %v", err)
	}
	if _, err := p.VCR(ctx, "why?", []string{"a", "b", "c", "d"}, good); !errors.Is(err, infer.ErrUnsupported) {
		t.Fatalf("vcr on a VQA checkpoint: %v", err)
	}
	if _, err := p.RegionsFromImage(ctx, visual.NewRGBImage(8, 8), []float32{0, 0, 4, 4}); !errors.Is(err, infer.ErrUnsupported) {
		t.Fatalf("image without backbone: %v", err)
	}
}

func TestAttentionLabelsAndShapes(t *testing.T) {
	dir := t.TempDir()
	for _, task := range []string{"vqa", "pretrain"} {
		t.Run(task, func(t *testing.T) {
			var ck string
			var err error
			if task == "vqa" {
				ck, err = infertest.WriteVQA(dir, 1)
			} else {
				ck, err = infertest.WritePretrain(dir, 1)
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := infer.Load(infer.Options{Checkpoint: ck})
			if err != nil {
				t.Fatal(err)
			}
			r, err := p.ParseFeatures("r", infertest.RandomRecord(5, 3, 80, 60, 2048))
			if err != nil {
				t.Fatal(err)
			}
			a, err := p.Attention(context.Background(), "a red circle", r)
			if err != nil {
				t.Fatal(err)
			}
			wantTok := "[CLS] a red circle [SEP] [IMG] 1 2 3 [END]"
			if task == "vqa" {
				wantTok = "[CLS] a red circle [SEP] [MASK] [SEP] [IMG] 1 2 3 [END]"
			}
			if got := strings.Join(a.Tokens, " "); got != wantTok {
				t.Fatalf("labels %q, want %q", got, wantTok)
			}
			if a.Layers != 2 || a.Heads != 2 || a.NumRegions != 4 || a.NumText+a.NumRegions+1 != a.L {
				t.Fatalf("shape %d layers %d heads L %d text %d regions %d", a.Layers, a.Heads, a.L, a.NumText, a.NumRegions)
			}
			if len(a.Probs) != a.Layers*a.Heads*a.L*a.L {
				t.Fatalf("%d probabilities", len(a.Probs))
			}
			for row := 0; row < a.Layers*a.Heads*a.L; row++ {
				s := 0.0
				for _, v := range a.Probs[row*a.L : (row+1)*a.L] {
					s += float64(v)
				}
				if math.Abs(s-1) > 1e-4 {
					t.Fatalf("row %d sums to %g", row, s)
				}
			}
			if (task == "vqa") != (a.Answers != nil) {
				t.Errorf("answers %v", a.Answers)
			}
			if arr := a.NPY(); len(arr.Shape) != 4 || arr.Shape[2] != a.L {
				t.Errorf("npy shape %v", arr.Shape)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	ck, err := infertest.WriteVQA(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Answers file override: wrong length is caught.
	ans := filepath.Join(dir, "answers.txt")
	os.WriteFile(ans, []byte("yes\nno\n<unk>\n"), 0o644)
	if _, err := infer.Load(infer.Options{Checkpoint: ck, Answers: ans}); err == nil || !strings.Contains(err.Error(), "3 answers") {
		t.Fatalf("short answer file: %v", err)
	}
	full := filepath.Join(dir, "full.txt")
	os.WriteFile(full, []byte(strings.Join(infertest.Answers(), "\n")), 0o644)
	if _, err := infer.Load(infer.Options{Checkpoint: ck, Answers: full}); err != nil {
		t.Fatalf("answer file: %v", err)
	}
	// A config that does not match the weights.
	cfg := infertest.Config(config.TaskVQA, len(infertest.Answers()))
	cfg.Network.VLBERT.NumHiddenLayers = 3
	y, _ := cfg.Marshal()
	cp := filepath.Join(dir, "cfg.yaml")
	os.WriteFile(cp, y, 0o644)
	if _, err := infer.Load(infer.Options{Checkpoint: ck, Config: cp}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("mismatched config: %v", err)
	}
	// A training checkpoint (internal/train's layout: optimizer.* and trainer.*
	// tensors, trainer state in the metadata) loads too.
	sd, meta, err := weights.ReadSafetensors(ck)
	if err != nil {
		t.Fatal(err)
	}
	sd["optimizer.step"] = weights.NewI64([]int64{3, 3}, 2)
	sd["optimizer.exp_avg.final_mlp.2.bias"] = weights.NewF32(make([]float32, len(infertest.Answers())), len(infertest.Answers()))
	sd["trainer.pending_grad"] = weights.NewF32(make([]float32, 4), 4)
	meta["format"], meta["trainer"] = "vlbert-train", `{"epoch":1}`
	trainCk := filepath.Join(dir, "train.safetensors")
	if err := weights.WriteSafetensors(trainCk, sd, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := infer.Load(infer.Options{Checkpoint: trainCk}); err != nil {
		t.Fatalf("training checkpoint: %v", err)
	}
	// Without the config metadata, a config file is required.
	delete(meta, infer.MetaConfig)
	noCfg := filepath.Join(dir, "nocfg.safetensors")
	weights.WriteSafetensors(noCfg, sd, meta)
	if _, err := infer.Load(infer.Options{Checkpoint: noCfg}); err == nil || !strings.Contains(err.Error(), "--cfg") {
		t.Fatalf("no config: %v", err)
	}
	// Without answers metadata or file, VQA refuses to load.
	good := infertest.Config(config.TaskVQA, len(infertest.Answers()))
	gy, _ := good.Marshal()
	meta[infer.MetaConfig] = string(gy)
	delete(meta, infer.MetaAnswers)
	noAns := filepath.Join(dir, "noans.safetensors")
	weights.WriteSafetensors(noAns, sd, meta)
	if _, err := infer.Load(infer.Options{Checkpoint: noAns}); err == nil || !strings.Contains(err.Error(), "no answer list") {
		t.Fatalf("no answers: %v", err)
	}
	if _, err := infer.Load(infer.Options{Checkpoint: noAns, Answers: full}); err != nil {
		t.Fatalf("answers from a file: %v", err)
	}
	// Not a checkpoint.
	bad := filepath.Join(dir, "bad.model")
	os.WriteFile(bad, []byte("this is not a checkpoint at all"), 0o644)
	if _, err := infer.Load(infer.Options{Checkpoint: bad}); err == nil {
		t.Fatal("garbage loaded")
	}
	if _, err := infer.Load(infer.Options{Checkpoint: filepath.Join(dir, "nope")}); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestImagePath(t *testing.T) {
	if testing.Short() {
		t.Skip("visual network")
	}
	p, sc := loadVQA(t, 1)
	p.Config.Scales = []int{96, 160}
	vc, sd := infertest.TinyVisual()
	if err := p.SetVisual(vc, sd); err != nil {
		t.Fatal(err)
	}
	img, err := visual.DecodeImage(strings.NewReader(string(sc.PNG)))
	if err != nil {
		t.Fatal(err)
	}
	var boxes []float32
	for _, b := range sc.Boxes {
		boxes = append(boxes, b[:]...)
	}
	r, err := p.RegionsFromImage(context.Background(), img, boxes)
	if err != nil {
		t.Fatal(err)
	}
	if r.N() != len(sc.Boxes) || len(r.Features) != r.N()*2048 || len(r.ImageBoxFeature) != 2048 {
		t.Fatalf("regions %d, %d features", r.N(), len(r.Features))
	}
	nonzero := 0
	for _, v := range r.Features {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("all image features are zero")
	}
	res, err := p.VQA(context.Background(), infertest.Question(sc.Scene), r, 3)
	if err != nil || len(res.Answers) != 3 {
		t.Fatalf("vqa on image: %v %v", res, err)
	}
	if _, err := p.RegionsFromImage(context.Background(), img, []float32{5, 5, 1, 1}); !errors.Is(err, infer.ErrInput) {
		t.Fatalf("inverted box: %v", err)
	}
}

// An original PyTorch checkpoint (the golden small VQA model, legacy and zip
// torch.save) loads with its YAML config and an answer file.
func TestOriginalCheckpoint(t *testing.T) {
	dir := t.TempDir()
	var ans []string
	for i := 0; i < 63; i++ {
		ans = append(ans, fmt.Sprintf("answer %d", i))
	}
	ans = append(ans, "<unk>")
	af := filepath.Join(dir, "answers.txt")
	os.WriteFile(af, []byte(strings.Join(ans, "\n")), 0o644)
	for _, name := range []string{"vqa_ckpt_legacy.model", "vqa_ckpt_zip.model"} {
		ck := filepath.Join("..", "..", "testdata", "golden", name)
		cfg := filepath.Join("..", "..", "testdata", "golden", "vqa_small.yaml")
		if _, err := infer.Load(infer.Options{Checkpoint: ck, Answers: af}); err == nil || !strings.Contains(err.Error(), "--cfg") {
			t.Fatalf("%s without config: %v", name, err)
		}
		p, err := infer.Load(infer.Options{Checkpoint: ck, Config: cfg, Answers: af})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, err := p.ParseFeatures("r", infertest.RandomRecord(2, 3, 64, 48, 2048))
		if err != nil {
			t.Fatal(err)
		}
		// vocab_size is 3072 in this small model: "what is it" has ids below it.
		res, err := p.VQA(context.Background(), "what is it", r, 2)
		if err != nil || len(res.Answers) != 2 {
			t.Fatalf("%s: %v %v", name, res, err)
		}
		// A word outside the small vocabulary is the request's fault.
		if _, err := p.VQA(context.Background(), "what colour is the zebra", r, 2); !errors.Is(err, infer.ErrInput) {
			t.Fatalf("%s: out-of-vocabulary id: %v", name, err)
		}
	}
}

func TestGroundAndVCRCheckpoints(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	rec := infertest.RandomRecord(8, 4, 120, 90, 2048)

	ck, err := infertest.WriteRefCOCO(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	p, err := infer.Load(infer.Options{Checkpoint: ck})
	if err != nil {
		t.Fatal(err)
	}
	if p.Task() != model.TaskRefCOCO {
		t.Fatalf("task %v", p.Task())
	}
	r, err := p.ParseFeatures("r", rec)
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Ground(ctx, "the big red circle on the left", r)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Boxes) != 4 || g.ImageScore == nil {
		t.Fatalf("ground: %+v", g)
	}
	for i, b := range g.Boxes {
		if b.Index != i || b.Box != [4]float32(r.Boxes[4*i:4*i+4]) || b.Score <= 0 || b.Score >= 1 || b.Logit > g.Boxes[g.Best].Logit {
			t.Fatalf("box %d: %+v (best %d)", i, b, g.Best)
		}
	}
	a, err := p.Attention(ctx, "the red circle", r)
	if err != nil || strings.Join(a.Tokens, " ") != "[CLS] the red circle [SEP] [IMG] 1 2 3 4 [END]" {
		t.Fatalf("refcoco attention: %v %v", a, err)
	}
	if _, err := p.VQA(ctx, "what?", r, 1); !errors.Is(err, infer.ErrUnsupported) {
		t.Fatalf("vqa on refcoco: %v", err)
	}

	ck, err = infertest.WriteVCR(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = infer.Load(infer.Options{Checkpoint: ck}); err != nil {
		t.Fatal(err)
	}
	if p.Task() != model.TaskVCR {
		t.Fatalf("task %v", p.Task())
	}
	choices := []string{"he is waving hello", "because it is raining", "she wants the red ball", "nobody knows"}
	v, err := p.VCR(ctx, "why is the person raising a hand?", choices, r)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for i, c := range v.Choices {
		sum += c.Prob
		if c.Text != choices[i] || c.Logit > v.Choices[v.Best].Logit {
			t.Fatalf("choice %d: %+v", i, c)
		}
	}
	if len(v.Choices) != 4 || math.Abs(sum-1) > 1e-9 {
		t.Fatalf("vcr: %+v (sum %g)", v, sum)
	}
	// The choices are scored each on their own: swapping two swaps their logits.
	sw := []string{choices[1], choices[0], choices[2], choices[3]}
	v2, err := p.VCR(ctx, "why is the person raising a hand?", sw, r)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(v2.Choices[0].Logit-v.Choices[1].Logit) > 1e-5 || math.Abs(v2.Choices[1].Logit-v.Choices[0].Logit) > 1e-5 {
		t.Fatalf("swapped choices: %v vs %v", v2.Choices, v.Choices)
	}
	if _, err := p.VCR(ctx, "why?", choices[:3], r); !errors.Is(err, infer.ErrInput) {
		t.Fatalf("3 choices: %v", err)
	}
	if _, err := p.Attention(ctx, "why?", r); !errors.Is(err, infer.ErrUnsupported) {
		t.Fatalf("vcr attention: %v", err)
	}
}
