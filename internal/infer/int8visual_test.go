package infer_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/infer/infertest"
	"github.com/vlbert/vlbert/internal/visual"
)

// TestImagePathInt8 checks that an int8 pipeline (QuantizeInt8 before
// SetVisual, as Load does with Options.Int8) runs the image path's
// convolutions in int8 too, with region features close to float32's.
func TestImagePathInt8(t *testing.T) {
	if testing.Short() {
		t.Skip("visual network")
	}
	features := func(int8 bool) []float32 {
		p, sc := loadVQA(t, 1)
		p.Config.Scales = []int{96, 160}
		if int8 {
			if err := p.QuantizeInt8(); err != nil {
				t.Fatal(err)
			}
		}
		vc, sd := infertest.TinyVisual()
		if err := p.SetVisual(vc, sd); err != nil {
			t.Fatal(err)
		}
		img, err := visual.DecodeImage(strings.NewReader(string(sc.PNG)))
		if err != nil {
			t.Fatal(err)
		}
		var boxes []float32
		for _, b := range sc.Boxes {
			boxes = append(boxes, b[:]...)
		}
		r, err := p.RegionsFromImage(context.Background(), img, boxes)
		if err != nil {
			t.Fatal(err)
		}
		return r.Features
	}
	f32, q8 := features(false), features(true)
	var num, den float64
	same := true
	for i := range f32 {
		d := float64(q8[i] - f32[i])
		num += d * d
		den += float64(f32[i]) * float64(f32[i])
		same = same && q8[i] == f32[i]
	}
	rel := math.Sqrt(num / den)
	if same {
		t.Fatal("int8 pipeline gave bit-identical image features: the convolutions did not run in int8")
	}
	if !(rel < 0.05) {
		t.Errorf("int8 image features differ from float32 by %.2f%% (relative L2)", 100*rel)
	}
}
