package dettrain

import (
	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/visual"
)

// roiPoolBackward is ROIPoolingLayer's Backward: each output gradient goes
// to its argmax position; a position gets the sum over all RoIs and bins
// whose maximum it was. dfeat [C, H, W] is ACCUMULATED.
func roiPoolBackward(dfeat, dout []float32, argmax []int32, C, H, W, R, P int) {
	parallel.For(C, 4, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := dfeat[c*H*W : (c+1)*H*W]
			for r := 0; r < R; r++ {
				base := (r*C + c) * P * P
				for i, a := range argmax[base : base+P*P] {
					if a >= 0 {
						plane[a] += dout[base+i]
					}
				}
			}
		}
	})
}

// linearForward is Caffe's InnerProduct: out [R, K] = x [R, F] · wᵀ + b.
func linearForward(out, x, w, b []float32, R, F, K int) {
	if R == 0 {
		return
	}
	gemm.SgemmBias(false, true, R, K, F, 1, x, F, w, F, 0, out, K, b)
}

// linearBackward ACCUMULATES dw [K, F] += doutᵀ·x and db [K] += Σ_r dout,
// and OVERWRITES dx [R, F] = dout·w (nil skips it).
func linearBackward(dx, dw, db, dout, x, w []float32, R, F, K int) {
	if R == 0 {
		return
	}
	if dw != nil {
		gemm.Sgemm(true, false, K, F, R, 1, dout, K, x, F, 1, dw, F)
	}
	if db != nil {
		for r := 0; r < R; r++ {
			for k, v := range dout[r*K : (r+1)*K] {
				db[k] += v
			}
		}
	}
	if dx != nil {
		gemm.Sgemm(false, false, R, F, K, 1, dout, K, w, F, 0, dx, F)
	}
}

// forward runs the biased convolution on x [C, H, W] into out [K, OH, OW].
func (c *biasConv) forward(out, x []float32, H, W int) {
	visual.Conv2DForward(out, x, c.w.Data, c.b.Data, nil, c.cv, 1, H, W)
}

// backward ACCUMULATES the weight and bias gradients (when trainable) and
// OVERWRITES dx (nil skips it).
func (c *biasConv) backward(dx, dout, x []float32, H, W int) {
	visual.Conv2DBackward(dx, c.w.Grad, dout, x, c.w.Data, nil, c.cv, 1, H, W)
	if c.b.Grad != nil {
		OH, OW := c.cv.OutSize(H, W)
		for k := range c.cv.K {
			var s float32
			for _, v := range dout[k*OH*OW : (k+1)*OH*OW] {
				s += v
			}
			c.b.Grad[k] += s
		}
	}
}
