package detect

import (
	"fmt"
	"time"

	"github.com/vlbert/vlbert/internal/visual"
)

// Result is everything the detector computes for one photo.
type Result struct {
	Image *Image // the preprocessed input (Data may be released by the caller)

	FH, FW int // res4 map size

	// RoIs are the proposals in the scaled image's pixels (the rois blob's
	// columns 1..4) with their RPN foreground probabilities.
	RoIs      []Box
	RoIScores []float32

	Head HeadOutput

	// StagesMs is the wall time of each stage in milliseconds: preprocess,
	// trunk, rpn, proposals, head (RoI pooling + res5 + output layers).
	StagesMs map[string]float64
}

// Stages lists the keys of Result.StagesMs in order.
var Stages = []string{"preprocess", "trunk", "rpn", "proposals", "head"}

// Detect runs the whole network on a decoded photo with the test settings
// (TEST.SCALES and TEST.MAX_SIZE: TestScale, TestMaxSize).
func (n *Network) Detect(img *visual.RGBImage) (*Result, error) {
	t := time.Now()
	pre, err := n.preprocess(img)
	if err != nil {
		return nil, err
	}
	prepMs := ms(t)
	res := n.Forward(pre)
	res.StagesMs["preprocess"] = prepMs
	return res, nil
}

func (n *Network) preprocess(img *visual.RGBImage) (*Image, error) {
	prep := preprocessCV
	if n.Behaviour.ResizePIL {
		prep = preprocessPIL
	}
	return prep(img, n.TestScale, n.TestMaxSize, n.Behaviour.PixelMeans)
}

// DetectAt runs the network on given boxes instead of its proposals, as
// lib/fast_rcnn/test.py's im_detect(net, im, boxes) does with
// cfg.TEST.HAS_RPN False: the boxes (x1, y1, x2, y2 in the photo's pixels)
// are scaled by im_scale and pooled as the RoIs, in order. The RPN does not
// run; Result.RoIs are the scaled boxes with RoIScores 1.
func (n *Network) DetectAt(img *visual.RGBImage, boxes []Box) (*Result, error) {
	_, given, err := n.detect(img, boxes, false)
	return given, err
}

// DetectWith is Detect and DetectAt(img, boxes) with one trunk pass: the
// image's detections and its features at the given boxes.
func (n *Network) DetectWith(img *visual.RGBImage, boxes []Box) (det, given *Result, err error) {
	return n.detect(img, boxes, true)
}

func (n *Network) detect(img *visual.RGBImage, boxes []Box, proposals bool) (det, given *Result, err error) {
	if len(boxes) == 0 {
		return nil, nil, fmt.Errorf("detect: no boxes given")
	}
	t := time.Now()
	pre, err := n.preprocess(img)
	if err != nil {
		return nil, nil, err
	}
	prepMs := ms(t)
	t = time.Now()
	feat, FH, FW := n.Trunk(pre.Data, pre.H, pre.W)
	trunkMs := ms(t)
	if proposals {
		det = &Result{Image: pre, FH: FH, FW: FW, StagesMs: map[string]float64{"preprocess": prepMs, "trunk": trunkMs}}
		n.detectFrom(det, feat)
	}
	given = &Result{Image: pre, FH: FH, FW: FW, StagesMs: map[string]float64{"preprocess": prepMs, "trunk": trunkMs}}
	s := float32(pre.Scale)
	given.RoIs, given.RoIScores = make([]Box, len(boxes)), make([]float32, len(boxes))
	for i, b := range boxes {
		given.RoIs[i] = Box{b[0] * s, b[1] * s, b[2] * s, b[3] * s}
		given.RoIScores[i] = 1
	}
	t = time.Now()
	given.Head = n.Head(feat, FH, FW, given.RoIs)
	given.StagesMs["head"] = ms(t)
	return det, given, nil
}

// SelectGiven is the Selection of every RoI of a DetectAt result, in order, with
// the boxes as given.
func SelectGiven(res *Result, boxes []Box) *Selection {
	sel := &Selection{Index: make([]int, len(boxes)), Boxes: append([]Box(nil), boxes...), Conf: make([]float32, len(boxes))}
	NC := len(res.Head.ClsProb) / max(res.Head.R, 1)
	for i := range boxes {
		sel.Index[i] = i
		for c := 1; c < NC; c++ {
			sel.Conf[i] = max(sel.Conf[i], res.Head.ClsProb[i*NC+c])
		}
	}
	return sel
}

// Forward runs the network on a preprocessed image.
func (n *Network) Forward(img *Image) *Result {
	res := &Result{Image: img, StagesMs: map[string]float64{}}
	t := time.Now()
	feat, FH, FW := n.Trunk(img.Data, img.H, img.W)
	res.FH, res.FW = FH, FW
	res.StagesMs["trunk"] = ms(t)
	n.detectFrom(res, feat)
	return res
}

// detectFrom runs the RPN, the proposals and the head on the trunk's
// output feat, filling res.
func (n *Network) detectFrom(res *Result, feat []float32) {
	img, FH, FW := res.Image, res.FH, res.FW
	t := time.Now()
	rpn := n.RPN(feat, FH, FW)
	res.StagesMs["rpn"] = ms(t)

	t = time.Now()
	// im_info is a float32 blob: [H, W, im_scale].
	res.RoIs, res.RoIScores = n.Proposals(rpn, img.H, img.W, float32(img.Scale))
	res.StagesMs["proposals"] = ms(t)

	t = time.Now()
	res.Head = n.Head(feat, FH, FW, res.RoIs)
	res.StagesMs["head"] = ms(t)
}

func ms(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
