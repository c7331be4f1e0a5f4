package dettrain

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/data/coco"
	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/weights"
)

// writeToySet writes n 64x64 images with one or two filled squares on grey
// (class 1 red, class 2 blue; attribute 1 "small" or 2 "large") and their
// instances JSON, and returns the annotation path.
func writeToySet(t *testing.T, dir string, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(9, 9))
	d := coco.Dataset{Categories: []coco.Category{{ID: 1, Name: "red"}, {ID: 2, Name: "blue"}},
		Attributes: []coco.Category{{ID: 1, Name: "small"}, {ID: 2, Name: "large"}}}
	aid := int64(1)
	for i := 1; i <= n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 64, 64))
		for p := range img.Pix {
			img.Pix[p] = 200
		}
		var boxes [][4]int
		for k := 0; k < 1+rng.IntN(2); k++ {
			size := 18 + 10*rng.IntN(2)
			x, y := rng.IntN(64-size), rng.IntN(64-size)
			ok := true
			for _, b := range boxes {
				if x < b[2] && b[0] < x+size && y < b[3] && b[1] < y+size {
					ok = false
				}
			}
			if !ok {
				continue
			}
			boxes = append(boxes, [4]int{x, y, x + size, y + size})
			cls := 1 + rng.IntN(2)
			c := color.RGBA{220, 40, 40, 255}
			if cls == 2 {
				c = color.RGBA{40, 60, 220, 255}
			}
			for yy := y; yy < y+size; yy++ {
				for xx := x; xx < x+size; xx++ {
					img.SetRGBA(xx, yy, c)
				}
			}
			attr := 1
			if size > 20 {
				attr = 2
			}
			d.Annotations = append(d.Annotations, coco.Annotation{ID: aid, ImageID: int64(i), CategoryID: cls,
				BBox: [4]float64{float64(x), float64(y), float64(size), float64(size)}, AttributeIDs: []int{attr}})
			aid++
		}
		name := fmt.Sprintf("%d.png", i)
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		d.Images = append(d.Images, coco.Image{ID: int64(i), FileName: name, Width: 64, Height: 64})
	}
	b, _ := json.Marshal(d)
	path := filepath.Join(dir, "instances.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// toyConfig is the detector config shrunk to a toy.
func toyConfig(dir, ann string, iters int) *Config {
	root := filepath.Dir(ann)
	c := DefaultConfig()
	c.OutputPath, c.ModelPrefix, c.LogFrequent, c.CheckpointFrequent = filepath.Join(dir, "out"), "toy", 10, 0
	c.Dataset = Dataset{TrainAnnotations: ann, ValAnnotations: ann, ImageRoot: root}
	n := &c.Network
	n.StemWidth, n.Blocks, n.Bottleneck, n.Expansion = 8, []int{1, 1, 1, 1}, []int{4, 8, 16, 16}, 2
	n.RPNWidth, n.EmbedDim, n.AttrHidden, n.PooledSize = 16, 4, 16, 4
	// conv1 frozen as in train.prototxt: its input is pixels (about ±100),
	// whose gradients would swamp a from-scratch start.
	n.AnchorScales, n.AnchorRatios, n.Frozen = []float64{2.25, 3.5}, []float64{1}, []string{"conv1"}
	tr := &c.Train
	// The 64x64 images doubled: an 8x8 map at stride 16.
	tr.Scales, tr.MaxSize, tr.BatchSize, tr.RPNBatchSize = []int{128}, 128, 32, 32
	tr.RPNPreNMSTopN, tr.RPNPostNMSTopN, tr.RPNMinSize = 200, 50, 4
	te := &c.Test
	te.Scales, te.MaxSize, te.RPNPreNMSTopN, te.RPNPostNMSTopN, te.RPNMinSize = []int{128}, 128, 100, 20, 4
	c.Solver = Solver{BaseLR: 0.01, Momentum: 0.9, WeightDecay: 0.0005, Gamma: 0.1, StepSize: iters * 4 / 5, MaxIter: iters, Warmup: 20}
	return &c
}

func readLosses(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Metrics map[string]any `json:"metrics"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if v, ok := r.Metrics["Train-Loss"].(float64); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestToyDetectorLearns trains a toy-sized detector (the full network's
// code, small numbers) on eight images: the loss falls and boxes of the
// held-in objects are found with their classes.
func TestToyDetectorLearns(t *testing.T) {
	dir := t.TempDir()
	ann := writeToySet(t, dir, 8)
	cfg := toyConfig(dir, ann, 400)
	res, err := Run(context.Background(), cfg, "toy.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	losses := readLosses(t, filepath.Join(res.OutDir, "metrics.jsonl"))
	if len(losses) < 10 {
		t.Fatalf("%d loss records", len(losses))
	}
	first, last := losses[0], slices.Min(losses[len(losses)-5:])
	t.Logf("loss %.3f -> %.3f; eval %+v", first, last, res.Eval)
	if !(last < 0.5*first) {
		t.Errorf("loss fell from %.3f only to %.3f", first, last)
	}
	// An untrained detector finds nothing (mAP and recall 0); this toy finds
	// about half the objects with their class after 400 iterations (the
	// full-size measurement is in the package doc).
	if res.Eval == nil || res.Eval.Recall50 < 0.4 || res.Eval.MAP50 < 0.1 {
		t.Errorf("the trained toy detector finds too little: %+v", res.Eval)
	}
	for _, f := range []string{"toy-final.safetensors", "toy-latest.safetensors", "eval.json", "objects_vocab.txt"} {
		if _, err := os.Stat(filepath.Join(res.OutDir, f)); err != nil {
			t.Error(err)
		}
	}
	r, err := importer.ReadVlbert(res.Final)
	if err != nil || r.Config.NumClasses != 3 {
		t.Fatalf("exported detector: %v", err)
	}
	// `vlbert detect` runs it at the config's test size and proposals.
	if f := r.Flags; f.TestScale != cfg.Test.Scales[0] || f.TestMaxSize != cfg.Test.MaxSize || f.Proposals == nil || f.Proposals.PostNMSTopK != cfg.Test.RPNPostNMSTopN {
		t.Errorf("exported flags %+v, want the TEST settings %+v", f, cfg.Test)
	}
}

// TestResumeIsExact: 12 iterations, stopped after 5 and resumed, give the
// weights of 12 uninterrupted iterations bit for bit.
func TestResumeIsExact(t *testing.T) {
	dir := t.TempDir()
	ann := writeToySet(t, dir, 3)
	straight := toyConfig(filepath.Join(dir, "a"), ann, 12)
	straight.Dataset.ValAnnotations = ""
	if _, err := Run(context.Background(), straight, "toy.yaml", Options{}); err != nil {
		t.Fatal(err)
	}
	split := toyConfig(filepath.Join(dir, "b"), ann, 12)
	split.Dataset.ValAnnotations = ""
	res, err := Run(context.Background(), split, "toy.yaml", Options{StopAfter: 5})
	if err != nil || res.Iter != 5 || res.Final != "" {
		t.Fatalf("stop after 5: %+v, %v", res, err)
	}
	// TensorBoard event files are named by the second (as TensorFlow's):
	// a second run in the same directory must start in a later second.
	time.Sleep(1100 * time.Millisecond)
	if _, err := Run(context.Background(), split, "toy.yaml", Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	a, _, err := weights.ReadSafetensors(filepath.Join(dir, "a", "out", "toy", "toy-final.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := weights.ReadSafetensors(filepath.Join(dir, "b", "out", "toy", "toy-final.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range a {
		if !slices.Equal(v.F32, b[k].F32) {
			t.Fatalf("%s differs after resume", k)
		}
	}
	if _, err := Run(context.Background(), toyConfig(filepath.Join(dir, "c"), ann, 12), "toy.yaml", Options{Resume: true}); err == nil {
		t.Fatal("resume without a checkpoint: no error")
	}
}
