package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/infer/infertest"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/visual"
)

// shrunkVisConfig is cfgs/pretrain/vis_attention_maps_coco.yaml with the same
// switches, a 2-layer 32-wide network, small SCALES and the fixture's data path.
func shrunkVisConfig(t *testing.T, dataPath string, seqLen int) string {
	t.Helper()
	b, err := os.ReadFile("../../internal/config/testdata/cfgs/pretrain/vis_attention_maps_coco.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, r := range [][2]string{
		{"DATASET_PATH: './data/coco'", fmt.Sprintf("DATASET_PATH: '%s'\n  SEQ_LEN: %d", dataPath, seqLen)},
		{"- 600\n- 1000", "- 64\n- 100"},
		{"IMAGE_FINAL_DIM: 768", "IMAGE_FINAL_DIM: 32"},
		{"visual_size: 768", "visual_size: 32"},
		{"hidden_size: 768", "hidden_size: 32"},
		{"num_hidden_layers: 12", "num_hidden_layers: 2"},
		{"num_attention_heads: 12", "num_attention_heads: 2"},
		{"intermediate_size: 3072", "intermediate_size: 64"},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("shipped config lacks %q", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	path := filepath.Join(t.TempDir(), "vis_attention_maps_coco.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeCocoCaptions lays out a three-image val set in the coco_captions layout;
// image 7 has no instance (dropped, as the original). It returns the kept ids.
func writeCocoCaptions(t *testing.T) (string, []int64) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"annotations", "val2017"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	type im struct {
		ID       int64  `json:"id"`
		FileName string `json:"file_name"`
		Width    int    `json:"width"`
		Height   int    `json:"height"`
	}
	var ims []im
	var anns []map[string]any
	var caps []map[string]any
	for i, id := range []int64{42, 7, 5} {
		sc, err := infertest.NewScene(i)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%012d.png", id)
		if err := os.WriteFile(filepath.Join(dir, "val2017", name), sc.PNG, 0o644); err != nil {
			t.Fatal(err)
		}
		ims = append(ims, im{id, name, sc.Scene.Width, sc.Scene.Height})
		caps = append(caps, map[string]any{"id": 100 + i, "image_id": id, "caption": "a red circle next to a square"},
			map[string]any{"id": 200 + i, "image_id": id, "caption": "never read"})
		if id == 7 {
			continue
		}
		for k, b := range sc.Boxes {
			anns = append(anns, map[string]any{"id": 1000*id + int64(k), "image_id": id, "category_id": 1 + 2*k,
				"bbox": []float32{b[0], b[1], b[2] - b[0] + 1, b[3] - b[1] + 1}, "area": 1})
		}
	}
	var cats []map[string]any
	for c := 1; c <= 80; c++ {
		cats = append(cats, map[string]any{"id": c, "name": fmt.Sprint("c", c)})
	}
	for name, v := range map[string]any{
		"captions_val2017.json":  map[string]any{"images": ims, "annotations": caps},
		"instances_val2017.json": map[string]any{"images": ims, "annotations": anns, "categories": cats},
	} {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(dir, "annotations", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, []int64{5, 42}
}

// visCheckpoint writes a random pretraining checkpoint (heads included, as the
// vl-bert-base-e2e.model the original loads into ResNetVLBERTForAttentionVis)
// of the shrunk config's network.
func visCheckpoint(t *testing.T, cfgPath string) string {
	t.Helper()
	cfg, err := config.Load(cfgPath, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Module != attentionVisModule || cfg.Dataset().Dataset != "coco_captions" || cfg.Network.ImageFeatPrecomputed {
		t.Fatalf("config %s: module %s dataset %s", cfgPath, cfg.Module, cfg.Dataset().Dataset)
	}
	cfg.Module = "ResNetVLBERTForPretraining"
	cfg.Network.WithMLMLoss, cfg.Network.WithMVRCLoss = true, true
	mc, err := model.FromConfigE2E(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	m.Base().InitWeights(3)
	if _, ok := m.Base().Params.Lookup("object_mask_word_embedding.weight"); !ok {
		t.Fatal("the pretraining checkpoint has no head-side keys; the partial load is not exercised")
	}
	for _, q := range m.Base().Params.List { // visual_scale init 0 would hide the regions
		if strings.HasSuffix(q.Name, "visual_ln_text.weight") || strings.HasSuffix(q.Name, "visual_ln_object.weight") {
			for i := range m.Base().Params.View(q.Name) {
				m.Base().Params.View(q.Name)[i] = 1
			}
		}
	}
	path := filepath.Join(t.TempDir(), "vis.safetensors")
	if err := infer.SaveCheckpoint(path, m.Base(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVisualizeDataset(t *testing.T) {
	if testing.Short() {
		t.Skip("visual network")
	}
	data, ids := writeCocoCaptions(t)
	for _, seqLen := range []int{64, 9} { // 9 truncates the text (and the boxes where they outnumber it)
		t.Run(fmt.Sprint("seq_len_", seqLen), func(t *testing.T) {
			cfgPath := shrunkVisConfig(t, data, seqLen)
			ckpt := visCheckpoint(t, cfgPath)
			o := inferFlags{ckpt: ckpt, cfg: cfgPath, maxRegions: 100, maxTokens: 64}
			p, err := o.load(1)
			if err != nil {
				t.Fatal(err)
			}
			vc, sd := infertest.TinyVisual()
			if err := p.SetVisual(vc, sd); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "maps")
			var stdout, stderr bytes.Buffer
			if err := runVisualizeDataset(context.Background(), p, out, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(out, "attention_probs", "*.npy"))
			if len(files) != len(ids) {
				t.Fatalf("files %v, want ids %v", files, ids)
			}
			for _, id := range ids {
				checkDumped(t, p, data, out, id, seqLen)
			}
		})
	}
}

func checkDumped(t *testing.T, p *infer.Pipeline, data, out string, id int64, seqLen int) {
	t.Helper()
	arr, err := npy.ReadFile(filepath.Join(out, "attention_probs", fmt.Sprint(id, ".npy")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "html", fmt.Sprint(id, ".html"))); err != nil {
		t.Fatal(err)
	}
	sc, err := infertest.NewScene(map[int64]int{42: 0, 5: 2}[id])
	if err != nil {
		t.Fatal(err)
	}
	// "a red circle next to a square": 7 wordpieces + [CLS] [SEP]; [IMG] + boxes; [END].
	nText, nBox := 9, 1+len(sc.Boxes)
	for nText+nBox > seqLen {
		if nBox > nText {
			nBox--
		} else {
			nText--
		}
	}
	L := nText + nBox + 1
	if len(arr.Shape) != 4 || arr.Shape[0] != 2 || arr.Shape[1] != 2 || arr.Shape[2] != L || arr.Shape[3] != L {
		t.Fatalf("image %d: shape %v, want [2 2 %d %d]", id, arr.Shape, L, L)
	}
	probs := arr.F32
	for row := 0; row < len(probs)/L; row++ {
		s := 0.0
		for _, v := range probs[row*L : (row+1)*L] {
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-4 {
			t.Fatalf("image %d: row %d sums to %g", id, row, s)
		}
	}
	if seqLen < 64 {
		return
	}
	// Untruncated, the dump is vlbert's own attention for the same input.
	fh, err := os.Open(filepath.Join(data, "val2017", fmt.Sprintf("%012d.png", id)))
	if err != nil {
		t.Fatal(err)
	}
	img, err := visual.DecodeImage(fh)
	fh.Close()
	if err != nil {
		t.Fatal(err)
	}
	var boxes []float32
	for _, b := range sc.Boxes {
		boxes = append(boxes, b[0], b[1], b[2], b[3])
	}
	r, err := p.RegionsFromImage(context.Background(), img, boxes)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Attention(context.Background(), "a red circle next to a square", r)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Probs) != len(probs) {
		t.Fatalf("image %d: %d probabilities, Attention has %d", id, len(probs), len(a.Probs))
	}
	for i := range probs {
		if math.Abs(float64(probs[i]-a.Probs[i])) > 1e-6 {
			t.Fatalf("image %d: prob %d: dumped %g, Attention %g", id, i, probs[i], a.Probs[i])
		}
	}
}

// Through the command line: the dump mode is chosen by a config without --text,
// reads the data set, and fails clearly without the ResNet weights.
func TestVisualizeDatasetCommand(t *testing.T) {
	data, _ := writeCocoCaptions(t)
	cfgPath := shrunkVisConfig(t, data, 64)
	ckpt := visCheckpoint(t, cfgPath)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"visualize", "--cfg", cfgPath, "--ckpt", ckpt, "--out", t.TempDir()}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "ResNet weights") || !strings.Contains(stderr.String(), "image 5") {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
}

// The shipped config itself (full size) builds the head-less pretraining
// encoder that the dump runs.
func TestShippedVisConfigBuilds(t *testing.T) {
	cfg, err := config.Load("../../internal/config/testdata/cfgs/pretrain/vis_attention_maps_coco.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := model.FromConfigE2E(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if mc.Task != model.TaskPretrain || cfg.Dataset().Dataset != "coco_captions" || cfg.Dataset().ValImageSet != "val" || cfg.Dataset().SeqLen != 64 {
		t.Fatalf("task %v, dataset %+v", mc.Task, cfg.Dataset())
	}
	if mc.WithMLMLoss || mc.WithMVRCLoss || mc.WithRelLoss {
		t.Fatalf("heads switched on: %+v", mc)
	}
}
