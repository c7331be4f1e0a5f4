package importer

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/weights"
)

// The tensor rearrangements of the HF mapping. Each returns a new tensor
// and leaves its input alone.

// rowLen is the number of values in one row (index along dim 0).
func rowLen(t *weights.Tensor) int {
	if len(t.Shape) == 0 || t.Shape[0] == 0 {
		return 0
	}
	return len(t.F32) / t.Shape[0]
}

// padRows returns t with n zero rows in front (dim 0).
func padRows(t *weights.Tensor, n int) *weights.Tensor {
	r := rowLen(t)
	data := make([]float32, n*r+len(t.F32))
	copy(data[n*r:], t.F32)
	shape := append([]int{t.Shape[0] + n}, t.Shape[1:]...)
	return weights.NewF32(data, shape...)
}

// lastRowFirst moves the last n rows of t to the front: detectron2's
// background (last) becomes Caffe's class 0.
func lastRowFirst(t *weights.Tensor, n int) *weights.Tensor {
	r := rowLen(t)
	rows := t.Shape[0]
	data := make([]float32, len(t.F32))
	copy(data, t.F32[(rows-n)*r:])
	copy(data[n*r:], t.F32[:(rows-n)*r])
	return weights.NewF32(data, t.Shape...)
}

// divideDeltaRows divides rows 4i+j by regw[j]: detectron2 decodes
// dx = delta / wx (Box2BoxTransform.apply_deltas), Caffe uses the delta as
// is, so the folded layer predicts delta / w directly.
func divideDeltaRows(t *weights.Tensor, regw []float64) *weights.Tensor {
	r := rowLen(t)
	out := t.Clone()
	out.DType = "F32"
	for row := range t.Shape[0] {
		w := regw[row%4]
		if w == 1 {
			continue
		}
		for i := row * r; i < (row+1)*r; i++ {
			out.F32[i] = float32(float64(t.F32[i]) / w)
		}
	}
	return out
}

// reverseInputChannels reverses dim 1 of a conv weight [out, in, kh, kw] in
// place (RGB <-> BGR).
func reverseInputChannels(t *weights.Tensor) {
	out, in := t.Shape[0], t.Shape[1]
	k := len(t.F32) / (out * in)
	for o := range out {
		for c := range in / 2 {
			a := t.F32[(o*in+c)*k : (o*in+c+1)*k]
			b := t.F32[(o*in+in-1-c)*k : (o*in+in-c)*k]
			for i := range a {
				a[i], b[i] = b[i], a[i]
			}
		}
	}
}

// scaleInputChannels divides input channel c of a conv weight by s[c] in
// place.
func scaleInputChannels(t *weights.Tensor, s []float64) {
	out, in := t.Shape[0], t.Shape[1]
	k := len(t.F32) / (out * in)
	for o := range out {
		for c := range in {
			seg := t.F32[(o*in+c)*k : (o*in+c+1)*k]
			for i := range seg {
				seg[i] = float32(float64(seg[i]) / s[c])
			}
		}
	}
}

// hfBoxes maps bbox_pred (weight, bias) with k classes including background
// onto Caffe's 4k rows: background rows zero, class c (1..k-1) from
// detectron2's class c-1, each delta divided by its regression weight. A
// class-agnostic head (4 rows) is copied to every class.
func hfBoxes(path string, box [2]*weights.Tensor, k int, regw []float64) (w, b *weights.Tensor, note string, err error) {
	rows := box[0].Shape[0]
	var src func(c int) int // first source row of canonical class c >= 1
	switch rows {
	case 4 * (k - 1):
		src = func(c int) int { return 4 * (c - 1) }
		note = fmt.Sprintf("bbox_pred: %d rows -> %d (zero background rows first), deltas divided by %v", rows, 4*k, regw)
	case 4:
		src = func(int) int { return 0 }
		note = fmt.Sprintf("bbox_pred: class-agnostic 4 rows copied to %d classes, deltas divided by %v", k-1, regw)
	default:
		return nil, nil, "", fmt.Errorf("detector weights: %s: roi_heads.box_predictor.bbox_pred has %d rows, want %d (4 per foreground class) or 4", path, rows, 4*(k-1))
	}
	build := func(t *weights.Tensor) *weights.Tensor {
		r := rowLen(t)
		data := make([]float32, 4*k*r)
		for c := 1; c < k; c++ {
			s := src(c)
			for j := range 4 {
				d := data[(4*c+j)*r : (4*c+j+1)*r]
				for i, v := range t.F32[(s+j)*r : (s+j+1)*r] {
					d[i] = float32(float64(v) / regw[j])
				}
			}
		}
		return weights.NewF32(data, append([]int{4 * k}, t.Shape[1:]...)...)
	}
	return build(box[0]), build(box[1]), note, nil
}

// hfAnchors returns the cell anchors at cell (0, 0) in RPN channel order:
// the file's proposal_generator.anchor_generator.cell_anchors.0 when present
// (modeling_frcnn.py keeps them in an nn.ParameterList), else
// AnchorGenerator.generate_cell_anchors from the config (size-major, then
// aspect ratio), shifted by OFFSET * stride as grid_anchors does.
func hfAnchors(path string, m *d2Mapper, hc hfConfig, a int) ([][4]float32, string, error) {
	const stride = 16
	var cell [][4]float64
	how := ""
	if t, ok := m.sd["proposal_generator.anchor_generator.cell_anchors.0"]; ok {
		m.used["proposal_generator.anchor_generator.cell_anchors.0"] = true
		if len(t.Shape) != 2 || t.Shape[1] != 4 || !t.IsFloat() {
			return nil, "", fmt.Errorf("detector weights: %s: proposal_generator.anchor_generator.cell_anchors.0 has shape %v, want [A, 4]", path, t.Shape)
		}
		for i := range t.Shape[0] {
			var b [4]float64
			for j := range 4 {
				b[j] = float64(t.F32[4*i+j])
			}
			cell = append(cell, b)
		}
		how = "from the file's cell_anchors"
	} else {
		for _, size := range hc.AnchorSizes {
			area := size * size
			for _, ratio := range hc.AnchorRatios {
				w := math.Sqrt(area / ratio)
				h := ratio * w
				cell = append(cell, [4]float64{-w / 2, -h / 2, w / 2, h / 2})
			}
		}
		how = fmt.Sprintf("from config sizes %v x ratios %v", hc.AnchorSizes, hc.AnchorRatios)
	}
	if len(cell) != a {
		return nil, "", fmt.Errorf("detector weights: %s: %d anchors (%s) but the RPN predicts %d", path, len(cell), how, a)
	}
	off := hc.AnchorOffset * stride
	out := make([][4]float32, a)
	for i, b := range cell {
		for j := range 4 {
			out[i][j] = float32(b[j] + off)
		}
	}
	return out, fmt.Sprintf("anchors: %d %s, shifted by offset %g x stride %d", a, how, hc.AnchorOffset, stride), nil
}

// anchorScales fills Config's anchor fields for an HF file: the config's
// sizes / 16 and ratios when they count the file's anchors, else one
// scale per anchor (the count is what Config needs; Flags.Anchors holds
// the boxes).
func anchorScales(hc hfConfig, a int) (scales, ratios []float64) {
	if len(hc.AnchorSizes)*len(hc.AnchorRatios) == a {
		for _, s := range hc.AnchorSizes {
			scales = append(scales, s/16)
		}
		return scales, hc.AnchorRatios
	}
	scales = make([]float64, a)
	for i := range scales {
		scales[i] = float64(i + 1)
	}
	return scales, []float64{1}
}
