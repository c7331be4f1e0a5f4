package dettrain

import (
	"math"

	"github.com/vlbert/vlbert/internal/kernels"
	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/visual"
)

// trunkForward runs conv1 … res4 on one preprocessed image [3, H, W] and
// returns the stride-16 map [C4, FH, FW] (owned by the last res4 block). The
// blocks keep their activations for trunkBackward.
func (n *Net) trunkForward(img []float32, H, W int) (feat []float32, FH, FW int) {
	s := &n.stem
	s.img, s.h, s.w = img, H, W
	s.h1, s.w1 = s.cv.OutSize(H, W)
	s.y = grow(s.y, s.cv.K*s.h1*s.w1)
	visual.Conv2DForward(s.y, img, s.weight.Data, nil, nil, s.cv, 1, H, W)
	s.scale, s.shift = grow(s.scale, s.cv.K), grow(s.shift, s.cv.K)
	s.bn.ScaleShift(s.scale, s.shift)
	visual.BatchNormForward(s.y, s.y, s.scale, s.shift, 1, s.cv.K, s.h1*s.w1)
	kernels.ReLUForward(s.y, s.y)
	s.hp, s.wp = caffePoolSize(s.h1, 3, 2), caffePoolSize(s.w1, 3, 2)
	s.pooled = grow(s.pooled, s.cv.K*s.hp*s.wp)
	s.argmax = growInt32(s.argmax, s.cv.K*s.hp*s.wp)
	maxPoolCeilForward(s.pooled, s.argmax, s.y, s.cv.K, s.h1, s.w1, 3, 2)
	x, h, w := s.pooled, s.hp, s.wp
	n.blockIn = n.blockIn[:0]
	for st := 0; st < 3; st++ {
		for _, b := range n.stages[st] {
			n.blockIn = append(n.blockIn, [2]int{h, w})
			x, h, w = b.Forward(&n.ws, x, 1, h, w)
		}
	}
	return x, h, w
}

// trunkBackward takes dfeat, the gradient of trunkForward's output, and
// ACCUMULATES the gradients of the trainable trunk tensors, going down only
// as far as the lowest trainable layer (no gradient below it is computed).
func (n *Net) trunkBackward(dfeat []float32) {
	var blocks []*visual.Bottleneck
	for st := 0; st < 3; st++ {
		blocks = append(blocks, n.stages[st]...)
	}
	lowest := len(blocks) // index of the lowest trainable block; -1: the stem
	for k := len(blocks) - 1; k >= 0; k-- {
		if blocks[k].Trainable {
			lowest = k
		}
	}
	s := &n.stem
	if s.trainable {
		lowest = -1
	}
	g := dfeat
	for k := len(blocks) - 1; k >= 0 && k >= lowest; k-- {
		var dinp []float32
		if k > lowest {
			inLen := len(s.pooled)
			if k > 0 {
				oh, ow := blocks[k-1].OutSize(n.blockIn[k-1][0], n.blockIn[k-1][1])
				inLen = blocks[k-1].Conv3.K * oh * ow
			}
			dinp = make([]float32, inLen)
		}
		blocks[k].Backward(&n.ws, dinp, g)
		g = dinp
	}
	if lowest >= 0 {
		return
	}
	dy := make([]float32, len(s.y))
	visual.MaxPoolBackward(dy, g, s.argmax, s.cv.K, s.h1, s.w1, s.hp, s.wp)
	kernels.ReLUBackward(dy, s.y, dy)
	visual.BatchNormBackward(dy, dy, s.scale, 1, s.cv.K, s.h1*s.w1)
	visual.Conv2DBackward(nil, s.weight.Grad, dy, s.img, s.weight.Data, nil, s.cv, 1, s.h, s.w)
}

// caffePoolSize is Caffe's pooling output size (ceil), no padding.
func caffePoolSize(H, kernel, stride int) int { return (H-kernel+stride-1)/stride + 1 }

// maxPoolCeilForward is Caffe's MAX pooling without padding in ceil mode
// (pool1), recording the argmax (index inside its plane, first maximum in
// row-major order as Caffe's strict > keeps it) for visual.MaxPoolBackward.
//
//	inp [NC, H, W]; out, argmax [NC, OH, OW], overwritten
func maxPoolCeilForward(out []float32, argmax []int32, inp []float32, NC, H, W, kernel, stride int) {
	OH, OW := caffePoolSize(H, kernel, stride), caffePoolSize(W, kernel, stride)
	parallel.For(NC, 4, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			plane := inp[p*H*W : (p+1)*H*W]
			for oh := 0; oh < OH; oh++ {
				hs, he := oh*stride, min(oh*stride+kernel, H)
				for ow := 0; ow < OW; ow++ {
					ws, we := ow*stride, min(ow*stride+kernel, W)
					best, at := float32(-math.MaxFloat32), int32(-1)
					for ih := hs; ih < he; ih++ {
						for iw := ws; iw < we; iw++ {
							if v := plane[ih*W+iw]; v > best {
								best, at = v, int32(ih*W+iw)
							}
						}
					}
					out[(p*OH+oh)*OW+ow], argmax[(p*OH+oh)*OW+ow] = best, at
				}
			}
		}
	})
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func growInt32(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}
