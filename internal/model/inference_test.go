package model

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestInferenceMode checks that an Inference forward gives bit-identical outputs with
// a smaller activation arena, that Backward and CoreOutputs refuse to run after it,
// and that a normal forward afterwards works again.
func TestInferenceMode(t *testing.T) {
	m, bt := tinyVQA(t)
	if len(m.core.layers) < 2 {
		t.Fatalf("tiny config has %d layers; the test needs at least 2", len(m.core.layers))
	}
	forward := func() ([]float32, float32) {
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(o.Logits), o.Loss
	}
	want, wantLoss := forward()
	fullPeak := m.acts.peak
	m.Inference, m.AllRows = true, true
	got, gotLoss := forward()
	if !slices.Equal(got, want) || gotLoss != wantLoss {
		t.Errorf("Inference forward: logits/loss differ (loss %v vs %v)", gotLoss, wantLoss)
	}
	// Answers only: the last layer for the [MASK] rows alone gives the same logits.
	m.AllRows = false
	got, gotLoss = forward()
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("answers-only forward: logit %d = %v, full forward %v", i, got[i], want[i])
		}
	}
	if math.Abs(float64(gotLoss-wantLoss)) > 1e-5*max(1, math.Abs(float64(wantLoss))) {
		t.Errorf("answers-only forward: loss %v, full forward %v", gotLoss, wantLoss)
	}
	if m.c.rowsOut == nil || m.c.textOut != nil {
		t.Error("answers-only forward did not take the one-row last layer")
	}
	if m.acts.peak >= fullPeak {
		t.Errorf("Inference forward arena peak %d floats, full forward %d", m.acts.peak, fullPeak)
	}
	mustPanicModel(t, "Backward after a forward with Inference", func() { m.Backward(1) })
	mustPanicModel(t, "CoreOutputs after a forward with Inference", func() { m.CoreOutputs() })
	// Dropout on (Train) is allowed too and matches the full forward.
	m.Train, m.Step = true, 3
	got, _ = forward()
	m.Inference = false
	want, _ = forward()
	if !slices.Equal(got, want) {
		t.Error("Inference forward with dropout differs from the full forward")
	}
	m.Backward(1) // a full forward re-enables backward
	_ = m.CoreOutputs()
}

func mustPanicModel(t *testing.T, msg string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, msg) {
			t.Errorf("panic %v, want one containing %q", r, msg)
		}
	}()
	f()
}

// TestUninitBuffersOverwritten runs a training forward and backward with allocUninit's
// buffers filled with NaN: outputs and gradients must equal those of a normal run, so
// every uninitialised buffer is completely written before it is read.
func TestUninitBuffersOverwritten(t *testing.T) {
	run := func(poison bool) ([]float32, []float32) {
		poisonUninit = poison
		defer func() { poisonUninit = false }()
		m, bt := tinyVQA(t)
		m.Train, m.Seed, m.Step = true, 1, 2
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		m.Backward(1)
		return slices.Clone(o.Logits), slices.Clone(m.Params.Grad)
	}
	l0, g0 := run(false)
	l1, g1 := run(true)
	if !slices.Equal(l0, l1) || !slices.Equal(g0, g1) {
		t.Error("outputs or gradients depend on the contents of uninitialised buffers")
	}
}
