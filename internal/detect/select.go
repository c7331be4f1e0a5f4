package detect

import (
	"fmt"
	"math"
	"strings"
)

// Rule names a box selection rule (the --rule flag of vlbert detect).
type Rule string

const (
	// RuleGenerateTSV is tools/generate_tsv.py of bottom-up-attention: the RPN
	// boxes (not regressed) scaled back to the photo; per class c ≥ 1, NMS at
	// TEST.NMS = 0.3 over cls_prob[:, c]; a box's max_conf is its best score
	// among the classes whose NMS kept it; boxes with max_conf ≥ conf (0.2),
	// or the top MIN_BOXES (10) / MAX_BOXES (100) by max_conf when fewer /
	// more pass.
	RuleGenerateTSV Rule = "generate_tsv"
	// RuleGenerateTSVv2 is the VL-BERT fork's tools/generate_tsv_v2.py
	// (weiyx16/bottom-up-attention): the same selection with
	// conf_thresh = 0.5, 10..100 boxes; it also writes classes and attrs.
	RuleGenerateTSVv2 Rule = "generate_tsv_v2"
	// RuleLXMERT36 is LXMERT's extraction (airsplay/lxmert,
	// data/*_imgfeat/extract_*_image.py): generate_tsv with MIN_BOXES =
	// MAX_BOXES = 36 and conf 0.2, so always 36 boxes (fewer only when there
	// are fewer proposals).
	RuleLXMERT36 Rule = "lxmert36"
	// RuleHFDemo is the HuggingFace LXMERT/VisualBERT demo's post-processing
	// (transformers examples/research_projects/lxmert/modeling_frcnn.py,
	// ROIOutputs.inference and do_nms): boxes regressed per class with
	// detectron2's Box2BoxTransform (no +1, dw/dh clamped at log(1000/16)),
	// clipped to [0, W] x [0, H]; each box takes its best non-background class
	// and that class's box; one class-agnostic NMS (torchvision, no +1) per
	// threshold in turn until the kept count (at most MaxBoxes) is at least
	// MinBoxes; attributes are the softmax over the non-background
	// attributes.
	RuleHFDemo Rule = "hf_demo"
)

// Rules lists the rules in the order the help text gives them.
var Rules = []Rule{RuleGenerateTSV, RuleGenerateTSVv2, RuleLXMERT36, RuleHFDemo}

// SelectOptions are a rule's settings; DefaultSelect fills them per rule.
type SelectOptions struct {
	Rule     Rule
	MinBoxes int
	MaxBoxes int
	Conf     float64   // generate_tsv's conf_thresh
	NMS      float32   // TEST.NMS for the per-class NMS
	HFNMS    []float32 // hf_demo: ROI_HEADS.NMS_THRESH_TEST, tried in turn
}

// DefaultSelect returns the settings each rule's source uses.
func DefaultSelect(r Rule) (SelectOptions, error) {
	switch r {
	case RuleGenerateTSV:
		return SelectOptions{Rule: r, MinBoxes: 10, MaxBoxes: 100, Conf: 0.2, NMS: 0.3}, nil
	case RuleGenerateTSVv2:
		return SelectOptions{Rule: r, MinBoxes: 10, MaxBoxes: 100, Conf: 0.5, NMS: 0.3}, nil
	case RuleLXMERT36:
		return SelectOptions{Rule: r, MinBoxes: 36, MaxBoxes: 36, Conf: 0.2, NMS: 0.3}, nil
	case RuleHFDemo:
		// max_detections 36 as the demo pads to; min_detections 10 and the one
		// NMS threshold 0.3 are vlbert's choice (the hub config.yaml of
		// frcnn-vg-finetuned, which sets them, was not available to check).
		return SelectOptions{Rule: r, MinBoxes: 10, MaxBoxes: 36, HFNMS: []float32{0.3}}, nil
	}
	return SelectOptions{}, fmt.Errorf("detect: unknown box selection rule %q (want one of %s)", r, joinRules())
}

