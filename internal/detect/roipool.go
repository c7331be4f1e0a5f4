package detect

import (
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// RoIPool is Caffe's ROIPoolingLayer forward
// (caffe/src/caffe/layers/roi_pooling_layer.cpp, Forward_cpu; the .cu kernel
// computes the same) for one image:
//
//	feat [C, H, W]; rois [R] in the scaled image's pixels; out [R, C, P, P]
//	(or [C, R, P, P] with channelMajor, the res5 head's layout)
//
// In float32 as Caffe's Dtype: the RoI corners are scaled by spatialScale
// and rounded with C's round() (half away from zero); the RoI is at least
// 1x1 (end − start + 1, the +1 convention); bin (ph, pw) spans
// [floor(ph·bin), ceil((ph+1)·bin)) offset by the RoI start and clipped to
// the map; an empty bin gives 0, otherwise the maximum.
func RoIPool(out, feat []float32, C, H, W int, rois []Box, P int, spatialScale float32, channelMajor bool) {
	roiPool(out, nil, feat, C, H, W, rois, P, spatialScale, channelMajor)
}

// RoIPoolArgmax is RoIPool (out [R, C, P, P]) that also records each output's
// argmax, the index h·W+w of the maximum in its channel plane (−1 for an empty
// bin), as roi_pooling_layer.cpp keeps max_idx_ for the backward pass. Ties
// keep the first maximum in row-major order (Caffe's strict >).
func RoIPoolArgmax(out []float32, argmax []int32, feat []float32, C, H, W int, rois []Box, P int, spatialScale float32) {
	checkLen("roipool argmax", len(argmax), len(rois)*C*P*P)
	roiPool(out, argmax, feat, C, H, W, rois, P, spatialScale, false)
}

// roiPool is RoIPool, recording the argmax when argmax is not nil.
func roiPool(out []float32, argmax []int32, feat []float32, C, H, W int, rois []Box, P int, spatialScale float32, channelMajor bool) {
	R := len(rois)
	checkLen("roipool feat", len(feat), C*H*W)
	checkLen("roipool out", len(out), R*C*P*P)
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
			o := rc
			if channelMajor {
				o = c*R + r
			}
			dst := out[o*P*P : (o+1)*P*P]
			var arg []int32
			if argmax != nil {
				arg = argmax[o*P*P : (o+1)*P*P]
			}
			for ph := 0; ph < P; ph++ {
				hs := int(math.Floor(float64(float32(ph) * binH)))
				he := int(math.Ceil(float64(float32(ph+1) * binH)))
				hs, he = min(max(hs+y1, 0), H), min(max(he+y1, 0), H)
				for pw := 0; pw < P; pw++ {
					ws := int(math.Floor(float64(float32(pw) * binW)))
					we := int(math.Ceil(float64(float32(pw+1) * binW)))
					ws, we = min(max(ws+x1, 0), W), min(max(we+x1, 0), W)
					if he <= hs || we <= ws {
						dst[ph*P+pw] = 0
						if arg != nil {
							arg[ph*P+pw] = -1
						}
						continue
					}
					best, at := float32(-math.MaxFloat32), -1
					for h := hs; h < he; h++ {
						for w, v := range plane[h*W+ws : h*W+we] {
							if v > best {
								best, at = v, h*W+ws+w
							}
						}
					}
					dst[ph*P+pw] = best
					if arg != nil {
						arg[ph*P+pw] = int32(at)
					}
				}
			}
		}
	})
}

func checkLen(name string, got, want int) {
	if got < want {
		panic("detect: " + name + " is too short")
	}
}
