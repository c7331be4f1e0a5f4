package dettrain

import (
	"math"
	"math/rand/v2"

	"github.com/vlbert/vlbert/internal/detect"
	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/visual"
)

// Losses are the five losses of train.prototxt for one image (each already
// multiplied by its loss_weight) and their sum.
type Losses struct {
	RPNCls, RPNBox, Cls, Box, Attr, Total float32
	RPNFg, RoIFg                          int // sampled foreground anchors and RoIs
}

// pass holds one image's forward activations up to the RPN outputs.
type pass struct {
	img          []float32
	H, W         int
	feat         []float32
	FH, FW       int
	rpnHidden    []float32 // after ReLU
	rpnCls       []float32 // [2A, FH, FW] logits
	rpnBox       []float32 // [4A, FH, FW]
	fgProb       []float32 // [A, FH, FW]
	anchors      []float64
	pooled       []float32
	argmax       []int32
	pool5        []float32
	cls, bbox    []float32
	attrIn       []float32 // [nA, F+E]
	attrHidden   []float32
	attrScore    []float32
	res5H, res5W int
}

// targets are one image's sampled training targets (anchor_target_layer and
// proposal_target_layer outputs).
type targets struct {
	rpn rpnTargets
	roi roiTargets
}

// forwardRPN runs the trunk and the RPN on a preprocessed image [3, H, W].
func (n *Net) forwardRPN(p *pass, img []float32, H, W int) {
	p.img, p.H, p.W = img, H, W
	p.feat, p.FH, p.FW = n.trunkForward(img, H, W)
	hw := p.FH * p.FW
	A := n.Cfg.NumAnchors()
	p.rpnHidden = grow(p.rpnHidden, n.Cfg.RPNWidth*hw)
	n.rpn[0].forward(p.rpnHidden, p.feat, p.FH, p.FW)
	for i, v := range p.rpnHidden {
		p.rpnHidden[i] = max(v, 0)
	}
	p.rpnCls, p.rpnBox = grow(p.rpnCls, 2*A*hw), grow(p.rpnBox, 4*A*hw)
	n.rpn[1].forward(p.rpnCls, p.rpnHidden, p.FH, p.FW)
	n.rpn[2].forward(p.rpnBox, p.rpnHidden, p.FH, p.FW)
	p.fgProb = grow(p.fgProb, A*hw)
	for i := range p.fgProb {
		bg, fg := p.rpnCls[i], p.rpnCls[A*hw+i]
		p.fgProb[i] = float32(1 / (1 + math.Exp(float64(bg-fg))))
	}
	if p.anchors == nil {
		p.anchors = detect.Anchors(n.Cfg.AnchorBase, n.Cfg.AnchorRatios, n.Cfg.AnchorScales)
	}
}

// sampleTargets draws the anchor and RoI targets of the last forwardRPN
// for gts (scaled pixels); imScale scales RPN_MIN_SIZE as proposal_layer.py does.
func (n *Net) sampleTargets(rng *rand.Rand, c *TrainConfig, p *pass, gts []GT, imScale float64) targets {
	A, stride := n.Cfg.NumAnchors(), n.Cfg.FeatStride
	var t targets
	t.rpn = anchorTargets(rng, c, p.anchors, A, p.FH, p.FW, stride, p.H, p.W, gts)
	props := trainProposals(p.anchors, p.fgProb, p.rpnBox, A, p.FH, p.FW, stride, p.H, p.W,
		float32(c.RPNMinSize*imScale), c.RPNPreNMSTopN, c.RPNPostNMSTopN, float32(c.RPNNMSThresh))
	t.roi = sampleRoIs(rng, c, props, gts, n.Cfg.NumClasses)
	return t
}

