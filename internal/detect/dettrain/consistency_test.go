package dettrain

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vlbert/vlbert/internal/detect"
)

// TestTrainingForwardIsInferenceForward: with the same weights, the
// training network's res4 map, RPN outputs and head outputs (pool5,
// cls_score, bbox_pred) on given RoIs equal internal/detect's inference
// network's (which folds BatchNorm into the convolutions), so what is
// trained is what `vlbert detect` runs.
func TestTrainingForwardIsInferenceForward(t *testing.T) {
	cfg := tinyConfig()
	w := InitWeights(cfg, 4, 0.3, 0.5)
	// Non-trivial BatchNorm statistics, so the folding is exercised.
	rng := rand.New(rand.NewPCG(5, 6))
	for name, v := range w {
		if len(name) > 2 && (name[:2] == "bn" || name[:5] == "scale") {
			for i := range v.F32 {
				v.F32[i] += float32(0.2 * rng.Float64())
			}
		}
	}
	n, err := NewNet(cfg, w, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	inf, err := detect.Load(cfg, w, "test")
	if err != nil {
		t.Fatal(err)
	}
	H, W := 64, 80
	img := make([]float32, 3*H*W)
	for i := range img {
		img[i] = float32(rng.NormFloat64())
	}
	var p pass
	n.forwardRPN(&p, img, H, W)
	feat, FH, FW := inf.Trunk(img, H, W)
	if FH != p.FH || FW != p.FW {
		t.Fatalf("map %dx%d vs %dx%d", p.FH, p.FW, FH, FW)
	}
	assertClose(t, "res4", p.feat, feat, 1e-4)
	featCopy := append([]float32(nil), feat...)
	rpn := inf.RPN(featCopy, FH, FW)
	A := cfg.NumAnchors()
	assertClose(t, "rpn fg prob", p.fgProb, rpn.FgProb, 1e-4)
	assertClose(t, "rpn deltas", p.rpnBox[:4*A*FH*FW], rpn.Deltas, 1e-4)

	rois := []detect.Box{{0, 0, 40, 30}, {10, 12, 70, 60}, {33, 5, 79, 63}}
	tg := targets{roi: roiTargets{rois: rois, labels: []int{1, 2, 0}, targets: make([]float32, 3*4*cfg.NumClasses),
		inside: make([]float32, 3*4*cfg.NumClasses), attrs: make([]int, 2*MaxAttrs)}}
	hw := FH * FW
	tg.rpn = rpnTargets{labels: make([]float32, A*hw), targets: make([]float32, 4*A*hw), inside: make([]float32, 4*A*hw), outsideW: make([]float32, 4*A*hw)}
	for i := range tg.rpn.labels {
		tg.rpn.labels[i] = -1
	}
	n.lossAndBackward(tinyTrain(), &p, &tg, false)
	head := inf.Head(featCopy, FH, FW, rois)
	assertClose(t, "pool5", p.pool5, head.Pool5, 1e-4)
	assertClose(t, "cls_score", p.cls, head.ClsScore, 1e-4)
	assertClose(t, "bbox_pred", p.bbox, head.BboxPred, 1e-4)
}

func assertClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var worst float64
	for i := range got {
		d := math.Abs(float64(got[i]-want[i])) / (1 + math.Abs(float64(want[i])))
		worst = max(worst, d)
	}
	if worst > tol {
		t.Errorf("%s: max relative difference %.3g (first values %v vs %v)", what, worst, got[:min(4, len(got))], want[:min(4, len(want))])
	}
}
