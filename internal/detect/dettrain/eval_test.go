package dettrain

import (
	"math"
	"testing"
)

// TestVocAP: voc_ap (use_07_metric False) of hit, miss, hit with two
// objects: the precision envelope is 1 up to recall 0.5 and 2/3 to 1.
func TestVocAP(t *testing.T) {
	ap, tp := vocAP([]float64{1, 0, 1}, []float64{0, 1, 0}, 2)
	if want := 0.5 + 0.5*2.0/3; math.Abs(ap-want) > 1e-12 || tp != 2 {
		t.Fatalf("AP %g (%d hits), want %g (2)", ap, tp, want)
	}
	if ap, _ := vocAP(nil, nil, 3); ap != 0 {
		t.Fatalf("no detections: AP %g", ap)
	}
}

func TestTopKMatch(t *testing.T) {
	probs := []float32{0.9, 0.05, 0.5, 0.01, 0.4}
	if !topKMatch(probs, []int{4, 2}) || topKMatch(probs, []int{2, 1}) || !topKMatch(probs, []int{2}) || topKMatch(probs, nil) {
		t.Fatal("topKMatch")
	}
}
