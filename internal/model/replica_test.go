package model

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestReplicaSharesWeights: a NewReplica reads the source's weights in place (the
// same backing array, no gradient arena), answers bit for bit what a replica with
// copied weights answers, and refuses Backward.
func TestReplicaSharesWeights(t *testing.T) {
	m, bt := tinyVQA(t)
	copied, err := NewVQA(m.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	copy(copied.Params.Data, m.Params.Data)
	mod, err := NewReplica(m)
	if err != nil {
		t.Fatal(err)
	}
	r := mod.(*VQA)
	if &r.Params.Data[0] != &m.Params.Data[0] || len(r.Params.Data) != len(m.Params.Data) {
		t.Fatal("the replica's parameters are not the source's backing array")
	}
	if w, src := r.core.layers[1].inter.w.w, m.core.layers[1].inter.w.w; &w[0] != &src[0] {
		t.Fatal("a bound layer of the replica does not alias the source's weights")
	}
	if r.Params.Grad != nil || r.Trainable() || !m.Trainable() {
		t.Fatalf("replica gradient arena %d values, Trainable %v", len(r.Params.Grad), r.Trainable())
	}
	for _, inference := range []bool{false, true} {
		copied.Inference, r.Inference = inference, inference
		want, err := copied.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		wantLogits := slices.Clone(want.Logits)
		got, err := r.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Logits, wantLogits) {
			t.Errorf("Inference %v: the replica's logits differ from a copied model's", inference)
		}
	}
	r.Inference = false
	if _, err := r.Forward(bt); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if msg := fmt.Sprint(recover()); !strings.Contains(msg, "inference replica") {
				t.Errorf("Backward on a replica: panic %q, want one naming the inference replica", msg)
			}
		}()
		r.Backward(1)
	}()
}

// TestReplicaEveryTask: every task module builds over shared weights (binding
// takes no gradient view) and shares the source's int8 layers.
func TestReplicaEveryTask(t *testing.T) {
	for _, task := range []Task{TaskVQA, TaskPretrain, TaskPretrainMultitask, TaskRefCOCO, TaskVCR} {
		src, err := New(tinyConfig(task))
		if err != nil {
			t.Fatalf("%s: %v", task, err)
		}
		randomizeParams(src, 3)
		if err := src.Base().QuantizeInt8(); err != nil {
			t.Fatal(err)
		}
		r, err := NewReplica(src)
		if err != nil {
			t.Fatalf("%s: %v", task, err)
		}
		if &r.Base().Params.Data[0] != &src.Base().Params.Data[0] {
			t.Errorf("%s: weights copied", task)
		}
		if !r.Base().Int8() || r.Base().core.layers[0].q.int8 != src.Base().core.layers[0].q.int8 {
			t.Errorf("%s: the replica does not share the int8 layers", task)
		}
	}
}

// TestReplicasConcurrent runs several replicas of one model at once (run with -race:
// a forward that wrote the shared weights, or shared an arena, would show up as a
// race or as a wrong answer).
func TestReplicasConcurrent(t *testing.T) {
	m, bt := tinyVQA(t)
	m.Inference = true
	o, err := m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(o.Logits)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		r, err := NewReplica(m)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(r *VQA) {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				o, err := r.Forward(bt)
				if err != nil {
					errs <- err
					return
				}
				if !slices.Equal(o.Logits, want) {
					errs <- fmt.Errorf("forward %d of a concurrent replica differs", k)
					return
				}
			}
		}(r.(*VQA))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
