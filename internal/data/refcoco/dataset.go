package refcoco

import (
	"fmt"
	"strings"

	"github.com/vlbert/vlbert/internal/data"

	"github.com/vlbert/vlbert/internal/tokenizer"
)

// Sample is one referring expression: the original dataset's database entry (one per
// sentence of each ref).
type Sample struct {
	SentID, AnnID, RefID, ImageID int64
	CategoryID                    int64
	Width, Height                 int // from the COCO train2014 instances
	Raw, Sent                     string
	Tokens                        []string
	// GTBox is the referred object's box [x, y, x+w, y+h] (no −1) from refcoco+/instances.json.
	GTBox [4]float64
}

// GroupIDs returns the aspect-ratio group of each sample (data.AspectGroup of
// its COCO image size: 0 when width ≥ height, 1 when taller), the original's
// group_aspect, for data.Sampler.Groups (TRAIN.ASPECT_GROUPING).
func GroupIDs(samples []Sample) []int {
	g := make([]int, len(samples))
	for i, s := range samples {
		g[i] = data.AspectGroup(s.Width, s.Height)
	}
	return g
}

// RefIDsForSplit returns the ref ids of one split in pickle order, as refer.py's
// getRefIds(split=...): "train" and "val" match exactly, "testA"/"testB"/"testC" match
// any split containing that letter (testAB too), "testAB"/"testBC"/"testAC" match
// exactly, and "test" matches any split containing "test".
func RefIDsForSplit(refs []Ref, split string) ([]int64, error) {
	var match func(s string) bool
	switch split {
	case "testA", "testB", "testC":
		match = func(s string) bool { return strings.Contains(s, split[len(split)-1:]) }
	case "testAB", "testBC", "testAC", "train", "val":
		match = func(s string) bool { return s == split }
	case "test":
		match = func(s string) bool { return strings.Contains(s, "test") }
	default:
		return nil, fmt.Errorf("refcoco: no such split %q", split)
	}
	var ids []int64
	for _, r := range refs {
		if match(r.Split) {
			ids = append(ids, r.RefID)
		}
	}
	return ids, nil
}

// Database builds the samples of imageSets ("train", "val", "testA+testB", ...) in the
// original order: splits in the given order, refs in pickle order, sentences in ref
// order. refer is refcoco+/instances.json (the GT boxes of the refs), coco is
// annotations/instances_train2014.json (image sizes). In test mode a ref whose object is
// missing from refer is allowed and gets a zero GTBox.
func Database(refs []Ref, imageSets string, refer, coco *Instances, testMode bool) ([]Sample, error) {
	byID := make(map[int64]*Ref, len(refs))
	for i := range refs {
		byID[refs[i].RefID] = &refs[i] // a duplicated ref_id keeps the last, like refer.py's dict
	}
	var out []Sample
	for _, set := range strings.Split(imageSets, "+") {
		ids, err := RefIDsForSplit(refs, strings.TrimSpace(set))
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			ref := byID[id]
			img, ok := coco.Images[ref.ImageID]
			if !ok {
				return nil, fmt.Errorf("refcoco: ref_id %d: image %d not in the COCO instances", ref.RefID, ref.ImageID)
			}
			var gt [4]float64
			ann, ok := refer.Annotation(ref.AnnID)
			switch {
			case ok:
				x, y, w, h := ann.BBox[0], ann.BBox[1], ann.BBox[2], ann.BBox[3]
				gt = [4]float64{x, y, x + w, y + h}
			case !testMode:
				return nil, fmt.Errorf("refcoco: ref_id %d: annotation %d not in the refer instances", ref.RefID, ref.AnnID)
			}
			for _, s := range ref.Sentences {
				out = append(out, Sample{
					SentID: s.SentID, AnnID: ref.AnnID, RefID: ref.RefID, ImageID: ref.ImageID,
					CategoryID: ref.CategoryID, Width: img.Width, Height: img.Height,
					Raw: s.Raw, Sent: s.Sent, Tokens: s.Tokens, GTBox: gt,
				})
			}
		}
	}
	return out, nil
}

// BoxSource selects the candidate boxes (the config's DATASET.BOXES).
type BoxSource int

const (
	BoxesGT         BoxSource = iota // "gt": the image's COCO GT boxes
	BoxesProposal                    // "proposal": MAttNet detections
	BoxesProposalGT                  // "proposal+gt" / "gt+proposal": detections then GT boxes
)

