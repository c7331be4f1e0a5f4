package heads

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/kernels"
)

// Act is NETWORK.VLBERT.hidden_act, the activation of BertIntermediate (the FFN),
// BertPredictionHeadTransform and VisualLinguisticBertMVRCHeadTransform: ACT2FN of
// external/pytorch_pretrained_bert/modeling.py. The zero value is GELU.
type Act int

const (
	ActGELU  Act = iota // x·Φ(x) with the exact erf, as the original's gelu
	ActReLU             // torch.nn.functional.relu
	ActSwish            // x·sigmoid(x)
)

// ParseAct maps a hidden_act string to an Act (the keys of the original's ACT2FN).
func ParseAct(s string) (Act, error) {
	switch s {
	case "gelu":
		return ActGELU, nil
	case "relu":
		return ActReLU, nil
	case "swish":
		return ActSwish, nil
	}
	return 0, fmt.Errorf("hidden_act %q: want gelu, relu or swish (the original's ACT2FN)", s)
}

func (a Act) String() string { return [...]string{"gelu", "relu", "swish"}[a] }

// Forward writes out = act(inp); out must not alias inp (Backward reads both).
func (a Act) Forward(out, inp []float32) {
	switch a {
	case ActReLU:
		kernels.ReLUForward(out, inp)
	case ActSwish:
		for i, x := range inp {
			out[i] = x * sigmoid32(x)
		}
	default:
		kernels.GELUForward(out, inp)
	}
}

// Backward overwrites dinp with dout·act'(inp); out is Forward's output.
func (a Act) Backward(dinp, inp, out, dout []float32) {
	switch a {
	case ActReLU:
		kernels.ReLUBackward(dinp, out, dout)
	case ActSwish:
		for i, x := range inp {
			s := sigmoid32(x)
			dinp[i] = dout[i] * (s + x*s*(1-s))
		}
	default:
		kernels.GELUBackward(dinp, inp, dout)
	}
}

func sigmoid32(x float32) float32 {
	if x >= 0 {
		return float32(1 / (1 + math.Exp(-float64(x))))
	}
	e := math.Exp(float64(x))
	return float32(e / (1 + e))
}