func joinRules() string {
	s := make([]string, len(Rules))
	for i, r := range Rules {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Check reports settings no rule can use.
func (o SelectOptions) Check() error {
	if o.MinBoxes < 0 || o.MaxBoxes < 1 || o.MinBoxes > o.MaxBoxes {
		return fmt.Errorf("detect: box counts %d..%d: want 0 <= min <= max, max >= 1", o.MinBoxes, o.MaxBoxes)
	}
	if math.IsNaN(o.Conf) || o.Conf < 0 || o.Conf > 1 {
		return fmt.Errorf("detect: confidence threshold %v outside [0, 1]", o.Conf)
	}
	return nil
}

// Selection is the boxes an extraction keeps, in the order it writes them.
type Selection struct {
	Index []int // rows of Result.Head (proposal indices)
	// Boxes in the photo's pixels: the RPN boxes / im_scale (generate_tsv
	// rules) or the regressed, clipped class boxes (hf_demo).
	Boxes []Box
	// Conf is each box's max_conf (generate_tsv rules) or its best class
	// probability (hf_demo).
	Conf []float32
}

// Select applies a rule to a detector result.
func Select(res *Result, o SelectOptions) (*Selection, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	switch o.Rule {
	case RuleGenerateTSV, RuleGenerateTSVv2, RuleLXMERT36:
		return selectGenerateTSV(res, o), nil
	case RuleHFDemo:
		return selectHFDemo(res, o), nil
	}
	_, err := DefaultSelect(o.Rule)
	return nil, err
}

// selectGenerateTSV is get_detections_from_im of tools/generate_tsv.py.
func selectGenerateTSV(res *Result, o SelectOptions) *Selection {
	R, NC := res.Head.R, len(res.Head.ClsProb)/max(res.Head.R, 1)
	// cls_boxes = rois[:, 1:5] / im_scales[0]: float32 array by a float64
	// scalar, which numpy 1.x computes in float32.
	scale := float32(res.Image.Scale)
	boxes := make([]Box, R)
	for i, b := range res.RoIs {
		for k := range b {
			boxes[i][k] = b[k] / scale
		}
	}
	// Every class runs NMS over the same boxes: the suppression relation
	// (IoU > TEST.NMS) is computed once.
	suppress := make([]bool, R*R)
	for i := 0; i < R; i++ {
		for j := i + 1; j < R; j++ {
			s := iouCaffe(boxes[i], boxes[j]) > o.NMS
			suppress[i*R+j], suppress[j*R+i] = s, s
		}
	}
	maxConf := make([]float64, R) // np.zeros: float64
	scores := make([]float32, R)
	removed := make([]bool, R)
	for c := 1; c < NC; c++ {
		for r := 0; r < R; r++ {
			scores[r] = res.Head.ClsProb[r*NC+c]
		}
		order := argsortDesc(scores)
		clear(removed)
		for i, bi := range order {
			if removed[i] {
				continue
			}
			// Kept by this class's NMS: max_conf = max(max_conf, score).
			if s := float64(scores[bi]); s > maxConf[bi] {
				maxConf[bi] = s
			}
			for j := i + 1; j < R; j++ {
				if !removed[j] && suppress[bi*R+order[j]] {
					removed[j] = true
				}
			}
		}
	}
	var keep []int
	for r := 0; r < R; r++ {
		if maxConf[r] >= o.Conf {
			keep = append(keep, r)
		}
	}
	if len(keep) < o.MinBoxes || len(keep) > o.MaxBoxes {
		n := o.MinBoxes
		if len(keep) > o.MaxBoxes {
			n = o.MaxBoxes
		}
		conf32 := make([]float32, R)
		for r, v := range maxConf {
			conf32[r] = float32(v) // exact: every max_conf is a float32 score or 0
		}
		keep = argsortDesc(conf32)[:min(n, R)]
	}
	sel := &Selection{Index: keep, Boxes: make([]Box, len(keep)), Conf: make([]float32, len(keep))}
	for i, k := range keep {
		sel.Boxes[i], sel.Conf[i] = boxes[k], float32(maxConf[k])
	}
	return sel
}

// selectHFDemo is modeling_frcnn.py's ROIOutputs.inference / do_nms on the
// canonical outputs (background is class 0 here, last there).
func selectHFDemo(res *Result, o SelectOptions) *Selection {
	R, NC := res.Head.R, len(res.Head.ClsProb)/max(res.Head.R, 1)
	W, H := float32(res.Image.W), float32(res.Image.H)
	maxBoxes := make([]Box, R)
	maxScores := make([]float32, R)
	clampD := float32(math.Log(1000.0 / 16))
	for r := 0; r < R; r++ {
		// scores.max(1) over the non-background classes: first maximum wins.
		best := 1
		for c := 2; c < NC; c++ {
			if res.Head.ClsProb[r*NC+c] > res.Head.ClsProb[r*NC+best] {
				best = c
			}
		}
		maxScores[r] = res.Head.ClsProb[r*NC+best]
		d := res.Head.BboxPred[r*4*NC+4*best:]
		p := res.RoIs[r]
		// detectron2 Box2BoxTransform.apply_deltas (weights folded into the
		// canonical deltas by the importer): no +1.
		w, h := p[2]-p[0], p[3]-p[1]
		cx, cy := p[0]+0.5*w, p[1]+0.5*h
		dw, dh := min(d[2], clampD), min(d[3], clampD)
		pcx, pcy := float32(d[0]*w)+cx, float32(d[1]*h)+cy
		pw, ph := float32(math.Exp(float64(dw)))*w, float32(math.Exp(float64(dh)))*h
		b := Box{pcx - 0.5*pw, pcy - 0.5*ph, pcx + 0.5*pw, pcy + 0.5*ph}
		// _clip_box: [0, w] x [0, h], no −1.
		b[0], b[2] = min(max(b[0], 0), W), min(max(b[2], 0), W)
		b[1], b[3] = min(max(b[1], 0), H), min(max(b[3], 0), H)
		maxBoxes[r] = b
	}
	// The demo has no answer when no threshold keeps MinBoxes (its
	// max_boxes is then unbound); here the last threshold's boxes are used.
	var keep []int
	for _, t := range o.HFNMS {
		keep = nmsTorchvision(maxBoxes, maxScores, t)
		keep = keep[:min(len(keep), o.MaxBoxes)]
		if len(keep) >= o.MinBoxes {
			break
		}
	}
	scale := float32(res.Image.Scale)
	sel := &Selection{Index: keep, Boxes: make([]Box, len(keep)), Conf: make([]float32, len(keep))}
	for i, k := range keep {
		b := maxBoxes[k]
		for j := range b {
			b[j] /= scale // scales_yx: the demo maps boxes back to the photo
		}
		sel.Boxes[i], sel.Conf[i] = b, maxScores[k]
	}
	return sel
}

// nmsTorchvision is torchvision.ops.nms: areas (x2 − x1)·(y2 − y1) without
// +1, suppression of IoU > thresh, order by descending score (ties: lower
// index first, as torch's stable sort).
func nmsTorchvision(boxes []Box, scores []float32, thresh float32) []int {
	order := stableTies(argsortDesc(scores), scores) // torch.sort is stable
	area := func(b Box) float32 { return (b[2] - b[0]) * (b[3] - b[1]) }
	removed := make([]bool, len(order))
	var keep []int
	for i, bi := range order {
		if removed[i] {
			continue
		}
		keep = append(keep, bi)
		a := boxes[bi]
		for j := i + 1; j < len(order); j++ {
			if removed[j] {
				continue
			}
			b := boxes[order[j]]
			w := max(min(a[2], b[2])-max(a[0], b[0]), 0)
			h := max(min(a[3], b[3])-max(a[1], b[1]), 0)
			inter := w * h
			if inter/(area(a)+area(b)-inter) > thresh {
				removed[j] = true
			}
		}
	}
	return keep
}
