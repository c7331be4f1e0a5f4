package model

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/weights"
)

const goldenDir = "../../testdata/golden"

func readGolden(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(filepath.Join(goldenDir, name+".npy"))
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	return a
}

// tol is an absolute + relative tolerance: |got-want| <= atol + rtol*|want|.
type tol struct{ atol, rtol float64 }

var (
	tolHidden = tol{1e-4, 1e-4}
	tolLogits = tol{2e-4, 1e-4}
	tolLoss   = tol{1e-4, 1e-5}
	tolGrad   = tol{1e-4, 1e-3}
)

// compareF32 checks got against golden name (shape and values) and logs the max
// absolute and relative error.
func compareF32(t *testing.T, name string, got []float32, shape []int, tl tol) {
	t.Helper()
	want := readGolden(t, name)
	if !slices.Equal(want.Shape, shape) {
		t.Errorf("%s: shape %v, golden %v", name, shape, want.Shape)
		return
	}
	compareValues(t, name, got, want.F32, tl)
}

func compareValues(t *testing.T, name string, got, want []float32, tl tol) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, golden %d", name, len(got), len(want))
		return
	}
	maxAbs, maxRel, worst := 0.0, 0.0, -1
	bad := 0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(float64(got[i])) {
			d = math.Inf(1)
		}
		r := d / (math.Abs(float64(want[i])) + 1e-3)
		if d > maxAbs {
			maxAbs, worst = d, i
		}
		maxRel = max(maxRel, r)
		if d > tl.atol+tl.rtol*math.Abs(float64(want[i])) {
			bad++
		}
	}
	t.Logf("%-72s n=%-6d max_abs=%.3g max_rel=%.3g", name, len(got), maxAbs, maxRel)
	if bad > 0 {
		t.Errorf("%s: %d of %d values outside atol %g rtol %g; worst [%d] got %g want %g", name, bad, len(got), tl.atol, tl.rtol, worst, got[worst], want[worst])
	}
}

func compareInt(t *testing.T, name string, got []int64, shape []int) {
	t.Helper()
	want := readGolden(t, name)
	if !slices.Equal(want.Shape, shape) {
		t.Errorf("%s: shape %v, golden %v", name, shape, want.Shape)
		return
	}
	if !slices.Equal(got, want.I64) {
		t.Errorf("%s: got %v\nwant %v", name, got, want.I64)
	}
}

func i32To64(s []int32) []int64 {
	out := make([]int64, len(s))
	for i, v := range s {
		out[i] = int64(v)
	}
	return out
}

func boolTo64(s []bool) []int64 {
	out := make([]int64, len(s))
	for i, v := range s {
		if v {
			out[i] = 1
		}
	}
	return out
}

func i64To32(s []int64) []int32 {
	out := make([]int32, len(s))
	for i, v := range s {
		out[i] = int32(v)
	}
	return out
}

// smallConfig is the golden configs' network (hidden 64, 2 layers, 4 heads).
func smallConfig(task Task) Config {
	c := BaseConfig(task)
	c.HiddenSize, c.VisualSize, c.ImageFinalDim = 64, 64, 64
	c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 2, 4, 128
	c.MaxPositionEmbeddings, c.VocabSize = 64, 3072
	c.AnswerVocabSize = 64
	if task != TaskVQA {
		c.WithPooler, c.WithRelLoss = true, true
	}
	return c
}

func loadGoldenModel[T Module](t *testing.T, task Task, ckpt string) T {
	t.Helper()
	mod, err := New(smallConfig(task))
	if err != nil {
		t.Fatal(err)
	}
	m := mod.(T)
	path := filepath.Join(goldenDir, ckpt)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	ck, err := weights.ReadTorch(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Base().LoadTorchStateDict(ck.StateDict, path, true); err != nil {
		t.Fatal(err)
	}
	return m
}

// concatObjVL rebuilds object_vl_embeddings [B,Lo,2H] from the visual and linguistic
// parts.
func concatObjVL(vis, ling []float32, B, Lo, H int) []float32 {
	out := make([]float32, 0, B*Lo*2*H)
	for r := 0; r < B*Lo; r++ {
		out = append(out, vis[r*H:(r+1)*H]...)
		out = append(out, ling[r*H:(r+1)*H]...)
	}
	return out
}

// checkCore compares the core tensors of the last forward with prefix_core_*.
func checkCore(t *testing.T, mod Module, prefix string) {
	m := mod.Base()
	co := m.CoreOutputs()
	B, L, H, nl := co.B, co.L, co.H, co.Layers
	compareF32(t, prefix+"_core_embedding_output", co.EmbeddingOutput, []int{B, L, H}, tolHidden)
	compareInt(t, prefix+"_core_attention_mask", co.AttentionMask, []int{B, L})
	compareInt(t, prefix+"_core_text_positions_mask", co.TextPositions, []int{B, L})
	compareInt(t, prefix+"_core_object_positions_mask", co.ObjectPositions, []int{B, L})
	Lt := min(co.Lt, L)
	text := make([]float32, 0, nl*B*Lt*H)
	for l := 0; l < nl; l++ {
		for b := 0; b < B; b++ {
			base := (l*B + b) * co.Lt * H
			text = append(text, co.TextHidden[base:base+Lt*H]...)
		}
	}
	compareF32(t, prefix+"_core_text_hidden_all_layers", text, []int{nl, B, Lt, H}, tolHidden)
	compareF32(t, prefix+"_core_object_hidden_all_layers", co.ObjectHidden, []int{nl, B, co.Lo, H}, tolHidden)
	compareF32(t, prefix+"_core_attention_probs_all_layers", co.AttentionProbs, []int{nl, B, co.NH, L, L}, tolHidden)
	if co.Pooled != nil {
		compareF32(t, prefix+"_core_pooled_output", co.Pooled, []int{B, H}, tolHidden)
	}
}

// gradGoldenName maps a parameter name to the golden file stem part.
func gradGoldenName(param string) string {
	b := []byte(param)
	for i := range b {
		if b[i] == '.' {
			b[i] = '_'
		}
	}
	return string(b)
}

// checkGradNorm compares the global L2 norm of every gradient (each tensor once, as
// clip_grad_norm_ over net.parameters() sees them) with the manifest's
// total_grad_norm_before_clip of the golden training step.
func checkGradNorm(t *testing.T, mod Module, want float64) {
	m := mod.Base()
	t.Helper()
	var s float64
	for _, g := range m.Params.Grad {
		s += float64(g) * float64(g)
	}
	got := math.Sqrt(s)
	t.Logf("total gradient norm %.6f, golden %.6f", got, want)
	if math.Abs(got-want) > 1e-4*want {
		t.Errorf("total gradient norm %.6f, golden %.6f", got, want)
	}
}
