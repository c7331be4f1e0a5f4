package heads

import "math"

// VCR's CLASSIFIER_SIGMOID answer loss (vcr/modules/resnet_vlbert_for_vcr.py,
// train_forward): binary cross-entropy per choice, the positive (correct) choices
// weighted by pw = CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT, rescaled so that the
// total weight of one question stays that of pw = 1 with one positive in two:
//
//	loss = (pw+1)/(2·pw) · mean_i w_i·BCE(z_i, y_i),  w_i = pw if y_i = 1 else 1.
//
// pw = 1 is the plain mean BCE.

// WeightedBCEForward returns the loss over n = len(logits) choices; labels are 0 or 1.
func WeightedBCEForward(logits, labels []float32, pw float32) float32 {
	if len(logits) == 0 {
		return 0
	}
	var sum float64
	for i, zf := range logits {
		z, y := float64(zf), float64(labels[i])
		l := math.Max(z, 0) - z*y + math.Log1p(math.Exp(-math.Abs(z)))
		if labels[i] == 1 {
			l *= float64(pw)
		}
		sum += l
	}
	return float32(weightedBCERescale(pw) * sum / float64(len(logits)))
}

// WeightedBCEBackward overwrites dlogits with dloss·∂loss/∂logits.
func WeightedBCEBackward(dlogits, logits, labels []float32, pw, dloss float32) {
	if len(logits) == 0 {
		return
	}
	scale := float64(dloss) * weightedBCERescale(pw) / float64(len(logits))
	for i, zf := range logits {
		z := float64(zf)
		var s float64
		if z >= 0 {
			s = 1 / (1 + math.Exp(-z))
		} else {
			e := math.Exp(z)
			s = e / (1 + e)
		}
		g := (s - float64(labels[i])) * scale
		if labels[i] == 1 {
			g *= float64(pw)
		}
		dlogits[i] = float32(g)
	}
}

func weightedBCERescale(pw float32) float64 { return (float64(pw) + 1) / (2 * float64(pw)) }
