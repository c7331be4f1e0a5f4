package detect

import (
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// RPNOutput is the region proposal network's output on an FH x FW map.
type RPNOutput struct {
	FH, FW int
	// FgProb [A, FH, FW]: channels A..2A−1 of rpn_cls_prob_reshape, the
	// foreground probability softmax(bg_a, fg_a)[1] of anchor a.
	FgProb []float32
	// Deltas [4A, FH, FW]: rpn_bbox_pred, anchor-major (dx, dy, dw, dh).
	Deltas []float32
}

// RPN runs rpn_conv/3x3 + ReLU, rpn_cls_score with the softmax over each
// (background, foreground) pair, and rpn_bbox_pred on the res4 map feat
// [C4, FH, FW]. The result's slices are owned by the network.
//
// The pairing is the prototxt's: rpn_cls_score_reshape views the 2A channels
// as (2, A·FH, FW), so channel a is anchor a's background and channel A+a its
// foreground; rpn_cls_prob is Caffe's Softmax over that axis of 2.
func (n *Network) RPN(feat []float32, FH, FW int) RPNOutput {
	ws := &n.ws
	hw := FH * FW
	ws.rpnHidden = grow(ws.rpnHidden, n.Cfg.RPNWidth*hw)
	n.rpnConv.forward(ws, ws.rpnHidden, feat, nil, true, 1, FH, FW)
	A := n.Cfg.NumAnchors()
	ws.rpnCls = grow(ws.rpnCls, 2*A*hw)
	n.rpnCls.forward(ws, ws.rpnCls, ws.rpnHidden, nil, false, 1, FH, FW)
	ws.rpnBox = grow(ws.rpnBox, 4*A*hw)
	n.rpnBbox.forward(ws, ws.rpnBox, ws.rpnHidden, nil, false, 1, FH, FW)
	// Softmax in place: the foreground half becomes the probabilities.
	scores := ws.rpnCls
	parallel.For(A*hw, 1024, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			bg, fg := scores[i], scores[A*hw+i]
			m := max(bg, fg)
			eb, ef := float32(math.Exp(float64(bg-m))), float32(math.Exp(float64(fg-m)))
			scores[A*hw+i] = ef / (eb + ef)
		}
	})
	return RPNOutput{FH: FH, FW: FW, FgProb: scores[A*hw : 2*A*hw], Deltas: ws.rpnBox[:4*A*hw]}
}

// Proposals is lib/rpn/proposal_layer.py's forward with the TEST settings:
// every anchor (shifted by the feature stride; position-major, anchor-minor
// as the layer's reshape orders them) is moved by its deltas
// (bboxTransformInv), clipped to the scaled image imH x imW, dropped when its
// width or height (+1) is below RPNMinSize·imScale (_filter_boxes), the rest
// ordered by foreground probability (argsort()[::-1]), the first PreNMSTopN
// kept, NMS at RPNNMSThresh, and the first PostNMSTopN returned with their
// scores. imScale is im_info[2], a float32 in the original blob.
func (n *Network) Proposals(r RPNOutput, imH, imW int, imScale float32) (boxes []Box, scores []float32) {
	if n.Behaviour.Detectron2Boxes {
		return n.proposalsDetectron2(r, imH, imW)
	}
	A := n.Cfg.NumAnchors()
	hw := r.FH * r.FW
	stride := float64(n.Cfg.FeatStride)
	minSize := float32(n.RPNMinSize) * imScale
	fw, fh := float32(imW), float32(imH)
	all := make([]Box, 0, A*hw)
	allScores := make([]float32, 0, A*hw)
	for y := 0; y < r.FH; y++ {
		for x := 0; x < r.FW; x++ {
			p := y*r.FW + x
			for a := 0; a < A; a++ {
				an := n.anchors[4*a : 4*a+4]
				sx, sy := float64(x)*stride, float64(y)*stride
				// The anchors are float64 in the layer, cast to float32 by bbox_transform_inv.
				anchor := Box{float32(an[0] + sx), float32(an[1] + sy), float32(an[2] + sx), float32(an[3] + sy)}
				d := r.Deltas[4*a*hw+p:]
				dw, dh := d[2*hw], d[3*hw]
				if c := n.Behaviour.DeltaClamp; c > 0 {
					dw, dh = min(dw, c), min(dh, c)
				}
				b := clipBox(bboxTransformInv(anchor, d[0], d[hw], dw, dh), fw, fh)
				// proposal_layer.py, _filter_boxes: +1 widths, >= min_size.
				if b[2]-b[0]+1 >= minSize && b[3]-b[1]+1 >= minSize {
					all = append(all, b)
					allScores = append(allScores, r.FgProb[a*hw+p])
				}
			}
		}
	}
	order := argsortDesc(allScores)
	if n.PreNMSTopN > 0 && len(order) > n.PreNMSTopN {
		order = order[:n.PreNMSTopN]
	}
	top := make([]Box, len(order))
	topScores := make([]float32, len(order))
	for i, o := range order {
		top[i], topScores[i] = all[o], allScores[o]
	}
	// nms() sorts the (already sorted) boxes again, as gpu_nms does.
	keep := NMS(top, topScores, n.RPNNMSThresh, n.PostNMSTopN)
	boxes = make([]Box, len(keep))
	scores = make([]float32, len(keep))
	for i, k := range keep {
		boxes[i], scores[i] = top[k], topScores[k]
	}
	return boxes, scores
}
