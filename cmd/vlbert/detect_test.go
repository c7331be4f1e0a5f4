package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/detect"
	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/detect/output"
	"github.com/vlbert/vlbert/internal/infer/infertest"
)

// detectTestConfig is a reduced-width detector (the names and layout of the
// published network at a small width), fast enough for tests.
func detectTestConfig() importer.Config {
	c := importer.Default()
	c.NumClasses, c.NumAttributes = 31, 11
	c.StemWidth = 8
	c.Blocks = [4]int{1, 1, 1, 1}
	c.Bottleneck = [4]int{4, 8, 16, 16}
	c.RPNWidth, c.EmbedDim, c.AttrHidden = 16, 8, 16
	return c
}

// detectFixture writes reduced random weights as vlbert detector
// safetensors and an image directory with two photos and a broken file.
func detectFixture(t *testing.T) (weightsPath, images string) {
	t.Helper()
	dir := t.TempDir()
	cfg := detectTestConfig()
	weightsPath = filepath.Join(dir, "detector.safetensors")
	r := &importer.Result{Format: importer.FormatVlbert, Path: weightsPath, Weights: detect.RandomWeights(cfg, 3),
		Config: cfg, Flags: importer.CaffeFlags()}
	if err := importer.WriteVlbert(weightsPath, r); err != nil {
		t.Fatal(err)
	}
	photo, err := os.ReadFile(filepath.Join("..", "..", "internal", "detect", "testdata", "chelsea_240x160.png"))
	if err != nil {
		t.Fatal(err)
	}
	images = filepath.Join(dir, "images")
	if err := os.Mkdir(images, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"COCO_val2014_000000000042.png": photo, "cat.png": photo, "broken.jpg": []byte("not a jpeg"),
		"notes.txt": []byte("ignored"),
	} {
		if err := os.WriteFile(filepath.Join(images, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return weightsPath, images
}

func TestDetectJSONResume(t *testing.T) {
	w, images := detectFixture(t)
	out := filepath.Join(t.TempDir(), "out")
	o := detectOptions{images: []string{images}, out: out, weights: w, format: formatVlbertJSON,
		rule: string(detect.RuleGenerateTSV), minBoxes: -1, maxBoxes: -1, conf: -1}
	var log bytes.Buffer
	err := runDetect(context.Background(), o, &log)
	if err == nil || !strings.Contains(err.Error(), "1 of 3 images could not be read") {
		t.Fatalf("first run: err %v, want one unreadable image\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "skipping "+filepath.Join(images, "broken.jpg")) || !strings.Contains(log.String(), "images/s, ETA") {
		t.Fatalf("log lacks the skipped image or the progress:\n%s", log.String())
	}
	stat := map[string]time.Time{}
	for stem, id := range map[string]string{"COCO_val2014_000000000042": "42", "cat": "cat"} {
		p := output.JSONPath(out, stem)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := output.CheckJSON(p, data)
		if err != nil || got != id {
			t.Fatalf("%s: image_id %s (%v), want %s", p, got, err, id)
		}
		st, _ := os.Stat(p)
		stat[p] = st.ModTime()
	}
	// The same command again: finished images are not redone.
	log.Reset()
	err = runDetect(context.Background(), o, &log)
	if err == nil || !strings.Contains(log.String(), "2 of 3 images already written") {
		t.Fatalf("resume: err %v\n%s", err, log.String())
	}
	for p, mt := range stat {
		if st, _ := os.Stat(p); !st.ModTime().Equal(mt) {
			t.Fatalf("%s was rewritten on resume", p)
		}
	}
	// Interrupted (Ctrl-C) before an image: nothing partial, a clear message.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := os.Remove(output.JSONPath(out, "cat")); err != nil {
		t.Fatal(err)
	}
	err = runDetect(ctx, o, &log)
	if err == nil || !strings.Contains(err.Error(), "rerun the same command to continue") {
		t.Fatalf("interrupted run: %v", err)
	}
}

func TestDetectTSVAndSingleFile(t *testing.T) {
	w, images := detectFixture(t)
	out := filepath.Join(t.TempDir(), "out")
	o := detectOptions{images: []string{filepath.Join(images, "cat.png"), filepath.Join(images, "COCO_val2014_000000000042.png")},
		out: out, weights: w, format: formatLXMERTTSV, rule: string(detect.RuleLXMERT36), minBoxes: -1, maxBoxes: -1, conf: -1}
	var log bytes.Buffer
	if err := runDetect(context.Background(), o, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	st, err := output.DoneTSV(filepath.Join(out, "detections.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 2 || !st.Done["cat"] || !st.Done["COCO_val2014_000000000042"] {
		t.Fatalf("TSV state %+v, want rows cat and COCO_val2014_000000000042", st)
	}
	if err := runDetect(context.Background(), o, &log); err != nil {
		t.Fatal(err)
	}
	if st, _ := output.DoneTSV(filepath.Join(out, "detections.tsv")); st.Rows != 2 {
		t.Fatalf("resume appended rows: %d", st.Rows)
	}
}

func TestDetectBadFlags(t *testing.T) {
	w, images := detectFixture(t)
	base := detectOptions{images: []string{images}, out: t.TempDir(), weights: w, format: formatVlbertJSON,
		rule: string(detect.RuleGenerateTSV), minBoxes: -1, maxBoxes: -1, conf: -1}
	for _, tc := range []struct {
		edit func(*detectOptions)
		want string
	}{
		{func(o *detectOptions) { o.weights = "" }, "--weights is required"},
		{func(o *detectOptions) { o.images = nil }, "--images is required"},
		{func(o *detectOptions) { o.format = "csv" }, `--format "csv"`},
		{func(o *detectOptions) { o.rule = "best" }, `unknown box selection rule "best"`},
		{func(o *detectOptions) { o.minBoxes, o.maxBoxes = 50, 20 }, "box counts 50..20"},
		{func(o *detectOptions) { o.conf = 2 }, "confidence threshold 2"},
		{func(o *detectOptions) { o.images = []string{filepath.Join(images, "missing.jpg")} }, "missing.jpg"},
		{func(o *detectOptions) { o.weights = filepath.Join(images, "broken.jpg") }, "--weights"},
	} {
		o := base
		tc.edit(&o)
		err := runDetect(context.Background(), o, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error with %q, got %v", tc.want, err)
		}
	}
}

// detector2048 writes a small detector whose pool5 features are 2048-d (the
// size VL-BERT takes): expansion 64 over tiny bottlenecks, res5 32 -> 2048.
func detector2048(t *testing.T, dir string) string {
	t.Helper()
	cfg := detectTestConfig()
	cfg.Expansion = 64
	cfg.Bottleneck = [4]int{1, 1, 1, 32}
	p := filepath.Join(dir, "detector2048.safetensors")
	r := &importer.Result{Format: importer.FormatVlbert, Path: p, Weights: detect.RandomWeights(cfg, 5), Config: cfg, Flags: importer.CaffeFlags()}
	if err := importer.WriteVlbert(p, r); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVQAImageDetector: a photo alone (no boxes, no features) answers a
// question end to end, the regions coming from the detector.
func TestVQAImageDetector(t *testing.T) {
	dir, ckpt, feats, _, _ := inferFixture(t)
	det := detector2048(t, dir)
	photo := filepath.Join("..", "..", "internal", "detect", "testdata", "chelsea_240x160.png")
	var out bytes.Buffer
	o := vqaOptions{inferFlags: inferFlags{ckpt: ckpt, image: photo, detector: det, maxRegions: 20, maxTokens: 64},
		question: "what color is the square?", topK: 3}
	if err := o.check("vqa", true); err != nil {
		t.Fatal(err)
	}
	if err := runVQA(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "regions: 20 (+ whole image)") || !strings.Contains(s, "rank  score") {
		t.Fatalf("output:\n%s", s)
	}
	// --detector excludes --boxes and --features; a detector with features
	// of the wrong size is refused with a clear error.
	for _, f := range []inferFlags{
		{ckpt: ckpt, image: photo, detector: det, boxes: "0,0,5,5"},
		{ckpt: ckpt, image: photo, detector: det, features: feats},
	} {
		if err := f.check("vqa", true); err == nil || !strings.Contains(err.Error(), "--detector") {
			t.Errorf("flags %+v: %v", f, err)
		}
	}
	small, _ := detectFixture(t)
	o.detector = small
	if err := runVQA(context.Background(), o, &out); err == nil || !strings.Contains(err.Error(), "64-d, VL-BERT takes 2048") {
		t.Fatalf("small detector: %v", err)
	}
}

// TestServeImageOnly: with --detector the server answers {"question", "image"}
// alone; without it the same request is a 400 that names --detector.
func TestServeImageOnly(t *testing.T) {
	dir, ckpt, _, _, _ := inferFixture(t)
	det := detector2048(t, dir)
	photo, err := os.ReadFile(filepath.Join("..", "..", "internal", "detect", "testdata", "chelsea_240x160.png"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"question": "what color is the square?", "image": base64.StdEncoding.EncodeToString(photo), "top_k": 2})
	for _, withDetector := range []bool{true, false} {
		o := serveOptions{inferFlags: inferFlags{ckpt: ckpt, maxRegions: 20, maxTokens: 64}, addr: "127.0.0.1:0", workers: 1,
			maxBody: 1 << 20, maxPixels: 1 << 20, requestTimeout: 30 * time.Second, quiet: true}
		if withDetector {
			o.detector = det
		}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		var stdout, stderr bytes.Buffer
		go func() { done <- runServe(ctx, o, &stdout, &stderr, ready) }()
		var addr string
		select {
		case addr = <-ready:
		case err := <-done:
			t.Fatalf("serve exited: %v", err)
		}
		resp, err := http.Post("http://"+addr+"/v1/vqa", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		switch {
		case withDetector && (resp.StatusCode != 200 || !strings.Contains(string(b), `"answers"`)):
			t.Fatalf("with --detector: %d %s", resp.StatusCode, b)
		case !withDetector && (resp.StatusCode != 400 || !strings.Contains(string(b), "--detector")):
			t.Fatalf("without --detector: %d %s", resp.StatusCode, b)
		}
		if withDetector && !strings.Contains(stdout.String(), "detector true") {
			t.Errorf("startup line: %s", stdout.String())
		}
	}
}

// TestDetectRanksSplit: under mpirun (its environment) two ranks split the
// image list, each appending its own TSV, together covering every image once.
func TestDetectRanksSplit(t *testing.T) {
	w, images := detectFixture(t)
	if err := os.Remove(filepath.Join(images, "broken.jpg")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	o := detectOptions{images: []string{images}, out: out, weights: w, format: formatLXMERTTSV,
		rule: string(detect.RuleGenerateTSV), minBoxes: -1, maxBoxes: -1, conf: -1, threads: 1}
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	all := map[string]bool{}
	for rank := range 2 {
		t.Setenv("OMPI_COMM_WORLD_RANK", string(rune('0'+rank)))
		var log bytes.Buffer
		if err := runDetect(context.Background(), o, &log); err != nil {
			t.Fatalf("rank %d: %v\n%s", rank, err, log.String())
		}
		st, err := output.DoneTSV(filepath.Join(out, "detections."+string(rune('0'+rank))+"-of-2.tsv"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Rows != 1 {
			t.Fatalf("rank %d wrote %d rows, want 1", rank, st.Rows)
		}
		for id := range st.Done {
			if all[id] {
				t.Fatalf("%s detected by both ranks", id)
			}
			all[id] = true
		}
	}
	if len(all) != 2 {
		t.Fatalf("ranks covered %v, want both images", all)
	}
	t.Setenv("OMPI_COMM_WORLD_RANK", "5")
	if err := runDetect(context.Background(), o, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "not a rank") {
		t.Fatalf("bad rank: %v", err)
	}
}

// TestVisualizeDetectorLabels: visualize --image --detector draws the
// detected boxes named by the Visual Genome vocabularies found beside the
// weights (here tiny ones: "thing1".."thing30", "attr1".."attr10").
func TestVisualizeDetectorLabels(t *testing.T) {
	dir, ckpt, _, _, _ := inferFixture(t)
	det := detector2048(t, dir)
	var objs, attrs strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&objs, "thing%d\n", i)
	}
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&attrs, "attr%d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "objects_vocab.txt"), []byte(objs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "attributes_vocab.txt"), []byte(attrs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "attention.html")
	o := visualizeOptions{inferFlags: inferFlags{ckpt: ckpt, image: filepath.Join("..", "..", "internal", "detect", "testdata", "chelsea_240x160.png"),
		detector: det, maxRegions: 12, maxTokens: 64}, text: "what color is the square?", out: out}
	if err := runVisualize(context.Background(), o, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `"Labels":["`) || !strings.Contains(string(html), "thing") {
		t.Fatalf("the page has no detected class labels")
	}
	// Without vocabularies: numeric labels.
	got := regionLabels([][]float32{{0.5, 0.1, 0.4}}, [][]float32{{0.1, 0.05, 0.85}}, nil, nil)
	if len(got) != 1 || got[0] != "#2 #2" {
		t.Fatalf("numeric labels %q, want [\"#2 #2\"]", got)
	}
}

// TestVQAImageNarrowDetector: a detector of 64-d pool5 features drives a
// VL-BERT checkpoint trained with NETWORK.IMAGE_FEAT_DIM=64 from the photo
// alone ("from pixels" with a small detector).
func TestVQAImageNarrowDetector(t *testing.T) {
	small, _ := detectFixture(t)
	ckpt, err := infertest.WriteVQAFeatDim(t.TempDir(), 5, 64)
	if err != nil {
		t.Fatal(err)
	}
	photo := filepath.Join("..", "..", "internal", "detect", "testdata", "chelsea_240x160.png")
	var out bytes.Buffer
	o := vqaOptions{inferFlags: inferFlags{ckpt: ckpt, image: photo, detector: small, maxRegions: 10, maxTokens: 64},
		question: "what color is the square?", topK: 3}
	if err := o.check("vqa", true); err != nil {
		t.Fatal(err)
	}
	if err := runVQA(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "rank  score") {
		t.Fatalf("output:\n%s", s)
	}
}
