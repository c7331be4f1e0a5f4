package visual

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// BNEps is PyTorch's BatchNorm2d default epsilon, used by every BN of the ResNet.
const BNEps = 1e-5

// FrozenBN holds views of one BatchNorm2d's tensors [C]. With IMAGE_FROZEN_BN
// (every shipped config), and in eval mode otherwise, the ResNet's BN has no
// gradient and uses its running statistics, so it is the affine map
// y = (x − mean)/sqrt(var + eps)·gamma + beta with the running statistics.
type FrozenBN struct {
	Weight, Bias, RunningMean, RunningVar []float32
}

// ScaleShift returns the per-channel affine form y = x·scale + shift, computed in
// float64 and rounded once to float32.
func (bn FrozenBN) ScaleShift(scale, shift []float32) {
	C := len(bn.Weight)
	if len(bn.Bias) != C || len(bn.RunningMean) != C || len(bn.RunningVar) != C {
		panic(fmt.Sprintf("visual: batch norm tensors have lengths %d/%d/%d/%d", C, len(bn.Bias), len(bn.RunningMean), len(bn.RunningVar)))
	}
	checkLen("bn scale", len(scale), C)
	checkLen("bn shift", len(shift), C)
	for c := 0; c < C; c++ {
		s := float64(bn.Weight[c]) / math.Sqrt(float64(bn.RunningVar[c])+BNEps)
		scale[c] = float32(s)
		shift[c] = float32(float64(bn.Bias[c]) - float64(bn.RunningMean[c])*s)
	}
}

// BatchNormForward applies frozen BN channel-wise: out = inp·scale[c] + shift[c].
//
//	inp, out [N, C, HW] (out overwritten; may alias inp)
//	scale, shift [C], from FrozenBN.ScaleShift
func BatchNormForward(out, inp, scale, shift []float32, N, C, HW int) {
	checkLen("bn inp", len(inp), N*C*HW)
	checkLen("bn out", len(out), N*C*HW)
	checkLen("bn scale", len(scale), C)
	checkLen("bn shift", len(shift), C)
	parallel.ForArgs(N*C, 8, bnArgs{out, inp, scale, shift, C, HW}, func(a *bnArgs, lo, hi int) {
		out, inp, scale, shift, C, HW := a.out, a.inp, a.scale, a.shift, a.C, a.HW
		for p := lo; p < hi; p++ {
			c := p % C
			s, b := scale[c], shift[c]
			src, dst := inp[p*HW:(p+1)*HW], out[p*HW:(p+1)*HW]
			for i, v := range src {
				dst[i] = v*s + b
			}
		}
	})
}

// BatchNormBackward is the input gradient of frozen BN: dinp = dout·scale[c].
// The BN parameters get no gradient (frozen). dinp [N, C, HW] is OVERWRITTEN and
// may alias dout.
func BatchNormBackward(dinp, dout, scale []float32, N, C, HW int) {
	checkLen("bn dout", len(dout), N*C*HW)
	checkLen("bn dinp", len(dinp), N*C*HW)
	checkLen("bn scale", len(scale), C)
	parallel.ForArgs(N*C, 8, bnArgs{dinp, dout, scale, nil, C, HW}, func(a *bnArgs, lo, hi int) {
		dinp, dout, scale, C, HW := a.out, a.inp, a.scale, a.C, a.HW
		for p := lo; p < hi; p++ {
			s := scale[p%C]
			src, dst := dout[p*HW:(p+1)*HW], dinp[p*HW:(p+1)*HW]
			for i, v := range src {
				dst[i] = v * s
			}
		}
	})
}

// FoldBatchNorm folds a frozen BN into the convolution before it, for inference:
// conv(x, wOut) + bOut == BN(conv(x, weight)).
//
//	weight, wOut [K, C·KH·KW] (wOut overwritten; may alias weight)
//	bOut [K], overwritten
func FoldBatchNorm(wOut, bOut, weight []float32, bn FrozenBN, K int) {
	if K <= 0 || len(weight)%K != 0 {
		panic(fmt.Sprintf("visual: FoldBatchNorm: %d weights do not split into %d rows", len(weight), K))
	}
	checkLen("fold wOut", len(wOut), len(weight))
	checkLen("fold bOut", len(bOut), K)
	if len(bn.Weight) != K {
		panic(fmt.Sprintf("visual: FoldBatchNorm: batch norm has %d channels, conv has %d outputs", len(bn.Weight), K))
	}
	scale := make([]float32, K)
	bn.ScaleShift(scale, bOut)
	row := len(weight) / K
	for k := 0; k < K; k++ {
		for i := k * row; i < (k+1)*row; i++ {
			wOut[i] = weight[i] * scale[k]
		}
	}
}

// bnArgs carries the batch norm loops' inputs to parallel.ForArgs (no closure: no
// allocation per call).
type bnArgs struct {
	out, inp, scale, shift []float32
	C, HW                  int
}
