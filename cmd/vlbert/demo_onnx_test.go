package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/onnx"
	"github.com/vlbert/vlbert/internal/train"
)

// demoRepoRoot is the repository (examples/onnxruntime/run.js, .cache/onnxruntime),
// absolute: resolved at start-up, before tests change the working directory.
var demoRepoRoot, _ = filepath.Abs(filepath.Join("..", ".."))

// checkDemoONNX exports the quick demo's VQA, grounding and VCR checkpoints with
// `vlbert export` and runs each under ONNX Runtime (examples/onnxruntime/run.js) on
// three batches of the demo's held-out val split, read by the task loaders `vlbert
// eval` uses, as (batch, text, regions) shapes of 1, 2 and 3 samples: the logits (and
// RefCOCO+'s predicted boxes) must be vlbert's own forward of the same checkpoint
// within 2e-4 + 1e-4|ref|. Without node and onnxruntime-node it skips, saying which
// is missing, or fails under VLBERT_REQUIRE_ONNX_TOOLS (as internal/onnx's tests).
func checkDemoONNX(t *testing.T, out string) {
	t.Helper()
	repoRoot := demoRepoRoot
	nodePath, err := onnx.FindORT(repoRoot)
	if errors.Is(err, onnx.ErrToolMissing) {
		if onnx.RequireTools() {
			t.Fatalf("VLBERT_REQUIRE_ONNX_TOOLS is set but: %v", err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"vqa", "ground", "vcr"} {
		ckpt := filepath.Join(out, "checkpoints", name+".safetensors")
		path := filepath.Join(t.TempDir(), name+".onnx")
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"export", "--ckpt", ckpt, "--out", path}, &stdout, &stderr); code != 0 {
			t.Fatalf("export %s: exit %d: %s", name, code, stderr.String())
		}
		cfg, err := loadConfig(filepath.Join(out, "configs", name+".yaml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		task, err := train.NewTask(cfg, "val")
		if err != nil {
			t.Fatal(err)
		}
		defer task.Close()
		m, err := train.LoadForInference(cfg, task, ckpt)
		if err != nil {
			t.Fatal(err)
		}
		s, err := task.Sampler("val")
		if err != nil {
			t.Fatal(err)
		}
		if s.N < 6 {
			t.Fatalf("%s: %d val examples, want 6", name, s.N)
		}
		batches := [][]int{{0}, {s.N - 2, s.N - 1}, {1, s.N / 2, 2}}
		loader := task.Load(context.Background(), "val", batches, 0, 0, 0)
		var runs [][]onnx.ORTTensor
		var want []map[string][]float32
		var shapes []string
		for range batches {
			b, err := loader.Next()
			if err != nil {
				loader.Close()
				t.Fatal(err)
			}
			feed, ref, shape, err := demoONNXCase(m, train.ModelInput(b))
			if err != nil {
				loader.Close()
				t.Fatalf("%s: %v", name, err)
			}
			runs, want, shapes = append(runs, feed), append(want, ref), append(shapes, shape)
		}
		loader.Close()
		res, err := onnx.RunWithORT(repoRoot, nodePath, path, t.TempDir(), runs, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != "" {
				t.Fatalf("%s %s: onnxruntime: %s", name, shapes[i], r.Err)
			}
			for _, k := range []string{"label_logits", "pred_boxes"} {
				if ref, ok := want[i][k]; ok {
					demoCompare(t, fmt.Sprintf("demo %s %s %s", name, shapes[i], k), r.Outputs[k].F32, ref)
				}
			}
		}
	}
}

// demoONNXCase runs vlbert's forward on a model batch and returns the exported
// graph's inputs for it, the reference outputs by name and the (batch, text,
// regions) shape.
func demoONNXCase(m model.Module, in any) ([]onnx.ORTTensor, map[string][]float32, string, error) {
	boxesIn := func(bx *model.Boxes) []onnx.ORTTensor {
		info := make([]float32, 0, 4*bx.B) // the graph takes im_info's first four columns
		for b := 0; b < bx.B; b++ {
			info = append(info, bx.ImInfo[b*bx.InfoW:b*bx.InfoW+4]...)
		}
		return []onnx.ORTTensor{{Name: "boxes", Dims: []int{bx.B, bx.NB, len(bx.Data) / (bx.B * bx.NB)}, F32: bx.Data},
			{Name: "im_info", Dims: []int{bx.B, 4}, F32: info}}
	}
	ids := func(v []int32) []int64 {
		o := make([]int64, len(v))
		for i, x := range v {
			o[i] = int64(x)
		}
		return o
	}
	pairs := func(v, tags []int32) []int64 { // the original's (id, tag) last axis
		o := make([]int64, 0, 2*len(v))
		for i := range v {
			o = append(o, int64(v[i]), int64(tags[i]))
		}
		return o
	}
	clone := func(v []float32) []float32 { return append([]float32(nil), v...) } // outputs are views into the arena
	switch bt := in.(type) {
	case *model.VQABatch:
		o, err := m.(*model.VQA).Forward(bt)
		if err != nil {
			return nil, nil, "", err
		}
		feed := append(boxesIn(&bt.Boxes), onnx.ORTTensor{Name: "question", Dims: []int{bt.Boxes.B, bt.LQ}, I64: ids(bt.Question)})
		return feed, map[string][]float32{"label_logits": clone(o.Logits)}, fmt.Sprintf("(%d,%d,%d)", bt.Boxes.B, bt.LQ, bt.Boxes.NB), nil
	case *model.RefCOCOBatch:
		o, err := m.(*model.RefCOCO).Forward(bt)
		if err != nil {
			return nil, nil, "", err
		}
		feed := append(boxesIn(&bt.Boxes), onnx.ORTTensor{Name: "expression", Dims: []int{bt.Boxes.B, bt.LE}, I64: ids(bt.Expression)})
		return feed, map[string][]float32{"label_logits": clone(o.Logits), "pred_boxes": clone(o.PredBoxes)},
			fmt.Sprintf("(%d,%d,%d)", bt.Boxes.B, bt.LE, bt.Boxes.NB), nil
	case *model.VCRBatch:
		o, err := m.(*model.VCR).Forward(bt)
		if err != nil {
			return nil, nil, "", err
		}
		B := bt.Boxes.B
		feed := append(boxesIn(&bt.Boxes),
			onnx.ORTTensor{Name: "question", Dims: []int{B, bt.LQ, 2}, I64: pairs(bt.Question, bt.QTags)},
			onnx.ORTTensor{Name: "answer_choices", Dims: []int{B, model.VCRChoices, bt.LA, 2}, I64: pairs(bt.Answers, bt.ATags)})
		return feed, map[string][]float32{"label_logits": clone(o.Logits)}, fmt.Sprintf("(%d,%d+%d,%d)", B, bt.LQ, bt.LA, bt.Boxes.NB), nil
	}
	return nil, nil, "", fmt.Errorf("batch input %T has no exported graph", in)
}

// demoCompare checks |got − want| <= 2e-4 + 1e-4|want| (internal/onnx's parity
// tolerance) and logs the largest difference.
func demoCompare(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	maxAbs, bad, worst := 0.0, 0, 0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > maxAbs {
			maxAbs, worst = d, i
		}
		if !(d <= 2e-4+1e-4*math.Abs(float64(want[i]))) {
			bad++
		}
	}
	t.Logf("%s: n=%d max |diff| %.3g", what, len(got), maxAbs)
	if bad > 0 {
		t.Errorf("%s: %d of %d values outside 2e-4 + 1e-4|ref|; worst [%d] got %g want %g", what, bad, len(got), worst, got[worst], want[worst])
	}
}
