package dettrain

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/weights"
)

// InitWeights draws starting weights for training from scratch: the trunk
// and res5 convolutions MSRA (He) normal, as ResNet was initialised, with the
// last convolution of each residual branch scaled by branchScale so that the
// sum through the blocks stays O(1) without trained BatchNorm statistics;
// BatchNorm the identity (mean 0, var 1, Scale 1 and 0); the RPN and head
// layers gaussian with std (train.prototxt's weight_filler, 0.01) and zero
// biases. The released detector instead starts from ImageNet weights
// (NETWORK.PRETRAIN).
func InitWeights(cfg importer.Config, seed uint64, std, branchScale float64) importer.Weights {
	rng := rand.New(rand.NewPCG(seed, 0xde7ec7))
	w := make(importer.Weights)
	for _, p := range cfg.Params() {
		data := make([]float32, numel(p.Shape))
		switch {
		case strings.HasSuffix(p.Name, ".var"):
			fill(data, 1)
		case strings.HasPrefix(p.Name, "scale") && strings.HasSuffix(p.Name, ".weight"):
			fill(data, 1)
		case strings.HasSuffix(p.Name, ".mean"), strings.HasSuffix(p.Name, ".bias"):
			// zero
		case len(p.Shape) == 4 && (p.Name == "conv1.weight" || strings.HasPrefix(p.Name, "res")):
			fanIn := p.Shape[1] * p.Shape[2] * p.Shape[3]
			s := math.Sqrt(2 / float64(fanIn))
			if p.Name == "conv1.weight" {
				s /= 64 // the input is pixels minus the means (about ±100), not unit-variance
			}
			if strings.HasSuffix(p.Name, "_branch2c.weight") {
				s *= branchScale
			}
			gauss(rng, data, s)
		default: // rpn convolutions, cls_score, bbox_pred, cls_embedding, fc_attr, attr_score
			gauss(rng, data, std)
		}
		w[p.Name] = weights.NewF32(data, p.Shape...)
	}
	return w
}

func fill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}

func gauss(rng *rand.Rand, x []float32, std float64) {
	for i := range x {
		x[i] = float32(rng.NormFloat64() * std)
	}
}
