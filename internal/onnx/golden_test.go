package onnx

import (
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/weights"
)

const goldenDir = "../../testdata/golden"

func readNpy(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(filepath.Join(goldenDir, name+".npy"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// exportGoldenVQA exports the original's golden VQA checkpoint (hidden 64, two
// layers) with its YAML config.
func exportGoldenVQA(t *testing.T, opt Options) *Model {
	t.Helper()
	cfg, err := config.Load(filepath.Join(goldenDir, "vqa_small.yaml"), "")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := SpecFromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := weights.ReadTorch(filepath.Join(goldenDir, "vqa_ckpt_zip.model"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Build(spec, WeightsFromStateDict(ck.StateDict), opt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGoldenVQAOnnxRuntime: the exported golden checkpoint, run by ONNX Runtime on
// the original's golden batch, gives the original's logits.
func TestGoldenVQAOnnxRuntime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vqa.onnx")
	if err := Write(path, exportGoldenVQA(t, Options{}), InlineLimit); err != nil {
		t.Fatal(err)
	}
	checkModel(t, path)
	boxes, info, q := readNpy(t, "vqa_in_boxes"), readNpy(t, "vqa_in_im_info"), readNpy(t, "vqa_in_question")
	want := readNpy(t, "vqa_out_logits")
	res := runORT(t, path, [][]ortTensor{{
		{Name: "boxes", Dims: boxes.Shape, F32: boxes.F32},
		{Name: "im_info", Dims: info.Shape, F32: info.F32},
		{Name: "question", Dims: q.Shape, I64: q.I64},
	}}, 1)
	if res[0].Err != "" {
		t.Fatalf("onnxruntime: %s", res[0].Err)
	}
	got := res[0].Outputs["label_logits"]
	if len(got.Dims) != 2 || got.Dims[0] != want.Shape[0] || got.Dims[1] != want.Shape[1] {
		t.Fatalf("label_logits dims %v, golden %v", got.Dims, want.Shape)
	}
	compareTol(t, "label_logits vs the original's", got.F32, want.F32, 2e-4, 1e-4)
}
