package dettrain

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/vlbert/vlbert/internal/detect"
)

// GT is one ground-truth object in the scaled image's pixels (inclusive
// corners, py-faster-rcnn's convention): its class (1..NumClasses−1) and up
// to MaxAttrs attribute indices (1..NumAttributes−1; 0 is "no attribute").
type GT struct {
	Box   detect.Box
	Class int
	Attrs []int
}

// MaxAttrs is the number of attribute slots per object in gt_boxes
// (lib/roi_data_layer/minibatch.py: columns 5..20).
const MaxAttrs = 16

// overlap is utils/cython_bbox.pyx, bbox_overlaps, for one pair: +1 widths,
// in float64.
func overlap(a, b detect.Box) float64 {
	iw := math.Min(float64(a[2]), float64(b[2])) - math.Max(float64(a[0]), float64(b[0])) + 1
	if iw <= 0 {
		return 0
	}
	ih := math.Min(float64(a[3]), float64(b[3])) - math.Max(float64(a[1]), float64(b[1])) + 1
	if ih <= 0 {
		return 0
	}
	ua := float64(b[2]-b[0]+1)*float64(b[3]-b[1]+1) + float64(a[2]-a[0]+1)*float64(a[3]-a[1]+1) - iw*ih
	return iw * ih / ua
}

// boxTargets is lib/fast_rcnn/bbox_transform.py, bbox_transform: the deltas
// (dx, dy, dw, dh) that move ex onto gt (+1 widths, centres at x1 + 0.5·w).
func boxTargets(ex, gt detect.Box) [4]float32 {
	ew, eh := float64(ex[2]-ex[0]+1), float64(ex[3]-ex[1]+1)
	ex0, ey0 := float64(ex[0])+0.5*ew, float64(ex[1])+0.5*eh
	gw, gh := float64(gt[2]-gt[0]+1), float64(gt[3]-gt[1]+1)
	gx, gy := float64(gt[0])+0.5*gw, float64(gt[1])+0.5*gh
	return [4]float32{float32((gx - ex0) / ew), float32((gy - ey0) / eh), float32(math.Log(gw / ew)), float32(math.Log(gh / eh))}
}