// lossAndBackward runs the RoI head on the sampled RoIs, computes the five
// losses and, with backward, ACCUMULATES every trainable gradient.
func (n *Net) lossAndBackward(c *TrainConfig, p *pass, t *targets, backward bool) Losses {
	cfg := n.Cfg
	A, hw := cfg.NumAnchors(), p.FH*p.FW
	var l Losses
	l.RPNFg, l.RoIFg = t.rpn.numFg, t.roi.numFg

	// rpn_loss_cls: softmax over each (bg_a, fg_a) pair at each position.
	labels := make([]int, A*hw)
	pairs := make([]float32, 2*A*hw)
	for i := range labels {
		labels[i] = int(t.rpn.labels[i])
		pairs[2*i], pairs[2*i+1] = p.rpnCls[i], p.rpnCls[A*hw+i]
	}
	var dPairs, dRPNBox []float32
	if backward {
		dPairs, dRPNBox = make([]float32, 2*A*hw), make([]float32, 4*A*hw)
	}
	l.RPNCls = softmaxLoss(dPairs, pairs, labels, A*hw, 2, 1, 1)
	l.RPNBox = smoothL1Loss(dRPNBox, p.rpnBox, t.rpn.targets, t.rpn.inside, t.rpn.outsideW, c.RPNSigma, 1, 1)

	// RoI head.
	R, C4, P := len(t.roi.rois), cfg.StageOut(2), cfg.PooledSize
	F, NC, NA, E, AH := cfg.StageOut(3), cfg.NumClasses, cfg.NumAttributes, cfg.EmbedDim, cfg.AttrHidden
	p.pooled, p.argmax = grow(p.pooled, R*C4*P*P), growInt32(p.argmax, R*C4*P*P)
	detect.RoIPoolArgmax(p.pooled, p.argmax, p.feat, C4, p.FH, p.FW, t.roi.rois, P, 1/float32(cfg.FeatStride))
	x, h, w := p.pooled, P, P
	for _, b := range n.stages[3] {
		x, h, w = b.Forward(&n.ws, x, R, h, w)
	}
	p.res5H, p.res5W = h, w
	p.pool5 = grow(p.pool5, R*F)
	visual.AvgPoolForward(p.pool5, x, R*F, h*w)
	p.cls, p.bbox = grow(p.cls, R*NC), grow(p.bbox, R*4*NC)
	linearForward(p.cls, p.pool5, n.index[importer.ClsScore+".weight"].Data, n.index[importer.ClsScore+".bias"].Data, R, F, NC)
	linearForward(p.bbox, p.pool5, n.index[importer.BboxPred+".weight"].Data, n.index[importer.BboxPred+".bias"].Data, R, F, 4*NC)

	// Attribute branch on the first fgPerImage RoIs (the foreground_pool5
	// slice), with the ground-truth class embedded (cls_embedding reads
	// foreground_labels in training).
	fgPer := len(t.roi.attrs) / MaxAttrs
	nA := min(fgPer, R)
	embed := n.index[importer.ClsEmbed+".weight"]
	p.attrIn = grow(p.attrIn, nA*(F+E))
	for r := 0; r < nA; r++ {
		copy(p.attrIn[r*(F+E):], p.pool5[r*F:(r+1)*F])
		lab := t.roi.labels[r]
		copy(p.attrIn[r*(F+E)+F:(r+1)*(F+E)], embed.Data[lab*E:(lab+1)*E])
	}
	fcAttrW, fcAttrB := n.index[importer.FcAttr+".weight"], n.index[importer.FcAttr+".bias"]
	attrW, attrB := n.index[importer.AttrScore+".weight"], n.index[importer.AttrScore+".bias"]
	p.attrHidden, p.attrScore = grow(p.attrHidden, nA*AH), grow(p.attrScore, nA*NA)
	linearForward(p.attrHidden, p.attrIn, fcAttrW.Data, fcAttrB.Data, nA, F+E, AH)
	for i, v := range p.attrHidden {
		p.attrHidden[i] = max(v, 0)
	}
	linearForward(p.attrScore, p.attrHidden, attrW.Data, attrB.Data, nA, AH, NA)

	var dCls, dBbox, dAttr []float32
	if backward {
		dCls, dBbox, dAttr = make([]float32, R*NC), make([]float32, R*4*NC), make([]float32, nA*NA)
	}
	l.Cls = softmaxLoss(dCls, p.cls, t.roi.labels, R, NC, 1, 1)
	// bbox_outside_weights = (inside > 0): the same 0/1 mask.
	l.Box = smoothL1Loss(dBbox, p.bbox, t.roi.targets, t.roi.inside, t.roi.inside, 1, max(R, 1), 1)
	l.Attr = softmaxLoss(dAttr, p.attrScore, t.roi.attrs[:nA*MaxAttrs], nA, NA, MaxAttrs, float32(c.AttrLossWeight))
	l.Total = l.RPNCls + l.RPNBox + l.Cls + l.Box + l.Attr
	if !backward {
		return l
	}

	// Backward, the forward in reverse: attribute branch, box and class heads.
	dHidden := make([]float32, nA*AH)
	linearBackward(dHidden, attrW.Grad, attrB.Grad, dAttr, p.attrHidden, attrW.Data, nA, AH, NA)
	for i, v := range p.attrHidden {
		if v <= 0 {
			dHidden[i] = 0
		}
	}
	dAttrIn := make([]float32, nA*(F+E))
	linearBackward(dAttrIn, fcAttrW.Grad, fcAttrB.Grad, dHidden, p.attrIn, fcAttrW.Data, nA, F+E, AH)
	dPool5 := make([]float32, R*F)
	tmp := make([]float32, R*F)
	linearBackward(dPool5, n.index[importer.ClsScore+".weight"].Grad, n.index[importer.ClsScore+".bias"].Grad, dCls, p.pool5, n.index[importer.ClsScore+".weight"].Data, R, F, NC)
	linearBackward(tmp, n.index[importer.BboxPred+".weight"].Grad, n.index[importer.BboxPred+".bias"].Grad, dBbox, p.pool5, n.index[importer.BboxPred+".weight"].Data, R, F, 4*NC)
	for i, v := range tmp {
		dPool5[i] += v
	}
	for r := 0; r < nA; r++ {
		for i, v := range dAttrIn[r*(F+E) : r*(F+E)+F] {
			dPool5[r*F+i] += v
		}
		if embed.Grad != nil {
			lab := t.roi.labels[r]
			for i, v := range dAttrIn[r*(F+E)+F : (r+1)*(F+E)] {
				embed.Grad[lab*E+i] += v
			}
		}
	}
	// pool5 (global average), res5, RoI pooling into the res4 map.
	dRes5 := make([]float32, R*F*h*w)
	visual.AvgPoolBackward(dRes5, dPool5, R*F, h*w)
	g := dRes5
	res5 := n.stages[3]
	for k := len(res5) - 1; k >= 0; k-- {
		var dinp []float32
		if k > 0 {
			dinp = make([]float32, R*res5[k].Conv1.C*h*w)
		} else {
			dinp = make([]float32, R*C4*P*P)
		}
		res5[k].Backward(&n.ws, dinp, g)
		g = dinp
	}
	dFeat := make([]float32, C4*hw)
	roiPoolBackward(dFeat, g, p.argmax, C4, p.FH, p.FW, R, P)

	// RPN: the two 1x1 outputs, the ReLU, rpn_conv/3x3.
	dRPNCls := make([]float32, 2*A*hw)
	for i := 0; i < A*hw; i++ {
		dRPNCls[i], dRPNCls[A*hw+i] = dPairs[2*i], dPairs[2*i+1]
	}
	dHid, dHid2 := make([]float32, len(p.rpnHidden)), make([]float32, len(p.rpnHidden))
	n.rpn[1].backward(dHid, dRPNCls, p.rpnHidden, p.FH, p.FW)
	n.rpn[2].backward(dHid2, dRPNBox, p.rpnHidden, p.FH, p.FW)
	for i, v := range p.rpnHidden {
		if v <= 0 {
			dHid[i] = 0
		} else {
			dHid[i] += dHid2[i]
		}
	}
	dFeatRPN := make([]float32, C4*hw)
	n.rpn[0].backward(dFeatRPN, dHid, p.feat, p.FH, p.FW)
	for i, v := range dFeatRPN {
		dFeat[i] += v
	}
	n.trunkBackward(dFeat)
	return l
}
