package model

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestInt8Inference runs the golden VQA checkpoint of the original code with the
// encoder in int8: the logits stay within a few percent of the float32 golden ones
// and pick the same answers; training forwards and DropInt8 are float32 again,
// bit for bit.
func TestInt8Inference(t *testing.T) {
	m := loadGoldenModel[*VQA](t, TaskVQA, "vqa_ckpt_legacy.model")
	bt := vqaGoldenBatch(t)
	forward := func() []float32 {
		t.Helper()
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(o.Logits)
	}
	want := forward()
	if m.Int8() {
		t.Fatal("Int8 before QuantizeInt8")
	}
	if err := m.QuantizeInt8(); err != nil {
		t.Fatal(err)
	}
	if !m.Int8() {
		t.Fatal("Int8 false after QuantizeInt8")
	}
	if got := forward(); !slices.Equal(got, want) {
		t.Fatal("a training (non-Inference) forward used the int8 weights")
	}
	m.Inference = true
	got := forward()
	B, A := bt.Boxes.B, m.Cfg.AnswerVocabSize
	var num, den float64
	for i := range want {
		d := float64(got[i] - want[i])
		num, den = num+d*d, den+float64(want[i])*float64(want[i])
	}
	rel := math.Sqrt(num / den)
	t.Logf("int8 logits: relative L2 error %.4f over %d x %d", rel, B, A)
	if rel == 0 || rel > 0.05 {
		t.Errorf("int8 logits: relative L2 error %.4g, want in (0, 0.05]", rel)
	}
	for b := 0; b < B; b++ {
		row, wrow := got[b*A:(b+1)*A], want[b*A:(b+1)*A]
		if wi, gi := slices.Index(wrow, slices.Max(wrow)), slices.Index(row, slices.Max(row)); wi != gi {
			// Only a near tie may flip.
			if s := slices.Clone(wrow); wrow[wi]-wrow[gi] > 0.02*(slices.Max(s)-slices.Min(s)) {
				t.Errorf("sample %d: int8 answer %d, float32 %d", b, gi, wi)
			}
		}
	}
	m.DropInt8()
	if m.Int8() {
		t.Fatal("Int8 after DropInt8")
	}
	m.AllRows = true
	if got := forward(); !slices.Equal(got, want) {
		t.Error("after DropInt8 the inference forward differs from float32")
	}
}

// TestQuantizeInt8Errors: a NaN weight in a later layer leaves the model in float32
// (no half-quantized encoder); ShareInt8 hands a replica the same int8 layers.
func TestQuantizeInt8Errors(t *testing.T) {
	m, _ := tinyVQA(t)
	if len(m.core.layers) < 2 {
		t.Fatalf("tiny config has %d layers; the test needs 2", len(m.core.layers))
	}
	w := m.core.layers[1].inter.w.w
	saved := w[3]
	w[3] = float32(math.NaN())
	err := m.QuantizeInt8()
	if err == nil || !strings.Contains(err.Error(), "layer 1") {
		t.Fatalf("QuantizeInt8 with a NaN weight in layer 1: error %v", err)
	}
	if m.Int8() || m.core.layers[0].q.int8 != nil {
		t.Fatal("a failed QuantizeInt8 left int8 layers behind")
	}
	w[3] = saved
	if err := m.QuantizeInt8(); err != nil {
		t.Fatal(err)
	}
	r, _ := tinyVQA(t)
	if err := r.ShareInt8(m.Encoder); err != nil || !r.Int8() || r.core.layers[1].out.int8 != m.core.layers[1].out.int8 {
		t.Fatalf("ShareInt8: %v, Int8 %v", err, r.Int8())
	}
}
