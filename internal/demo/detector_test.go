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

// TestPlaceLabels: labels of near-duplicate boxes do not overlap, and every
// label starts and ends inside the magnified image.
func TestPlaceLabels(t *testing.T) {
	boxes := [][4]float32{{10, 20, 40, 50}, {11, 21, 41, 51}, {50, 0, 63, 12}, {12, 19, 39, 49}}
	labels := []string{"large green square 0.93", "small green square 0.40", "red circle 0.9", "green large small diamond 0.21"}
	const w, h, s = 64, 64, 4
	pos := placeLabels(boxes, labels, w, h, s)
	type span struct{ x1, x2, y float64 }
	var spans []span
	for i, p := range pos {
		width := 6.2 * float64(len(labels[i]))
		x1 := p.X
		if p.Anchor == "end" {
			x1 -= width
		}
		if x1 < -0.01 || x1+width > w*s+0.01 || p.Y < 0 || p.Y > h*s+12 {
			t.Errorf("label %d at x %.1f..%.1f y %.1f: outside the %dx%d image", i, x1, x1+width, p.Y, w*s, h*s)
		}
		for j, q := range spans {
			if x1 < q.x2 && q.x1 < x1+width && p.Y-q.y < 12 && q.y-p.Y < 12 {
				t.Errorf("labels %d and %d overlap: %+v %+v", j, i, q, p)
			}
		}
		spans = append(spans, span{x1, x1 + width, p.Y})
	}
}
