package dettrain

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vlbert/vlbert/internal/detect"
	"github.com/vlbert/vlbert/internal/detect/importer"
)

// tinyConfig is the network's layout with every size shrunk.
func tinyConfig() importer.Config {
	c := importer.Default()
	c.NumClasses, c.NumAttributes = 3, 4
	c.AnchorScales, c.AnchorRatios = []float64{1, 2}, []float64{0.5, 1}
	c.PooledSize = 4
	c.StemWidth, c.Blocks, c.Bottleneck, c.Expansion = 4, [4]int{1, 1, 1, 1}, [4]int{2, 3, 4, 4}, 2
	c.RPNWidth, c.EmbedDim, c.AttrHidden = 6, 3, 5
	return c
}

func tinyTrain() *TrainConfig {
	t := DefaultConfig().Train
	t.BatchSize, t.RPNBatchSize = 8, 16
	t.RPNPreNMSTopN, t.RPNPostNMSTopN = 50, 10
	return &t
}

// TestStepGradients checks every backward of the training step (heads,
// attribute branch and embedding, res5, RoI pooling, RPN, trunk down to
// conv1) against central differences of the total loss, along a random
// direction per tensor, with the sampled targets held fixed.
func TestStepGradients(t *testing.T) {
	cfg := tinyConfig()
	w := InitWeights(cfg, 1, 0.3, 0.5)
	// conv1 is checked on its own (TestTrunkGradientToConv1): pool1 over
	// noise has near-ties that a step of 1e-3 crosses.
	n, err := NewNet(cfg, w, []string{"conv1"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	H, W := 64, 80
	rng := rand.New(rand.NewPCG(1, 2))
	img := make([]float32, 3*H*W)
	for i := range img {
		img[i] = float32(rng.NormFloat64())
	}
	gts := []GT{{Box: detect.Box{4, 6, 35, 40}, Class: 1, Attrs: []int{2, 3}}, {Box: detect.Box{40, 20, 75, 60}, Class: 2}}
	tc := tinyTrain()
	var p pass
	n.forwardRPN(&p, img, H, W)
	tg := n.sampleTargets(rng, tc, &p, gts, 1)
	if tg.rpn.numFg == 0 || tg.roi.numFg == 0 {
		t.Fatalf("no foreground sampled: %d anchors, %d RoIs", tg.rpn.numFg, tg.roi.numFg)
	}
	n.ZeroGrad()
	l := n.lossAndBackward(tc, &p, &tg, true)
	t.Logf("losses %+v", l)
	loss := func() float64 {
		var q pass
		q.anchors = p.anchors
		n.forwardRPN(&q, img, H, W)
		return float64(n.lossAndBackward(tc, &q, &tg, false).Total)
	}
	grad := append([]float32(nil), n.Grad...)
	checked := 0
	for _, prm := range n.Params {
		if !prm.Trainable {
			continue
		}
		off := offsetOf(n, prm.Data)
		dir := make([]float64, len(prm.Data))
		var analytic float64
		for i := range dir {
			dir[i] = rng.NormFloat64()
			analytic += dir[i] * float64(grad[off+i])
		}
		orig := append([]float32(nil), prm.Data...)
		eps := 1e-3
		step := func(s float64) float64 {
			for i := range prm.Data {
				prm.Data[i] = orig[i] + float32(s*eps*dir[i])
			}
			return loss()
		}
		numeric := (step(1) - step(-1)) / (2 * eps)
		copy(prm.Data, orig)
		if math.Abs(numeric-analytic) > 0.03*math.Max(math.Abs(numeric), math.Abs(analytic))+2e-3 {
			t.Errorf("%s: analytic %.6g, numeric %.6g", prm.Name, analytic, numeric)
		}
		checked++
	}
	if checked < 30 {
		t.Fatalf("checked only %d tensors", checked)
	}
}

func offsetOf(n *Net, view []float32) int {
	for i := range n.Data {
		if &n.Data[i] == &view[0] {
			return i
		}
	}
	panic("view not in the arena")
}
