package dettrain

import (
	"math"

	"github.com/vlbert/vlbert/internal/detect"
	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/visual"
)

// roiPoolForward is detect.RoIPool (Caffe ROIPooling, the same bins) that
// also records each output's argmax, the index h·W+w of the maximum in its
// channel plane (−1 for an empty bin), as roi_pooling_layer.cpp keeps
// max_idx_ for the backward pass. Ties keep the first maximum in row-major
// order (Caffe's strict >).
//
//	feat [C, H, W]; out, argmax [R, C, P, P], overwritten
func roiPoolForward(out []float32, argmax []int32, feat []float32, C, H, W int, rois []detect.Box, P int, spatialScale float32) {
	R := len(rois)
	parallel.For(R*C, 16, func(lo, hi int) {
		for rc := lo; rc < hi; rc++ {
			r, c := rc/C, rc%C
			b := rois[r]
			x1 := int(math.Round(float64(b[0] * spatialScale)))
			y1 := int(math.Round(float64(b[1] * spatialScale)))
			x2 := int(math.Round(float64(b[2] * spatialScale)))
			y2 := int(math.Round(float64(b[3] * spatialScale)))
			rh, rw := max(y2-y1+1, 1), max(x2-x1+1, 1)
			binH, binW := float32(rh)/float32(P), float32(rw)/float32(P)
			plane := feat[c*H*W : (c+1)*H*W]
			dst, arg := out[rc*P*P:(rc+1)*P*P], argmax[rc*P*P:(rc+1)*P*P]
			for ph := 0; ph < P; ph++ {
				hs := int(math.Floor(float64(float32(ph) * binH)))
				he := int(math.Ceil(float64(float32(ph+1) * binH)))
				hs, he = min(max(hs+y1, 0), H), min(max(he+y1, 0), H)
				for pw := 0; pw < P; pw++ {
					ws := int(math.Floor(float64(float32(pw) * binW)))
					we := int(math.Ceil(float64(float32(pw+1) * binW)))
					ws, we = min(max(ws+x1, 0), W), min(max(we+x1, 0), W)
					if he <= hs || we <= ws {
						dst[ph*P+pw], arg[ph*P+pw] = 0, -1
						continue
					}
					best, at := float32(-math.MaxFloat32), int32(-1)
					for h := hs; h < he; h++ {
						for w := ws; w < we; w++ {
							if v := plane[h*W+w]; v > best {
								best, at = v, int32(h*W+w)
							}
						}
					}
					dst[ph*P+pw], arg[ph*P+pw] = best, at
				}
			}
		}
	})
}

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
