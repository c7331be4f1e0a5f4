package visual

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBind: a network whose parameters were moved into outside storage
// (the e2e trainer's arena) computes the same features and gradients as
// one on its own arena, writes gradients only into the trainable views,
// and reads values from the outside storage.
func TestBind(t *testing.T) {
	cfg := tinyConfig(1, 2)
	own, bound := NewNetwork(cfg), NewNetwork(cfg)
	own.InitRandom(3)
	bound.InitRandom(3)
	own.Params.AllocGrads()
	// The outside arena: values and gradients interleaved per parameter,
	// with a guard value between them.
	const guard = 12345
	var data, grad [][]float32
	bound.Params.Bind(func(p *Param) ([]float32, []float32) {
		d := make([]float32, len(p.Data)+1)
		g := make([]float32, len(p.Data)+1)
		d[len(p.Data)], g[len(p.Data)] = guard, guard
		data, grad = append(data, d), append(grad, g)
		return d[:len(p.Data)], g[:len(p.Data)]
	})
	for i, p := range bound.Params.Params {
		if &p.Data[0] != &data[i][0] || !slices.Equal(p.Data, own.Params.Params[i].Data) {
			t.Fatalf("%s: not moved or not copied", p.Name)
		}
		if (p.Grad != nil) != p.Trainable {
			t.Fatalf("%s: trainable %v but gradient view %v", p.Name, p.Trainable, p.Grad != nil)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	N, H, W := 2, 48, 40
	img := make([]float32, N*3*H*W)
	for i := range img {
		img[i] = float32(rng.NormFloat64() * 50)
	}
	rois := []float32{0, 2, 3, 30, 20, 1, 5, 5, 25, 40, 1, 0, 0, 39, 47}
	fo := slices.Clone(own.Forward(img, N, H, W, rois, 3, nil))
	fb := bound.Forward(img, N, H, W, rois, 3, nil)
	if !slices.Equal(fo, fb) {
		t.Fatal("features differ after Bind")
	}
	d := make([]float32, len(fo))
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	own.Backward(d)
	bound.Backward(d)
	for i, p := range bound.Params.Params {
		q := own.Params.Params[i]
		if p.Trainable && !slices.Equal(p.Grad, q.Grad) {
			t.Fatalf("%s: gradients differ after Bind", p.Name)
		}
		if !p.Trainable && slices.ContainsFunc(grad[i][:len(p.Data)], func(v float32) bool { return v != 0 }) {
			t.Fatalf("frozen %s got a gradient", p.Name)
		}
		if data[i][len(p.Data)] != guard || grad[i][len(p.Data)] != guard {
			t.Fatalf("%s: wrote past its view", p.Name)
		}
	}
	// Values come from the outside storage.
	data[0][0] += 1
	if slices.Equal(bound.Forward(img, N, H, W, rois, 3, nil), fo) {
		t.Error("a change in the outside storage did not reach the forward")
	}
}
