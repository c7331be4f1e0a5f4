package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/tokenizer"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
)

const chelseaPath = "../../internal/visual/testdata/chelsea.jpg" // 451x300 CC0 photograph

// featTinyConfig is a small C4 network (128-d features) so that tests run in
// well under a second per image.
func featTinyConfig() *visual.Config {
	return &visual.Config{Blocks: [3]int{1, 1, 1}, HeadBlocks: 2, Width: 4, StrideIn1x1: true, C5Dilated: true,
		RoIAlign: visual.DefaultRoIAlign}
}

type osReader struct{}

func (osReader) ReadFile(p string) ([]byte, error) { return os.ReadFile(p) }

// featDir makes dir/images with the given files and dir/boxes.json.
func featDir(t *testing.T, files map[string][]byte, boxes string) (images, boxesPath, out string) {
	t.Helper()
	dir := t.TempDir()
	images = filepath.Join(dir, "images")
	for name, b := range files {
		p := filepath.Join(images, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(images, 0o755); err != nil {
		t.Fatal(err)
	}
	boxesPath = filepath.Join(dir, "boxes.json")
	if err := os.WriteFile(boxesPath, []byte(boxes), 0o644); err != nil {
		t.Fatal(err)
	}
	return images, boxesPath, filepath.Join(dir, "out")
}

func chelsea(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(chelseaPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tinyOpts runs the tiny network with --random-weights; images are resized to
// a short side of 120 (long side at most 200) to keep the tests fast, except in
// TestFeaturesRealPhotograph, which uses the original 600/1000.
func tinyOpts(images, boxes, out string) featuresOptions {
	return featuresOptions{images: images, boxes: boxes, out: out, randomWeights: true, dilated: true,
		headChunk: 2, netCfg: featTinyConfig(), tr: &visual.Transform{MinSize: 120, MaxSize: 200}}
}

// directFeatures extracts with the tiny network initialised by init.
func directFeatures(t *testing.T, init func(*visual.Network), tr visual.Transform, imgBytes []byte, boxes []float32) *visual.RegionFeatures {
	t.Helper()
	net := visual.NewNetwork(*featTinyConfig())
	init(net)
	img, err := visual.DecodeImage(bytes.NewReader(imgBytes))
	if err != nil {
		t.Fatal(err)
	}
	ex := visual.NewExtractor(net)
	ex.Transform = tr
	res, err := ex.Extract(img, boxes)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestFeaturesRealPhotograph(t *testing.T) {
	jpg := chelsea(t)
	images, boxes, out := featDir(t, map[string][]byte{"chelsea.jpg": jpg},
		`{"chelsea.jpg": [[10, 20, 200, 250], [150, 50, 440, 299], [-30, 100, 480.5, 350]]}`)
	var stdout bytes.Buffer
	opts := tinyOpts(images, boxes, out)
	opts.tr = nil // the original 600/1000 preprocessing
	if err := runFeatures(context.Background(), opts, &stdout); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "1/1 images") || !strings.Contains(stdout.String(), "RANDOM weights") {
		t.Errorf("progress output %q", stdout.String())
	}
	path := filepath.Join(out, "chelsea.json")
	rec, err := features.LoadJSON(osReader{}, path, features.Options{Features: true, FeatureDim: 128})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ImageID != 0 || rec.ImageW != 451 || rec.ImageH != 300 || rec.NumBoxes != 3 || rec.FeatureDim != 128 {
		t.Fatalf("record id %d, %dx%d, %d boxes, dim %d", rec.ImageID, rec.ImageW, rec.ImageH, rec.NumBoxes, rec.FeatureDim)
	}
	wantBoxes := []float32{10, 20, 200, 250, 150, 50, 440, 299, 0, 100, 450, 299} // the last one clamped
	if !slices.Equal(rec.Boxes, wantBoxes) {
		t.Fatalf("boxes %v, want %v", rec.Boxes, wantBoxes)
	}
	want := directFeatures(t, func(n *visual.Network) { n.InitRandom(1) }, visual.DefaultTransform(), jpg, wantBoxes)
	if !slices.Equal(rec.Features, want.Features) {
		t.Fatal("written features differ from a direct extraction")
	}
	// The file has exactly the bottom-up fields.
	var fields map[string]json.RawMessage
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	if want := []string{"boxes", "features", "image_h", "image_id", "image_w", "num_boxes"}; !slices.Equal(names, want) {
		t.Fatalf("fields %v, want %v", names, want)
	}
	// A single image file works too.
	out2 := filepath.Join(t.TempDir(), "o")
	o := tinyOpts(filepath.Join(images, "chelsea.jpg"), boxes, out2)
	o.tr = nil
	if err := runFeatures(context.Background(), o, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out2, "chelsea.json")); !bytes.Equal(b, raw) {
		t.Fatal("single-file mode wrote a different file")
	}
}

// TestFeaturesVQALayout writes COCO-named images with --name-by-id and reads
// them back through the VQA dataset in precomputed mode; a second run resumes.
func TestFeaturesVQALayout(t *testing.T) {
	jpg := chelsea(t)
	images, boxes, out := featDir(t, map[string][]byte{
		"COCO_val2014_000000000042.jpg": jpg, "COCO_val2014_000000000007.jpg": jpg},
		`{"COCO_val2014_000000000042.jpg": [[0, 0, 100, 100], [50, 60, 300, 290]],
		  "COCO_val2014_000000000007.jpg": [[10, 10, 20, 20]]}`)
	o := tinyOpts(images, boxes, out)
	o.nameByID = true
	if err := runFeatures(context.Background(), o, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	d := &vqa.Dataset{
		Entries:     []vqa.Entry{{QuestionID: 1, ImageID: 42, Question: "what animal is this?"}, {QuestionID: 2, ImageID: 7, Question: "is it a cat?"}},
		Tok:         tokenizer.Default(true),
		FS:          osReader{},
		BoxFile:     func(e *vqa.Entry) string { return filepath.Join(out, strconv.FormatInt(e.ImageID, 10)+".json") },
		Precomputed: true, AddImageBox: true, TestMode: true,
		Transform: data.BoxTransform{MinSize: 600, MaxSize: 1000},
		Features:  features.Options{Features: true, FeatureDim: 128},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, wantBoxes := range []int{2, 1} {
		ex, err := d.Example(i, rng)
		if err != nil {
			t.Fatal(err)
		}
		if ex.NumBoxes != wantBoxes+1 || ex.BoxDim != 4+128 {
			t.Fatalf("example %d: %d boxes of dim %d, want %d (with the image box) of 132", i, ex.NumBoxes, ex.BoxDim, wantBoxes+1)
		}
	}
	rec, err := features.LoadJSON(osReader{}, filepath.Join(out, "42.json"), features.Options{Features: true, FeatureDim: -1})
	if err != nil || rec.ImageID != 42 {
		t.Fatalf("42.json: %v, image_id %v", err, rec)
	}
	// Resume: existing files are kept unless --overwrite.
	before, _ := os.ReadFile(filepath.Join(out, "7.json"))
	if err := os.WriteFile(filepath.Join(out, "7.json"), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := runFeatures(context.Background(), o, &stdout); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "2 already done") {
		t.Errorf("resume output %q", stdout.String())
	}
	if b, _ := os.ReadFile(filepath.Join(out, "7.json")); string(b) != "stale" {
		t.Fatal("an existing file was rewritten without --overwrite")
	}
	o.overwrite = true
	if err := runFeatures(context.Background(), o, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "7.json")); !bytes.Equal(b, before) {
		t.Fatal("--overwrite did not recompute the file identically")
	}
}

// TestFeaturesCheckpointKeys loads the same weights from an e2e-style
// safetensors file (module. prefix, head.0.* keys) and from a raw ResNet state
// dict (conv1, layer1..layer4) and checks both give the direct features.
func TestFeaturesCheckpointKeys(t *testing.T) {
	jpg := chelsea(t)
	images, boxes, out := featDir(t, map[string][]byte{"cat.jpg": jpg}, `{"cat.jpg": [[20, 30, 220, 280], [0, 0, 450, 299]]}`)
	src := visual.NewNetwork(*featTinyConfig())
	src.InitRandom(5)
	e2e := map[string]*weights.Tensor{"module.vlbert.word_embeddings.weight": weights.NewF32(make([]float32, 6), 2, 3)}
	raw := map[string]*weights.Tensor{"fc.weight": weights.NewF32(make([]float32, 4), 2, 2)}
	for _, p := range src.Params.Params {
		t32 := weights.NewF32(slices.Clone(p.Data), p.Shape...)
		name := p.Name
		if rest, ok := strings.CutPrefix(name, "roi_head_feature_extractor."); ok {
			e2e["module.image_feature_extractor.head.0."+rest] = t32
			raw["layer4."+rest] = t32
		} else {
			e2e["module.image_feature_extractor."+name] = t32
			raw[strings.TrimPrefix(name, "backbone.")] = t32
		}
	}
	raw["bn1.num_batches_tracked"] = weights.NewI64([]int64{0})
	dir := t.TempDir()
	want := directFeatures(t, func(n *visual.Network) { copy(n.Params.Data, src.Params.Data) }, *tinyOpts("", "", "").tr, jpg,
		[]float32{20, 30, 220, 280, 0, 0, 450, 299})
	for name, sd := range map[string]map[string]*weights.Tensor{"e2e": e2e, "raw": raw} {
		ck := filepath.Join(dir, name+".safetensors")
		if err := weights.WriteSafetensors(ck, sd, nil); err != nil {
			t.Fatal(err)
		}
		o := tinyOpts(images, boxes, filepath.Join(out, name))
		o.randomWeights, o.ckpt = false, ck
		if err := runFeatures(context.Background(), o, &bytes.Buffer{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rec, err := features.LoadJSON(osReader{}, filepath.Join(out, name, "cat.json"), features.Options{Features: true, FeatureDim: 128})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rec.Features, want.Features) {
			t.Fatalf("%s checkpoint: features differ from the source network's", name)
		}
	}
	// A checkpoint without visual weights, and one with some missing.
	noVis := filepath.Join(dir, "novis.safetensors")
	if err := weights.WriteSafetensors(noVis, map[string]*weights.Tensor{"vlbert.x": weights.NewF32([]float32{1}, 1)}, nil); err != nil {
		t.Fatal(err)
	}
	delete(raw, "layer4.1.conv2.weight")
	partial := filepath.Join(dir, "partial.safetensors")
	if err := weights.WriteSafetensors(partial, raw, nil); err != nil {
		t.Fatal(err)
	}
	for ck, msg := range map[string]string{noVis: "has no visual network weights", partial: "roi_head_feature_extractor.1.conv2.weight",
		filepath.Join(dir, "absent.model"): "no such file"} {
		o := tinyOpts(images, boxes, filepath.Join(out, "x"))
		o.randomWeights, o.ckpt = false, ck
		err := runFeatures(context.Background(), o, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: error %v, want one containing %q", filepath.Base(ck), err, msg)
		}
	}
}

// pngHeader is a PNG signature and IHDR chunk claiming w x h (8-bit RGB), with
// no pixel data.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12], ihdr[13] = 8, 2 // bit depth, colour type RGB
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return b.Bytes()
}

func onePixelPNG(t *testing.T) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.NRGBA{200, 100, 50, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFeaturesBadInputs(t *testing.T) {
	jpg := chelsea(t)
	cases := []struct {
		name  string
		files map[string][]byte
		boxes string
		err   string // "" = success
	}{
		{"missing image", map[string][]byte{"a.jpg": jpg}, `{"a.jpg": [[0,0,5,5]], "b.jpg": [[0,0,5,5]]}`, "b.jpg: listed in --boxes but missing on disk"},
		{"not an image", map[string][]byte{"a.jpg": []byte("hello, not a jpeg")}, `{"a.jpg": [[0,0,5,5]]}`, "a.jpg: not a readable JPEG or PNG"},
		{"huge header", map[string][]byte{"big.png": pngHeader(20000, 20000)}, `{"big.png": [[0,0,5,5]]}`, "20000x20000 pixels"},
		{"x2<x1", map[string][]byte{"a.jpg": jpg}, `{"a.jpg": [[0,0,5,5], [100,0,50,40]]}`, "a.jpg: box 1"},
		{"outside", map[string][]byte{"a.jpg": jpg}, `{"a.jpg": [[500,0,600,40]]}`, "wholly outside the 451x300 image"},
		{"empty list", map[string][]byte{"a.jpg": jpg}, `{"a.jpg": []}`, "a.jpg: no boxes"},
		{"three numbers", map[string][]byte{"a.jpg": jpg}, `{"a.jpg": [[0,0,5]]}`, `image "a.jpg" box 0 has 3 numbers`},
		{"not an object", map[string][]byte{"a.jpg": jpg}, `[[0,0,5,5]]`, "want a JSON object"},
		{"no images", map[string][]byte{"a.jpg": jpg}, `{}`, "lists no images"},
		{"escape", map[string][]byte{"a.jpg": jpg}, `{"../a.jpg": [[0,0,5,5]]}`, "not a path inside --images"},
		{"collision", map[string][]byte{"a.jpg": jpg, "a.png": onePixelPNG(t)}, `{"a.jpg": [[0,0,5,5]], "a.png": [[0,0,0,0]]}`, "would both be written"},
		{"truncated", map[string][]byte{"good.jpg": jpg, "trunc.jpg": jpg[:len(jpg)*2/3]},
			`{"good.jpg": [[0,0,5,5]], "trunc.jpg": [[0,0,5,5]]}`, "1 of 2 images failed"},
		{"1x1 image", map[string][]byte{"dot.png": onePixelPNG(t), "sub/c.jpg": jpg}, `{"dot.png": [[0,0,3,3]], "sub/c.jpg": [[1,1,2,2]]}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			images, boxes, out := featDir(t, c.files, c.boxes)
			err := runFeatures(context.Background(), tinyOpts(images, boxes, out), &bytes.Buffer{})
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
		})
	}
	// The truncated image does not stop the others; the 1x1 image's box is clamped.
	images, boxes, out := featDir(t, map[string][]byte{"good.jpg": jpg, "trunc.jpg": jpg[:len(jpg)*2/3], "dot.png": onePixelPNG(t)},
		`{"good.jpg": [[0,0,5,5]], "trunc.jpg": [[0,0,5,5]], "dot.png": [[0,0,3,3]]}`)
	if err := runFeatures(context.Background(), tinyOpts(images, boxes, out), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "trunc.jpg") {
		t.Fatalf("error %v does not name trunc.jpg", err)
	}
	if _, err := os.Stat(filepath.Join(out, "good.json")); err != nil {
		t.Fatal("good.jpg was not written next to a truncated image")
	}
	if _, err := os.Stat(filepath.Join(out, "trunc.json")); err == nil {
		t.Fatal("a file was written for the truncated image")
	}
	rec, err := features.LoadJSON(osReader{}, filepath.Join(out, "dot.json"), features.Options{Features: true, FeatureDim: 128})
	if err != nil || rec.ImageW != 1 || rec.ImageH != 1 || !slices.Equal(rec.Boxes, []float32{0, 0, 0, 0}) {
		t.Fatalf("1x1 image record %+v, %v", rec, err)
	}
}

func TestFeaturesFlags(t *testing.T) {
	jpg := chelsea(t)
	images, boxes, out := featDir(t, map[string][]byte{"a.jpg": jpg}, `{"a.jpg": [[0,0,5,5]]}`)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--images", images, "--boxes", boxes, "--out", out}, 2, "features of random weights are useless"},
		{[]string{"--images", images, "--boxes", boxes}, 2, "--out is required"},
		{[]string{"--images", images, "--boxes", boxes, "--out", out, "--ckpt", "x", "--random-weights"}, 2, "exclude each other"},
		{[]string{"--images", images, "--boxes", boxes, "--out", out, "--ckpt", filepath.Join(out, "none.model")}, 1, "none.model"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"features"}, c.args...), &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.msg)
		}
	}
}

func TestImageIDs(t *testing.T) {
	for _, c := range []struct {
		keys []string
		want []int64
	}{
		{[]string{"12.jpg", "7.png"}, []int64{12, 7}},
		{[]string{"COCO_val2014_000000000042.jpg", "COCO_val2014_000000000007.jpg"}, []int64{42, 7}},
		{[]string{"a.jpg", "12.jpg"}, []int64{0, 1}},
		{[]string{"x_1.jpg", "y_1.jpg"}, []int64{0, 1}}, // duplicate numbers: indices
		{[]string{"-3.jpg"}, []int64{0}},
		{[]string{"+3.jpg"}, []int64{0}},
		{[]string{"d/5.jpg"}, []int64{5}},
	} {
		if got := imageIDs(c.keys); !slices.Equal(got, c.want) {
			t.Errorf("imageIDs(%v) = %v, want %v", c.keys, got, c.want)
		}
	}
}

func FuzzParseBoxes(f *testing.F) {
	f.Add([]byte(`{"a.jpg": [[0, 0, 5, 5]]}`))
	f.Add([]byte(`{"a.jpg": [[0, 0, 5]], "b": []}`))
	f.Add([]byte(`{"a": [[1e300, 0, 5, 5]]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseBoxes("fuzz", data)
		if err != nil {
			return
		}
		for k, b := range m {
			if len(b)%4 != 0 || len(b)/4 > visual.MaxExtractBoxes {
				t.Fatalf("%q: %d coordinates accepted", k, len(b))
			}
			// Whatever was accepted, CheckBoxes must not panic on it.
			_, _ = visual.CheckBoxes(b, 100, 100)
		}
	})
}

func TestFeaturesCancelled(t *testing.T) {
	images, boxes, out := featDir(t, map[string][]byte{"a.jpg": chelsea(t)}, `{"a.jpg": [[0,0,5,5]]}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := runFeatures(ctx, tinyOpts(images, boxes, out), &bytes.Buffer{})
	if err != context.Canceled {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(out, "a.json")); err == nil {
		t.Fatal("a cancelled run wrote a file")
	}
}

func TestImageProgressTerminal(t *testing.T) {
	var b bytes.Buffer
	p := &imageProgress{w: &b, terminal: true, what: "features", total: 2}
	p.step()
	p.line("features: x.jpg: skipped")
	p.step()
	p.finish()
	s := b.String()
	if strings.Count(s, "\r\033[K") < 3 || !strings.Contains(s, "2/2 images") || !strings.HasSuffix(s, "\n") ||
		!strings.Contains(s, "[==============================]") || !strings.Contains(s, "x.jpg: skipped\n") {
		t.Fatalf("terminal output %q", s)
	}
	b.Reset()
	p = &imageProgress{w: &b, what: "features", total: 1}
	p.step()
	p.finish()
	if strings.Contains(b.String(), "\r") || !strings.Contains(b.String(), "1/1 images") {
		t.Fatalf("plain output %q", b.String())
	}
}

// TestFeaturesMatchPyTorch runs `vlbert features` end to end (PNG decode, PIL
// resize to 900x600, BGR/means, backbone, legacy RoIAlign, dilated head) with
// the tiny network's original-format checkpoints, the raw ResNet state dict
// (legacy torch.save) and the e2e checkpoint (zip format, head registered
// twice), against PyTorch's features (internal/visual/testdata/make_tiny_ckpt.py).
func TestFeaturesMatchPyTorch(t *testing.T) {
	const td = "../../internal/visual/testdata/"
	smallPNG, err := os.ReadFile(td + "chelsea_small.png")
	if err != nil {
		t.Fatal(err)
	}
	want, err := npy.ReadFile(td + "tiny_feats.npy")
	if err != nil {
		t.Fatal(err)
	}
	images, boxes, out := featDir(t, map[string][]byte{"small.png": smallPNG},
		`{"small.png": [[5, 4, 60.5, 50], [30, 10, 89, 59], [0, 0, 89, 59]]}`)
	for _, ck := range []string{"tiny_resnet.model", "tiny_e2e.model"} {
		o := tinyOpts(images, boxes, filepath.Join(out, ck))
		o.tr, o.randomWeights, o.ckpt = nil, false, td+ck
		if err := runFeatures(context.Background(), o, &bytes.Buffer{}); err != nil {
			t.Fatalf("%s: %v", ck, err)
		}
		rec, err := features.LoadJSON(osReader{}, filepath.Join(out, ck, "small.json"), features.Options{Features: true, FeatureDim: 128})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(want.Shape, []int{rec.NumBoxes, rec.FeatureDim}) {
			t.Fatalf("%s: features [%d, %d], PyTorch %v", ck, rec.NumBoxes, rec.FeatureDim, want.Shape)
		}
		var worst, scale float64
		for i, v := range rec.Features {
			worst = max(worst, math.Abs(float64(v)-float64(want.F32[i])))
			scale = max(scale, math.Abs(float64(want.F32[i])))
		}
		if worst > 1e-5*scale+1e-6 {
			t.Fatalf("%s: max |Go − PyTorch| = %g (largest feature %g)", ck, worst, scale)
		}
		t.Logf("%s: max |Go − PyTorch| = %.3g, largest feature %.3g", ck, worst, scale)
	}
}

// TestFeaturesUndilatedHead runs the stride-2 res5 head (--c5-dilated=false:
// 7x7 output, AvgPool 7) and checks it differs from the dilated one.
func TestFeaturesUndilatedHead(t *testing.T) {
	images, boxes, out := featDir(t, map[string][]byte{"a.jpg": chelsea(t)}, `{"a.jpg": [[10, 10, 200, 200]]}`)
	var recs []*features.Record
	for _, dilated := range []bool{true, false} {
		o := tinyOpts(images, boxes, filepath.Join(out, strconv.FormatBool(dilated)))
		o.dilated = dilated
		if err := runFeatures(context.Background(), o, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		rec, err := features.LoadJSON(osReader{}, filepath.Join(out, strconv.FormatBool(dilated), "a.json"), features.Options{Features: true, FeatureDim: 128})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if slices.Equal(recs[0].Features, recs[1].Features) {
		t.Fatal("dilated and undilated heads gave the same features")
	}
}
