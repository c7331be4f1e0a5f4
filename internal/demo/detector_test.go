package demo

import (
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
)

// TestDetectorConfig: the embedded detector config points at the world's
// detection set and takes the plan's schedule; the full plan keeps the
// config's own.
func TestDetectorConfig(t *testing.T) {
	full, err := FullPlan().detectorConfig("/out", "/out/data")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("/out/data", synth.Layout.Detection, "instances_train.json"); full.Dataset.TrainAnnotations != want {
		t.Errorf("train annotations %s, want %s", full.Dataset.TrainAnnotations, want)
	}
	if full.OutputDir(filepath.Join("/out/configs", PhaseDetector+".yaml")) != filepath.Join("/out/runs", PhaseDetector) {
		t.Errorf("output dir %s", full.OutputDir("/out/configs/detector.yaml"))
	}
	q := QuickPlan()
	quick, err := q.detectorConfig("/out", "/out/data")
	if err != nil {
		t.Fatal(err)
	}
	if quick.Solver.MaxIter != q.Detector.MaxIter || quick.Solver.MaxIter >= full.Solver.MaxIter {
		t.Errorf("quick MAX_ITER %d, full %d", quick.Solver.MaxIter, full.Solver.MaxIter)
	}
	if d := FullPlan().detectorFeatureDim(); d != full.Network.Bottleneck[3]*full.Network.Expansion || d <= 0 {
		t.Errorf("feature width %d", d)
	}
}

// TestRegionLabel: the best foreground class with its probability, after
// the attributes above 0.1, best first.
func TestRegionLabel(t *testing.T) {
	classes := append([]string{"__background__"}, synth.Shapes...)
	attrs := append([]string{"__no_attribute__"}, synth.DetectionAttributes()...)
	cls := make([]float32, len(classes))
	cls[0], cls[2] = 0.5, 0.4 // background wins overall: the label names the best foreground class
	attr := make([]float32, len(attrs))
	attr[1+1], attr[1+len(synth.Colors)+1], attr[1] = 0.3, 0.6, 0.05 // green 0.3, large 0.6, red below 0.1
	if got, want := regionLabel(cls, attr, classes, attrs), "large green square 0.40"; got != want {
		t.Errorf("label %q, want %q", got, want)
	}
}
