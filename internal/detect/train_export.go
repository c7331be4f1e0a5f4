package detect

// Exports for the detector's training (internal/detect/dettrain), which must
// use exactly the box arithmetic of the forward: the same anchors, the same
// delta decoding and clipping, the same +1 IoU.

// Anchors is generateAnchors(base, ratios, scales): [A, 4] float64 corners of
// the anchors at position (0, 0), ratio-major (lib/rpn/generate_anchors.py).
func Anchors(base int, ratios, scales []float64) []float64 {
	return generateAnchors(base, ratios, scales)
}

// BBoxTransformInv is lib/fast_rcnn/bbox_transform.py, bbox_transform_inv,
// for one box and its deltas (float32 as there).
func BBoxTransformInv(b Box, dx, dy, dw, dh float32) Box { return bboxTransformInv(b, dx, dy, dw, dh) }

// ClipBox is bbox_transform.py, clip_boxes, into an imW x imH image.
func ClipBox(b Box, imW, imH float32) Box { return clipBox(b, imW, imH) }

// IoU is the +1-convention intersection over union NMS uses (nms_kernel.cu, devIoU).
func IoU(a, b Box) float32 { return iouCaffe(a, b) }
