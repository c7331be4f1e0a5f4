package dettrain

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/vlbert/vlbert/internal/detect"
	"github.com/vlbert/vlbert/internal/detect/importer"
)

// Detection is one detected object in the original image's pixels.
type Detection struct {
	Box   detect.Box
	Class int
	Score float32
	Attr  int     // most probable attribute other than "no attribute"
	AttrP float32 // its probability
	// AttrProbs is the RoI's attr_prob row [NumAttributes].
	AttrProbs []float32
}

// Unnormalize returns w with bbox_pred's rows multiplied back by
// BBOX_NORMALIZE_STDS and shifted by the means, as lib/fast_rcnn/train.py,
// snapshot does before saving: the released test network predicts plain
// deltas.
func Unnormalize(w importer.Weights, numClasses int, means, stds []float64) importer.Weights {
	return scaleBboxPred(w, numClasses, means, stds, false)
}

// normalize is Unnormalize's inverse (for resuming from a saved model).
func normalize(w importer.Weights, numClasses int, means, stds []float64) importer.Weights {
	return scaleBboxPred(w, numClasses, means, stds, true)
}

func scaleBboxPred(w importer.Weights, numClasses int, means, stds []float64, inverse bool) importer.Weights {
	out := make(importer.Weights, len(w))
	for k, v := range w {
		out[k] = v
	}
	wt, bt := w[importer.BboxPred+".weight"], w[importer.BboxPred+".bias"]
	nw, nb := *wt, *bt
	nw.F32, nb.F32 = append([]float32(nil), wt.F32...), append([]float32(nil), bt.F32...)
	F := len(nw.F32) / (4 * numClasses)
	for r := 0; r < 4*numClasses; r++ {
		s, m := stds[r%4], means[r%4]
		for i := r * F; i < (r+1)*F; i++ {
			if inverse {
				nw.F32[i] = float32(float64(nw.F32[i]) / s)
			} else {
				nw.F32[i] = float32(float64(nw.F32[i]) * s)
			}
		}
		if inverse {
			nb.F32[r] = float32((float64(nb.F32[r]) - m) / s)
		} else {
			nb.F32[r] = float32(float64(nb.F32[r])*s + m)
		}
	}
	out[importer.BboxPred+".weight"], out[importer.BboxPred+".bias"] = &nw, &nb
	return out
}

// Detector runs the trained network as lib/fast_rcnn/test.py, im_detect +
// test_net do: per class, boxes from the class's deltas applied to the
// RoIs (in original pixels), clipped, scores above ScoreThresh, NMS at
// TEST.NMS, then the MaxPerImage best over all classes.
type Detector struct {
	Net  *detect.Network
	Test TestConfig
}

// NewDetector loads unnormalised canonical weights into the inference
// network with the TEST proposal settings.
func NewDetector(cfg importer.Config, w importer.Weights, t TestConfig) (*Detector, error) {
	net, err := detect.Load(cfg, w, "trained detector")
	if err != nil {
		return nil, err
	}
	net.PreNMSTopN, net.PostNMSTopN, net.RPNNMSThresh, net.RPNMinSize = t.RPNPreNMSTopN, t.RPNPostNMSTopN, float32(t.RPNNMSThresh), t.RPNMinSize
	return &Detector{Net: net, Test: t}, nil
}

// Detect finds the objects of one example.
func (d *Detector) Detect(ex Example) ([]Detection, error) {
	pre, err := detect.Preprocess(ex.Image, d.Test.Scales[0], d.Test.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("detector eval: image %d: %w", ex.ID, err)
	}
	res := d.Net.Forward(pre)
	h := res.Head
	NC, NA := d.Net.Cfg.NumClasses, d.Net.Cfg.NumAttributes
	s := float32(pre.Scale)
	var all []Detection
	for j := 1; j < NC; j++ {
		var boxes []detect.Box
		var scores []float32
		var rows []int
		for r := 0; r < h.R; r++ {
			sc := h.ClsProb[r*NC+j]
			if float64(sc) <= d.Test.ScoreThresh {
				continue
			}
			roi := res.RoIs[r]
			b := detect.Box{roi[0] / s, roi[1] / s, roi[2] / s, roi[3] / s}
			dl := h.BboxPred[r*4*NC+4*j:]
			b = detect.ClipBox(detect.BBoxTransformInv(b, dl[0], dl[1], dl[2], dl[3]), float32(ex.Image.W), float32(ex.Image.H))
			boxes, scores, rows = append(boxes, b), append(scores, sc), append(rows, r)
		}
		for _, k := range detect.NMS(boxes, scores, float32(d.Test.NMS), 0) {
			ap := h.AttrProb[rows[k]*NA : (rows[k]+1)*NA]
			det := Detection{Box: boxes[k], Class: j, Score: scores[k], AttrProbs: ap}
			for a := 1; a < NA; a++ {
				if ap[a] > det.AttrP {
					det.Attr, det.AttrP = a, ap[a]
				}
			}
			all = append(all, det)
		}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].Score > all[b].Score })
	if d.Test.MaxPerImage > 0 && len(all) > d.Test.MaxPerImage {
		all = all[:d.Test.MaxPerImage]
	}
	return all, nil
}

