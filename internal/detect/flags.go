package detect

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/detect/importer"
)

// Behaviour is what the network does differently for a release whose
// conventions cannot be folded into its weights (importer.Flags). The zero
// value is not valid; Load sets the published Caffe network's.
type Behaviour struct {
	PixelMeans [3]float32 // B, G, R means subtracted from the input
	// StemPoolCeil: pool1 is Caffe's ceil-mode 3x3/2 without padding;
	// false: detectron2's pad-1 floor-mode pool.
	StemPoolCeil bool
	// Detectron2Boxes: proposals decoded without +1 (x2 = ctr + w/2 with
	// w = x2 − x1), clipped to [0, W] x [0, H], the top PreNMSTopN taken
	// before clipping, boxes kept when both sides exceed the minimum size
	// (in network-input pixels), NMS without +1 — detectron2's
	// find_top_rpn_proposals as modeling_frcnn.py has it.
	Detectron2Boxes bool
	DeltaClamp      float32 // dw, dh clamped at this before exp when > 0
	// ResizePIL: detectron2's ResizeShortestEdge (sizes int(x + 0.5)) with
	// PIL's bilinear resize of the 8-bit image (the HF demo's
	// processing_image.py) instead of cv2.resize of the float image.
	ResizePIL bool
}

// CaffeBehaviour is the published test network.
func CaffeBehaviour() Behaviour {
	return Behaviour{PixelMeans: PixelMeansBGR, StemPoolCeil: true}
}

// LoadResult builds the network of an imported release (importer.Load),
// applying the release's flags.
func LoadResult(r *importer.Result) (*Network, error) {
	n, err := Load(r.Config, r.Weights, r.Path)
	if err != nil {
		return nil, err
	}
	f := r.Flags
	switch f.BoxCoding {
	case importer.BoxCodingCaffe, "":
	case importer.BoxCodingDetectron2:
		n.Behaviour.Detectron2Boxes = true
	default:
		return nil, fmt.Errorf("detect: %s: unknown box coding %q", r.Path, f.BoxCoding)
	}
	if f.PixelMeans != [3]float32{} {
		n.Behaviour.PixelMeans = f.PixelMeans
	}
	n.Behaviour.StemPoolCeil = f.StemPoolCeil
	n.Behaviour.ResizePIL = f.ResizePIL
	if f.DeltaScaleClamp > 0 {
		n.Behaviour.DeltaClamp = float32(f.DeltaScaleClamp)
	}
	if len(f.Anchors) > 0 {
		if len(f.Anchors) != r.Config.NumAnchors() {
			return nil, fmt.Errorf("detect: %s: %d anchors, the RPN has %d", r.Path, len(f.Anchors), r.Config.NumAnchors())
		}
		n.anchors = n.anchors[:0]
		for _, a := range f.Anchors {
			n.anchors = append(n.anchors, float64(a[0]), float64(a[1]), float64(a[2]), float64(a[3]))
		}
	}
	if p := f.Proposals; p != nil {
		if p.PreNMSTopK <= 0 || p.PostNMSTopK <= 0 || !(p.NMSThresh > 0 && p.NMSThresh <= 1) || p.MinSize < 0 || math.IsNaN(p.MinSize) {
			return nil, fmt.Errorf("detect: %s: invalid proposal settings %+v", r.Path, *p)
		}
		n.PreNMSTopN, n.PostNMSTopN, n.RPNNMSThresh, n.RPNMinSize = p.PreNMSTopK, p.PostNMSTopK, float32(p.NMSThresh), p.MinSize
	}
	if f.TestScale < 0 || f.TestMaxSize < 0 || (f.TestScale > 0) != (f.TestMaxSize > 0) {
		return nil, fmt.Errorf("detect: %s: invalid test size %d (max %d)", r.Path, f.TestScale, f.TestMaxSize)
	}
	if f.TestScale > 0 {
		n.TestScale, n.TestMaxSize = f.TestScale, f.TestMaxSize
	}
	return n, nil
}

// transformDetectron2 is detectron2's Box2BoxTransform.apply_deltas with
// unit weights (folded into the deltas by the importer): no +1.
func transformDetectron2(b Box, dx, dy, dw, dh, clamp float32) Box {
	w, h := b[2]-b[0], b[3]-b[1]
	cx, cy := b[0]+0.5*w, b[1]+0.5*h
	if clamp > 0 {
		dw, dh = min(dw, clamp), min(dh, clamp)
	}
	pcx, pcy := float32(dx*w)+cx, float32(dy*h)+cy
	pw, ph := float32(math.Exp(float64(dw)))*w, float32(math.Exp(float64(dh)))*h
	return Box{pcx - float32(0.5*pw), pcy - float32(0.5*ph), pcx + float32(0.5*pw), pcy + float32(0.5*ph)}
}

// proposalsDetectron2 is find_top_rpn_proposals (one level, one image) of
// modeling_frcnn.py: top PreNMSTopN anchors by objectness, decode, clip to
// [0, W] x [0, H], drop boxes with a side <= the minimum size, NMS without
// +1, first PostNMSTopN (already in score order).
func (n *Network) proposalsDetectron2(r RPNOutput, imH, imW int) ([]Box, []float32) {
	A := n.Cfg.NumAnchors()
	hw := r.FH * r.FW
	scores := make([]float32, 0, A*hw)
	for p := 0; p < hw; p++ {
		for a := 0; a < A; a++ {
			scores = append(scores, r.FgProb[a*hw+p])
		}
	}
	order := argsortDesc(scores)
	// torch.sort(descending) keeps equal scores in index order.
	order = stableTies(order, scores)
	if n.PreNMSTopN > 0 && len(order) > n.PreNMSTopN {
		order = order[:n.PreNMSTopN]
	}
	stride := float64(n.Cfg.FeatStride)
	fw, fh := float32(imW), float32(imH)
	minSize := float32(n.RPNMinSize)
	var boxes []Box
	var kept []float32
	for _, i := range order {
		p, a := i/A, i%A
		x, y := p%r.FW, p/r.FW
		an := n.anchors[4*a : 4*a+4]
		sx, sy := float64(x)*stride, float64(y)*stride
		anchor := Box{float32(an[0] + sx), float32(an[1] + sy), float32(an[2] + sx), float32(an[3] + sy)}
		d := r.Deltas[4*a*hw+p:]
		b := transformDetectron2(anchor, d[0], d[hw], d[2*hw], d[3*hw], n.Behaviour.DeltaClamp)
		b[0], b[2] = min(max(b[0], 0), fw), min(max(b[2], 0), fw)
		b[1], b[3] = min(max(b[1], 0), fh), min(max(b[3], 0), fh)
		if b[2]-b[0] > minSize && b[3]-b[1] > minSize {
			boxes = append(boxes, b)
			kept = append(kept, scores[i])
		}
	}
	keep := nmsTorchvision(boxes, kept, n.RPNNMSThresh)
	keep = keep[:min(len(keep), n.PostNMSTopN)]
	outB, outS := make([]Box, len(keep)), make([]float32, len(keep))
	for i, k := range keep {
		outB[i], outS[i] = boxes[k], kept[k]
	}
	return outB, outS
}

// stableTies reverses each run of equal scores in a descending order, so
// that equal scores keep increasing index order (torch's stable sort)
// instead of argsortDesc's numpy order.
func stableTies(order []int, scores []float32) []int {
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && scores[order[j]] == scores[order[i]] {
			j++
		}
		for a, b := i, j-1; a < b; a, b = a+1, b-1 {
			order[a], order[b] = order[b], order[a]
		}
		i = j
	}
	return order
}