// ParseBoxSource parses a config's BOXES value.
func ParseBoxSource(s string) (BoxSource, error) {
	switch s {
	case "gt":
		return BoxesGT, nil
	case "proposal":
		return BoxesProposal, nil
	case "proposal+gt", "gt+proposal":
		return BoxesProposalGT, nil
	}
	return 0, fmt.Errorf("refcoco: unknown box source %q (want gt, proposal or proposal+gt)", s)
}

// Candidates returns the candidate boxes of a sample as [N, 4] rows x1, y1, x2, y2 in
// original pixels, before resizing, flipping and clamping, in float32 as the original
// tensors: GT boxes are float32(x+w) (added in float64), proposals float32(x)+float32(w)
// (added in float32). With addImageBox, row 0 is the whole image [0, 0, w−1, h−1].
func Candidates(s *Sample, src BoxSource, coco *Instances, props Proposals, addImageBox bool) ([]float32, error) {
	var boxes []float32
	if addImageBox {
		boxes = append(boxes, 0, 0, float32(s.Width)-1, float32(s.Height)-1)
	}
	if src == BoxesProposal || src == BoxesProposalGT {
		p, ok := props[s.ImageID]
		if !ok {
			return nil, fmt.Errorf("refcoco: no proposals for image %d", s.ImageID)
		}
		for _, b := range p {
			x, y := float32(b[0]), float32(b[1])
			boxes = append(boxes, x, y, x+float32(b[2]), y+float32(b[3]))
		}
	}
	if src == BoxesGT || src == BoxesProposalGT {
		for _, a := range coco.ImageAnnotations(s.ImageID) {
			x, y, w, h := a.BBox[0], a.BBox[1], a.BBox[2], a.BBox[3]
			boxes = append(boxes, float32(x), float32(y), float32(x+w), float32(y+h))
		}
	}
	return boxes, nil
}

// Expression returns the wordpieces and ids of a sample's expression: the tokenizer run
// on strings.Join(tokens, " "), with the wordpieces "left" and "right" swapped when the
// image was flipped.
func Expression(tok *tokenizer.Tokenizer, tokens []string, flipped bool) ([]string, []int64, error) {
	pieces := tok.Tokenize(strings.Join(tokens, " "))
	if flipped {
		for i, p := range pieces {
			switch p {
			case "left":
				pieces[i] = "right"
			case "right":
				pieces[i] = "left"
			}
		}
	}
	ids, err := tok.ConvertTokensToIDs(pieces)
	if err != nil {
		return nil, nil, fmt.Errorf("refcoco: %w", err)
	}
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return pieces, out, nil
}

// IoU is the original bbox_iou_py_vectorized for one pair, in float32 with the +1-pixel
// convention: boxes [x1, y1, x2, y2] include both end pixels.
func IoU(a, b [4]float32) float32 {
	iw := max(min(a[2], b[2])-max(a[0], b[0])+1, 0)
	ih := max(min(a[3], b[3])-max(a[1], b[1])+1, 0)
	inter := iw * ih
	areaA := (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
	areaB := (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
	return inter / (areaA + areaB - inter)
}

// Labels returns the training target of each of the n boxes (rows of stride floats
// starting x1, y1, x2, y2; after the same resize, flip and clamp as gt): 1 when its IoU
// with gt is > 0.5, else 0. The whole-image box is labelled like any other.
func Labels(boxes []float32, n, stride int, gt [4]float32) []float32 {
	if stride < 4 || len(boxes) < n*stride {
		panic("refcoco: Labels: boxes shorter than n*stride")
	}
	labels := make([]float32, n)
	for i := range n {
		b := boxes[i*stride:]
		if IoU([4]float32{b[0], b[1], b[2], b[3]}, gt) > 0.5 {
			labels[i] = 1
		}
	}
	return labels
}

// EvalIoU is refcoco/test.py's IoU in float64 (numpy), +1-pixel convention.
func EvalIoU(a, b [4]float64) float64 {
	iw := max(min(a[2], b[2])-max(a[0], b[0])+1, 0)
	ih := max(min(a[3], b[3])-max(a[1], b[1])+1, 0)
	inter := iw * ih
	areaA := (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
	areaB := (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
	return inter / (areaA + areaB - inter)
}

// Accuracy is the fraction of predictions (original-image x1, y1, x2, y2) whose EvalIoU
// with the ground truth (GTBox) is ≥ 0.5. It is 0 for no predictions.
func Accuracy(pred, gt [][4]float64) float64 {
	if len(pred) != len(gt) {
		panic("refcoco: Accuracy: len(pred) != len(gt)")
	}
	if len(pred) == 0 {
		return 0
	}
	hits := 0
	for i := range pred {
		if EvalIoU(pred[i], gt[i]) >= 0.5 {
			hits++
		}
	}
	return float64(hits) / float64(len(pred))
}
