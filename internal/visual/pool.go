package visual

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// MaxPool describes a square max-pool with implicit −inf padding (PyTorch
// MaxPool2d, ceil_mode=False). The ResNet stem uses {3, 2, 1}.
type MaxPool struct {
	Kernel, Stride, Pad int
}

// OutSize returns (H + 2·Pad − Kernel)/Stride + 1 for each axis.
func (mp MaxPool) OutSize(H, W int) (OH, OW int) {
	return (H+2*mp.Pad-mp.Kernel)/mp.Stride + 1, (W+2*mp.Pad-mp.Kernel)/mp.Stride + 1
}

// MaxPoolForward takes the maximum of each window.
//
//	inp    [NC, H, W] (NC = N·C planes)
//	out    [NC, OH, OW], overwritten
//	argmax [NC, OH, OW] or nil: index ih·W+iw of the maximum inside its plane,
//	       saved for the backward pass. Ties go to the first element in row-major
//	       window order, as in PyTorch's CPU kernel.
func MaxPoolForward(out []float32, argmax []int32, inp []float32, mp MaxPool, NC, H, W int) {
	if mp.Kernel <= 0 || mp.Stride <= 0 || mp.Pad < 0 || 2*mp.Pad > mp.Kernel {
		panic(fmt.Sprintf("visual: invalid max pool %+v", mp))
	}
	OH, OW := mp.OutSize(H, W)
	if OH <= 0 || OW <= 0 {
		panic(fmt.Sprintf("visual: max pool %+v of a %dx%d input has empty output", mp, H, W))
	}
	checkLen("maxpool inp", len(inp), NC*H*W)
	checkLen("maxpool out", len(out), NC*OH*OW)
	if argmax != nil {
		checkLen("maxpool argmax", len(argmax), NC*OH*OW)
	}
	parallel.For(NC, 4, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			plane := inp[p*H*W : (p+1)*H*W]
			for oh := 0; oh < OH; oh++ {
				h0 := oh*mp.Stride - mp.Pad
				for ow := 0; ow < OW; ow++ {
					w0 := ow*mp.Stride - mp.Pad
					best, bi := float32(math.Inf(-1)), int32(-1)
					for ih := max(h0, 0); ih < min(h0+mp.Kernel, H); ih++ {
						for iw := max(w0, 0); iw < min(w0+mp.Kernel, W); iw++ {
							if v := plane[ih*W+iw]; v > best || v != v || bi < 0 {
								best, bi = v, int32(ih*W+iw)
								if v != v {
									break
								}
							}
						}
					}
					o := p*OH*OW + oh*OW + ow
					out[o] = best
					if argmax != nil {
						argmax[o] = bi
					}
				}
			}
		}
	})
}

// MaxPoolBackward routes each output gradient to its argmax.
//
//	dout, argmax [NC, OH, OW]
//	dinp [NC, H, W], OVERWRITTEN
func MaxPoolBackward(dinp, dout []float32, argmax []int32, NC, H, W, OH, OW int) {
	checkLen("maxpool dinp", len(dinp), NC*H*W)
	checkLen("maxpool dout", len(dout), NC*OH*OW)
	checkLen("maxpool argmax", len(argmax), NC*OH*OW)
	parallel.For(NC, 4, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			plane := dinp[p*H*W : (p+1)*H*W]
			clear(plane)
			for o := p * OH * OW; o < (p+1)*OH*OW; o++ {
				plane[argmax[o]] += dout[o]
			}
		}
	})
}

// AvgPoolForward averages each plane to one value; with a 14x14 plane it is the
// RoI head's AvgPool2d(14, stride=1) followed by flatten.
//
//	inp [NC, HW]; out [NC], overwritten
func AvgPoolForward(out, inp []float32, NC, HW int) {
	checkLen("avgpool inp", len(inp), NC*HW)
	checkLen("avgpool out", len(out), NC)
	parallel.For(NC, 64, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			var s float32
			for _, v := range inp[p*HW : (p+1)*HW] {
				s += v
			}
			out[p] = s / float32(HW)
		}
	})
}

// AvgPoolBackward spreads dout[p]/HW over plane p. dinp [NC, HW] is OVERWRITTEN.
func AvgPoolBackward(dinp, dout []float32, NC, HW int) {
	checkLen("avgpool dinp", len(dinp), NC*HW)
	checkLen("avgpool dout", len(dout), NC)
	parallel.For(NC, 64, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			g := dout[p] / float32(HW)
			plane := dinp[p*HW : (p+1)*HW]
			for i := range plane {
				plane[i] = g
			}
		}
	})
}
