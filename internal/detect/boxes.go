package detect

import (
	"math"
	"slices"
)

// Box is (x1, y1, x2, y2) in pixels, inclusive corners as py-faster-rcnn
// treats them (width x2 − x1 + 1).
type Box [4]float32

// generateAnchors is lib/rpn/generate_anchors.py: the base box
// [0, 0, base−1, base−1] is reshaped to each ratio keeping its area
// (ws = round(sqrt(area/ratio)), hs = round(ws·ratio), np.round: half to even)
// and then scaled, ratio-major: anchor r·len(scales)+s. Returns [A, 4].
func generateAnchors(base int, ratios, scales []float64) []float64 {
	whctrs := func(a [4]float64) (w, h, xc, yc float64) {
		w, h = a[2]-a[0]+1, a[3]-a[1]+1 // generate_anchors.py, _whctrs: +1 widths
		return w, h, a[0] + 0.5*(w-1), a[1] + 0.5*(h-1)
	}
	mk := func(w, h, xc, yc float64) [4]float64 {
		return [4]float64{xc - 0.5*(w-1), yc - 0.5*(h-1), xc + 0.5*(w-1), yc + 0.5*(h-1)}
	}
	b := float64(base)
	w, h, xc, yc := whctrs([4]float64{0, 0, b - 1, b - 1})
	var out []float64
	for _, r := range ratios {
		ws := math.RoundToEven(math.Sqrt(w * h / r))
		hs := math.RoundToEven(ws * r)
		ra := mk(ws, hs, xc, yc)
		rw, rh, rxc, ryc := whctrs(ra)
		for _, s := range scales {
			a := mk(rw*s, rh*s, rxc, ryc)
			out = append(out, a[:]...)
		}
	}
	return out
}

// bboxTransformInv is lib/fast_rcnn/bbox_transform.py, bbox_transform_inv, in
// float32 as there (boxes are cast to the deltas' dtype): widths get +1, the
// centre is x1 + 0.5·width, and the new x2 is ctr + 0.5·w with no −1.
// There is no clamp on dw, dh (np.exp overflows to inf, which clip_boxes then
// clips to the border).
func bboxTransformInv(b Box, dx, dy, dw, dh float32) Box {
	w := b[2] - b[0] + 1
	h := b[3] - b[1] + 1
	cx := b[0] + 0.5*w
	cy := b[1] + 0.5*h
	pcx := float32(dx*w) + cx
	pcy := float32(dy*h) + cy
	pw := float32(math.Exp(float64(dw))) * w
	ph := float32(math.Exp(float64(dh))) * h
	return Box{pcx - float32(0.5*pw), pcy - float32(0.5*ph), pcx + float32(0.5*pw), pcy + float32(0.5*ph)}
}

// clipBox is bbox_transform.py, clip_boxes: each coordinate into
// [0, width−1] / [0, height−1] as max(min(v, size−1), 0); an infinite
// coordinate (exp overflow) lands on the border.
func clipBox(b Box, imW, imH float32) Box {
	for i := 0; i < 4; i += 2 {
		b[i] = max(min(b[i], imW-1), 0)
		b[i+1] = max(min(b[i+1], imH-1), 0)
	}
	return b
}

// iouCaffe is lib/nms/nms_kernel.cu, devIoU, in float32: widths and areas
// with +1, the intersection clamped at 0.
func iouCaffe(a, b Box) float32 {
	left, right := max(a[0], b[0]), min(a[2], b[2])
	top, bottom := max(a[1], b[1]), min(a[3], b[3])
	w, h := max(right-left+1, 0), max(bottom-top+1, 0)
	inter := float32(w * h)
	sa := float32((a[2] - a[0] + 1) * (a[3] - a[1] + 1))
	sb := float32((b[2] - b[0] + 1) * (b[3] - b[1] + 1))
	return inter / (sa + sb - inter)
}

// argsortDesc is numpy's scores.argsort()[::-1] with a stable sort: indices
// by descending score, equal scores with the higher index first. (numpy's
// default quicksort is an insertion sort, hence stable, below 17 elements;
// above, its tie order is unspecified, and a trained detector has no exact
// ties, so this is the original's behaviour wherever it is defined.)
func argsortDesc(scores []float32) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	slices.Reverse(idx)
	return idx
}

// NMS is the released code's non-maximum suppression (lib/nms/gpu_nms.pyx
// with nms_kernel.cu; cfg.USE_GPU_NMS is True): boxes are ordered by
// argsortDesc(scores), then greedily a box is kept and every later box whose
// iouCaffe with it is > thresh (strictly) is removed. It returns the kept
// indices in score order; limit > 0 stops after that many (the greedy choice
// of the first k does not depend on the rest).
func NMS(boxes []Box, scores []float32, thresh float32, limit int) []int {
	order := argsortDesc(scores)
	removed := make([]bool, len(order))
	var keep []int
	for i, bi := range order {
		if removed[i] {
			continue
		}
		keep = append(keep, bi)
		if limit > 0 && len(keep) == limit {
			break
		}
		for j := i + 1; j < len(order); j++ {
			if !removed[j] && iouCaffe(boxes[bi], boxes[order[j]]) > thresh {
				removed[j] = true
			}
		}
	}
	return keep
}