// choose keeps k of idx chosen uniformly without replacement (npr.choice
// with replace=False), in the chosen order.
func choose(rng *rand.Rand, idx []int, k int) []int {
	idx = slices.Clone(idx)
	for i := 0; i < k; i++ {
		j := i + rng.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	return idx[:k]
}

// anchorTargets is lib/rpn/anchor_target_layer.py's forward for one image:
// labels (1 fg, 0 bg, −1 ignore) of every anchor in rpn_cls_score_reshape's
// layout [A, FH, FW], box targets and inside/outside weights in
// rpn_bbox_pred's layout [4A, FH, FW]. Anchors must lie inside the image
// (allowed_border 0); a gt's best anchors are positive even below the
// positive overlap; positives are subsampled to FgFraction·BatchSize and
// negatives to fill the batch; outside weights are 1/(sampled anchors)
// (RPN_POSITIVE_WEIGHT −1).
type rpnTargets struct {
	labels                    []float32 // [A·FH·FW]
	targets, inside, outsideW []float32 // [4A·FH·FW]
	numFg, numBg              int
}

func anchorTargets(rng *rand.Rand, c *TrainConfig, anchors []float64, A, FH, FW, stride, imH, imW int, gts []GT) rpnTargets {
	hw := FH * FW
	t := rpnTargets{labels: make([]float32, A*hw), targets: make([]float32, 4*A*hw),
		inside: make([]float32, 4*A*hw), outsideW: make([]float32, 4*A*hw)}
	for i := range t.labels {
		t.labels[i] = -1
	}
	type anchor struct {
		box detect.Box
		at  int // a·hw + p
	}
	var inside []anchor
	for y := 0; y < FH; y++ {
		for x := 0; x < FW; x++ {
			for a := 0; a < A; a++ {
				an := anchors[4*a : 4*a+4]
				sx, sy := float64(x*stride), float64(y*stride)
				b := [4]float64{an[0] + sx, an[1] + sy, an[2] + sx, an[3] + sy}
				if b[0] >= 0 && b[1] >= 0 && b[2] < float64(imW) && b[3] < float64(imH) {
					inside = append(inside, anchor{detect.Box{float32(b[0]), float32(b[1]), float32(b[2]), float32(b[3])}, a*hw + y*FW + x})
				}
			}
		}
	}
	if len(inside) == 0 || len(gts) == 0 {
		// No anchor inside, or no object: every inside anchor is background.
		for _, an := range inside {
			t.labels[an.at] = 0
		}
		return t.subsample(rng, c, hw)
	}
	ov := make([]float64, len(inside)*len(gts))
	gtMax := make([]float64, len(gts))
	for i, an := range inside {
		for j, g := range gts {
			o := overlap(an.box, g.Box)
			ov[i*len(gts)+j] = o
			gtMax[j] = math.Max(gtMax[j], o)
		}
	}
	best := make([]int, len(inside))
	for i := range inside {
		row := ov[i*len(gts) : (i+1)*len(gts)]
		for j := range row {
			if row[j] > row[best[i]] {
				best[i] = j
			}
		}
		mo := row[best[i]]
		if mo < c.RPNNegativeOverlap {
			t.labels[inside[i].at] = 0
		}
		for j := range row { // gt_argmax_overlaps: np.where(overlaps == gt_max_overlaps)
			if row[j] == gtMax[j] {
				t.labels[inside[i].at] = 1
			}
		}
		if mo >= c.RPNPositiveOverlap {
			t.labels[inside[i].at] = 1
		}
	}
	for i, an := range inside {
		d := boxTargets(an.box, gts[best[i]].Box)
		for k := 0; k < 4; k++ {
			t.targets[(4*(an.at/hw)+k)*hw+an.at%hw] = d[k]
		}
	}
	return t.subsample(rng, c, hw)
}

// subsample disables positives above RPN_FG_FRACTION·RPN_BATCHSIZE and
// negatives above the rest of the batch, then sets the box weights.
func (t rpnTargets) subsample(rng *rand.Rand, c *TrainConfig, hw int) rpnTargets {
	var fg, bg []int
	for i, l := range t.labels {
		switch l {
		case 1:
			fg = append(fg, i)
		case 0:
			bg = append(bg, i)
		}
	}
	if maxFg := int(c.RPNFgFraction * float64(c.RPNBatchSize)); len(fg) > maxFg {
		for _, i := range choose(rng, fg, len(fg)-maxFg) {
			t.labels[i] = -1
		}
		fg = fg[:0]
		for i, l := range t.labels {
			if l == 1 {
				fg = append(fg, i)
			}
		}
	}
	if maxBg := c.RPNBatchSize - len(fg); len(bg) > maxBg {
		for _, i := range choose(rng, bg, len(bg)-maxBg) {
			t.labels[i] = -1
		}
	}
	num := 0
	for _, l := range t.labels {
		if l >= 0 {
			num++
		}
	}
	for i, l := range t.labels {
		if l < 0 {
			continue
		}
		a, p := i/hw, i%hw
		for k := 0; k < 4; k++ {
			at := (4*a+k)*hw + p
			t.outsideW[at] = 1 / float32(num)
			if l == 1 {
				t.inside[at] = 1
			}
		}
		if l == 1 {
			t.numFg++
		} else {
			t.numBg++
		}
	}
	return t
}

// trainProposals is lib/rpn/proposal_layer.py's forward with the TRAIN
// settings (the same steps as detect.Network.Proposals): every anchor moved
// by its deltas, clipped, boxes below minSize dropped, the preTopN best by
// foreground probability kept, NMS, then postTopN.
func trainProposals(anchors []float64, fg, deltas []float32, A, FH, FW, stride, imH, imW int, minSize float32, preTopN, postTopN int, nms float32) []detect.Box {
	hw := FH * FW
	var boxes []detect.Box
	var scores []float32
	for y := 0; y < FH; y++ {
		for x := 0; x < FW; x++ {
			p := y*FW + x
			for a := 0; a < A; a++ {
				an := anchors[4*a : 4*a+4]
				sx, sy := float64(x*stride), float64(y*stride)
				b := detect.Box{float32(an[0] + sx), float32(an[1] + sy), float32(an[2] + sx), float32(an[3] + sy)}
				d := deltas[4*a*hw+p:]
				b = detect.ClipBox(detect.BBoxTransformInv(b, d[0], d[hw], d[2*hw], d[3*hw]), float32(imW), float32(imH))
				if b[2]-b[0]+1 >= minSize && b[3]-b[1]+1 >= minSize {
					boxes = append(boxes, b)
					scores = append(scores, fg[a*hw+p])
				}
			}
		}
	}
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		switch {
		case scores[i] > scores[j]:
			return -1
		case scores[i] < scores[j]:
			return 1
		}
		return 0
	})
	if preTopN > 0 && len(order) > preTopN {
		order = order[:preTopN]
	}
	top, topScores := make([]detect.Box, len(order)), make([]float32, len(order))
	for i, o := range order {
		top[i], topScores[i] = boxes[o], scores[o]
	}
	keep := detect.NMS(top, topScores, nms, postTopN)
	out := make([]detect.Box, len(keep))
	for i, k := range keep {
		out[i] = top[k]
	}
	return out
}

