package detect

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/kernels"
	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/visual"
)

// buffers are the network's activation buffers, grown to the largest size
// seen and reused.
type buffers struct {
	col            []float32 // im2col scratch
	act            [2][]float32
	t1, t2, sc     []float32
	rpnHidden      []float32
	rpnCls, rpnBox []float32
	pooled         []float32
	headAct        [2][]float32
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// forward runs the convolution (+ bias) on x [N, C, H, W] into out
// [N, K, OH, OW], then adds residual (same shape as out, or nil) and applies
// ReLU when relu is set. A pointwise convolution of one image is a single
// GEMM with the bias, residual and ReLU in its epilogue (gemm.Epilogue: the
// same float32 operations in the same order as separate passes); others run
// visual.Conv2DForward (implicit GEMM, bias in its epilogue) and then the
// residual and ReLU in one pass.
func (c *conv) forward(ws *buffers, out, x, residual []float32, relu bool, N, H, W int) (OH, OW int) {
	cv := c.cv
	OH, OW = cv.OutSize(H, W)
	size := N * cv.K * OH * OW
	if N == 1 && cv.KH == 1 && cv.KW == 1 && cv.Stride == 1 && cv.Pad == 0 {
		ep := gemm.Epilogue{RowBias: c.b, ReLU: relu}
		if residual != nil {
			ep.Residual, ep.LDR = residual[:size], OH*OW
		}
		gemm.SgemmEpilogue(false, false, cv.K, OH*OW, cv.C, 1, c.w, cv.C, x[:cv.C*H*W], OH*OW, 0, out[:size], OH*OW, &ep)
		return OH, OW
	}
	visual.Conv2DForward(out[:size], x, c.w, c.b, nil, cv, N, H, W)
	switch {
	case residual != nil:
		addReLU(out[:size], residual[:size], relu)
	case relu:
		kernels.ReLUForward(out[:size], out[:size])
	}
	return OH, OW
}

// forward runs the bottleneck on x [N, C, H, W] into out (which must not
// alias x) and returns the output size.
func (b *block) forward(ws *buffers, out, x []float32, N, H, W int) (OH, OW int) {
	h1, w1 := b.branch2a.cv.OutSize(H, W)
	ws.t1 = grow(ws.t1, N*b.branch2a.cv.K*h1*w1)
	b.branch2a.forward(ws, ws.t1, x, nil, true, N, H, W)
	OH, OW = b.b2b.cv.OutSize(h1, w1)
	ws.t2 = grow(ws.t2, N*b.b2b.cv.K*OH*OW)
	b.b2b.forward(ws, ws.t2, ws.t1, nil, true, N, h1, w1)
	size := N * b.b2c.cv.K * OH * OW
	var shortcut []float32
	if b.branch1 == nil {
		shortcut = x[:size]
	} else {
		if sh, sw := b.branch1.cv.OutSize(H, W); sh != OH || sw != OW {
			panic(fmt.Sprintf("detect: %s: shortcut %dx%d, main path %dx%d", b.name, sh, sw, OH, OW))
		}
		ws.sc = grow(ws.sc, size)
		b.branch1.forward(ws, ws.sc, x, nil, false, N, H, W)
		shortcut = ws.sc
	}
	// The Eltwise SUM and its ReLU ride on branch2c's product.
	b.b2c.forward(ws, out, ws.t2, shortcut, true, N, OH, OW)
	return OH, OW
}

// addReLU sets out[i] = out[i] + residual[i], then max(·, 0) when relu.
func addReLU(out, residual []float32, relu bool) {
	parallel.For(len(out), 1<<14, func(lo, hi int) {
		r := residual[lo:hi]
		o := out[lo:hi]
		if relu {
			for i, v := range o {
				o[i] = max(v+r[i], 0)
			}
		} else {
			for i, v := range o {
				o[i] = v + r[i]
			}
		}
	})
}

// caffePoolSize is Caffe's PoolingLayer output size, which rounds up
// (caffe/src/caffe/layers/pooling_layer.cpp, Reshape: ceil, then the last
// window must start inside the image when there is padding).
func caffePoolSize(H, kernel, stride, pad int) int {
	out := (H+2*pad-kernel+stride-1)/stride + 1
	if pad > 0 && (out-1)*stride >= H+pad {
		out--
	}
	return out
}

// maxPoolCaffe is Caffe's MAX pooling (pool1: kernel 3, stride 2, no pad)
// with ceil-mode output size: windows are clipped at the bottom/right border,
// so the last row/column of outputs may see fewer than kernel² inputs.
//
//	inp [NC, H, W]; out [NC, OH, OW], overwritten
func maxPoolCaffe(out, inp []float32, NC, H, W, kernel, stride, pad int) (OH, OW int) {
	OH, OW = caffePoolSize(H, kernel, stride, pad), caffePoolSize(W, kernel, stride, pad)
	parallel.For(NC, 4, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			plane := inp[p*H*W : (p+1)*H*W]
			dst := out[p*OH*OW : (p+1)*OH*OW]
			for oh := 0; oh < OH; oh++ {
				hs := oh*stride - pad
				he := min(hs+kernel, H)
				hs = max(hs, 0)
				for ow := 0; ow < OW; ow++ {
					ws := ow*stride - pad
					we := min(ws+kernel, W)
					ws = max(ws, 0)
					best := float32(-math.MaxFloat32)
					for ih := hs; ih < he; ih++ {
						for _, v := range plane[ih*W+ws : ih*W+we] {
							if v > best {
								best = v
							}
						}
					}
					dst[oh*OW+ow] = best
				}
			}
		}
	})
	return OH, OW
}

// Trunk runs conv1 … res4 on one preprocessed image [3, H, W] and returns the
// stride-16 map res4b22 [C4, FH, FW] (owned by the network, valid until the
// next call).
func (n *Network) Trunk(img []float32, H, W int) (feat []float32, FH, FW int) {
	ws := &n.ws
	c1 := n.conv1.cv
	h, w := c1.OutSize(H, W)
	ws.act[0] = grow(ws.act[0], c1.K*h*w)
	n.conv1.forward(ws, ws.act[0], img, nil, true, 1, H, W)
	var ph, pw int
	if n.Behaviour.StemPoolCeil {
		ph, pw = caffePoolSize(h, 3, 2, 0), caffePoolSize(w, 3, 2, 0)
		ws.act[1] = grow(ws.act[1], c1.K*ph*pw)
		maxPoolCaffe(ws.act[1], ws.act[0], c1.K, h, w, 3, 2, 0)
	} else { // detectron2's stem: MaxPool2d(3, 2, padding=1), floor mode
		mp := visual.MaxPool{Kernel: 3, Stride: 2, Pad: 1}
		ph, pw = mp.OutSize(h, w)
		ws.act[1] = grow(ws.act[1], c1.K*ph*pw)
		visual.MaxPoolForward(ws.act[1], nil, ws.act[0], mp, c1.K, h, w)
	}
	cur, h, w := 1, ph, pw
	for s := 0; s < 3; s++ {
		for i := range n.stages[s] {
			b := &n.stages[s][i]
			oh, ow := b.b2b.cv.OutSize(b.branch2a.cv.OutSize(h, w))
			ws.act[1-cur] = grow(ws.act[1-cur], b.b2c.cv.K*oh*ow)
			h, w = b.forward(ws, ws.act[1-cur], ws.act[cur], 1, h, w)
			cur = 1 - cur
		}
	}
	return ws.act[cur][:n.Cfg.StageOut(2)*h*w], h, w
}