// EvalResult is detection quality at IoU 0.5 on held-out images.
type EvalResult struct {
	MAP50      float64            `json:"map50"`
	Recall50   float64            `json:"recall50"`
	APPerClass map[string]float64 `json:"ap50_per_class"`
	// AttrExact is the share of matched detections whose k most probable
	// attributes (k = the object's attribute count) are exactly the
	// object's attributes.
	AttrExact float64 `json:"attr_exact"`
	Images    int     `json:"images"`
	Objects   int     `json:"objects"`
}

// Evaluate runs d over ds and scores the detections the way
// lib/datasets/voc_eval.py does (use_07_metric False): per class,
// detections by descending score, each matched to the unmatched ground
// truth of its image with the highest IoU (+1 convention) when that IoU is
// above 0.5, AP the area under the precision envelope; mAP the mean over
// classes that have objects. Recall is over all objects: the share matched
// by a detection of their class.
func Evaluate(d *Detector, ds *DataSet) (EvalResult, error) {
	type det struct {
		img   int
		box   detect.Box
		score float32
		attrs []float32
	}
	NC := d.Net.Cfg.NumClasses
	dets := make([][]det, NC)
	npos := make([]int, NC)
	for i, ex := range ds.Examples {
		found, err := d.Detect(ex)
		if err != nil {
			return EvalResult{}, err
		}
		for _, f := range found {
			dets[f.Class] = append(dets[f.Class], det{i, f.Box, f.Score, f.AttrProbs})
		}
		for _, o := range ex.Objects {
			npos[o.Class]++
		}
	}
	res := EvalResult{APPerClass: map[string]float64{}, Images: len(ds.Examples)}
	var sumAP float64
	var classes, tpAll, posAll, attrHits int
	for c := 1; c < NC; c++ {
		if npos[c] == 0 {
			continue
		}
		sort.SliceStable(dets[c], func(a, b int) bool { return dets[c][a].score > dets[c][b].score })
		used := map[[2]int]bool{}
		tp, fp := make([]float64, len(dets[c])), make([]float64, len(dets[c]))
		for k, dt := range dets[c] {
			best, at := 0.0, -1
			for g, o := range ds.Examples[dt.img].Objects {
				if o.Class != c {
					continue
				}
				if ov := overlap(dt.box, detect.Box(o.Box)); ov > best {
					best, at = ov, g
				}
			}
			if best > 0.5 && !used[[2]int{dt.img, at}] {
				used[[2]int{dt.img, at}] = true
				tp[k] = 1
				if topKMatch(dt.attrs, ds.Examples[dt.img].Objects[at].Attrs) {
					attrHits++
				}
			} else {
				fp[k] = 1
			}
		}
		ap, ntp := vocAP(tp, fp, npos[c])
		name := fmt.Sprint(c)
		if c < len(ds.ClassNames) {
			name = ds.ClassNames[c]
		}
		res.APPerClass[name] = ap
		sumAP += ap
		classes++
		tpAll += ntp
		posAll += npos[c]
	}
	if classes > 0 {
		res.MAP50 = sumAP / float64(classes)
		res.Recall50 = float64(tpAll) / float64(posAll)
		res.AttrExact = float64(attrHits) / float64(max(tpAll, 1))
	}
	res.Objects = posAll
	return res, nil
}

// vocAP is voc_eval.py's voc_ap with use_07_metric False on cumulative
// true/false positives.
func vocAP(tp, fp []float64, npos int) (float64, int) {
	var ctp, cfp float64
	rec, prec := make([]float64, len(tp)), make([]float64, len(tp))
	for i := range tp {
		ctp += tp[i]
		cfp += fp[i]
		rec[i] = ctp / float64(npos)
		prec[i] = ctp / math.Max(ctp+cfp, math.SmallestNonzeroFloat64)
	}
	mrec := append(append([]float64{0}, rec...), 1)
	mpre := append(append([]float64{0}, prec...), 0)
	for i := len(mpre) - 1; i > 0; i-- {
		mpre[i-1] = math.Max(mpre[i-1], mpre[i])
	}
	var ap float64
	for i := 1; i < len(mrec); i++ {
		if mrec[i] != mrec[i-1] {
			ap += (mrec[i] - mrec[i-1]) * mpre[i]
		}
	}
	return ap, int(ctp)
}

// topKMatch reports whether the len(want) most probable attributes of probs
// (index 0, "no attribute", excluded) are exactly want.
func topKMatch(probs []float32, want []int) bool {
	if len(want) == 0 {
		return false
	}
	idx := make([]int, 0, len(probs))
	for a := 1; a < len(probs); a++ {
		idx = append(idx, a)
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	for _, a := range idx[:min(len(want), len(idx))] {
		if !slices.Contains(want, a) {
			return false
		}
	}
	return true
}