// roiTargets is what lib/rpn/proposal_target_layer.py gives the head for
// one image: the sampled RoIs (foreground first), their labels, box targets
// (normalised by BBOX_NORMALIZE_MEANS/STDS) in the 4-of-4K layout with
// inside weights, and the attribute labels of the first fgPerImage rows
// ([fgPerImage, MaxAttrs], −1 ignore; slot 0 of a foreground object is 0,
// "no attribute", when it has none).
type roiTargets struct {
	rois    []detect.Box
	labels  []int
	targets []float32 // [R, 4·NumClasses]
	inside  []float32 // [R, 4·NumClasses]
	attrs   []int     // [fgPerImage, MaxAttrs]
	numFg   int
}

// sampleRoIs is proposal_target_layer.py, _sample_rois (with the gt boxes
// appended to the proposals, as its forward does).
func sampleRoIs(rng *rand.Rand, c *TrainConfig, proposals []detect.Box, gts []GT, numClasses int) roiTargets {
	all := append(slices.Clone(proposals), make([]detect.Box, 0, len(gts))...)
	for _, g := range gts {
		all = append(all, g.Box)
	}
	fgPer := int(math.RoundToEven(c.FgFraction * float64(c.BatchSize)))
	assign := make([]int, len(all))
	maxOv := make([]float64, len(all))
	for i, r := range all {
		for j, g := range gts {
			if o := overlap(r, g.Box); o > maxOv[i] {
				maxOv[i], assign[i] = o, j
			}
		}
	}
	var fg, bg []int
	for i, o := range maxOv {
		if len(gts) > 0 && o >= c.FgThresh {
			fg = append(fg, i)
		}
		if o < c.BgThreshHi && o >= c.BgThreshLo {
			bg = append(bg, i)
		}
	}
	nfg := min(fgPer, len(fg))
	fg = choose(rng, fg, nfg)
	nbg := min(c.BatchSize-nfg, len(bg))
	bg = choose(rng, bg, nbg)
	keep := append(fg, bg...)
	t := roiTargets{numFg: nfg, attrs: make([]int, fgPer*MaxAttrs)}
	for i := range t.attrs {
		t.attrs[i] = -1
	}
	t.targets = make([]float32, len(keep)*4*numClasses)
	t.inside = make([]float32, len(keep)*4*numClasses)
	for r, i := range keep {
		t.rois = append(t.rois, all[i])
		label := 0
		if r < nfg {
			g := gts[assign[i]]
			label = g.Class
			d := boxTargets(all[i], g.Box)
			for k := 0; k < 4; k++ {
				at := r*4*numClasses + 4*label + k
				t.targets[at] = float32((float64(d[k]) - c.BboxNormalizeMeans[k]) / c.BboxNormalizeStds[k])
				t.inside[at] = 1
			}
			if len(g.Attrs) == 0 {
				t.attrs[r*MaxAttrs] = 0
			}
			for k, a := range g.Attrs[:min(len(g.Attrs), MaxAttrs)] {
				t.attrs[r*MaxAttrs+k] = a
			}
		}
		t.labels = append(t.labels, label)
	}
	return t
}
