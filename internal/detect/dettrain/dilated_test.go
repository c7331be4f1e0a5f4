package dettrain

import (
	"math/rand/v2"
	"testing"
)

// TestRes5OnSmallMaps is the regression test of the fix in
// internal/visual/convfused.go: res5 (3x3 dilation-2 convolutions) over
// many 7x7 RoI maps at once, where a packed run of the batched convolution
// can start past a row's end, must neither panic nor differ from running
// the maps one at a time.
func TestRes5OnSmallMaps(t *testing.T) {
	c, err := LoadConfig("../../../configs/synth/detector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	nc := c.NetConfig(5, 7)
	n, err := NewNet(nc, InitWeights(nc, 1, 0.01, 0.5), nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	b := n.stages[3][0]
	R, P := 64, nc.PooledSize
	rng := rand.New(rand.NewPCG(7, 7))
	x := make([]float32, R*b.Conv1.C*P*P)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	all, h, w := b.Forward(&n.ws, x, R, P, P)
	all = append([]float32(nil), all...)
	per := len(all) / R
	for r := 0; r < R; r += 9 {
		one, _, _ := b.Forward(&n.ws, x[r*len(x)/R:(r+1)*len(x)/R], 1, P, P)
		assertClose(t, "res5a output", all[r*per:(r+1)*per], one[:per], 1e-5)
	}
	if h != P || w != P {
		t.Fatalf("res5 output %dx%d, want %dx%d", h, w, P, P)
	}
}
