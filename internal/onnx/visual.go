package onnx

import "math"

// geomDim is the width of the box geometry embedding: 4 coordinates × (256 sin,
// 256 cos).
const geomDim = 2048

// visualOutputs is FastRCNN's result on precomputed features.
type visualOutputs struct {
	objReps string // float [B,Lo,H]: valid boxes of each sample packed to the front, zeros after
	boxMask string // float 0/1 [B,Lo]: box_mask[:, :Lo] (not packed)
	lo      string // 1-D int64 [1]: Lo = max valid boxes of a sample
	boxes   string // float [B,Lo,4]: the trimmed box coordinates
}

// visual is common/fast_rcnn.py FastRCNN.forward with IMAGE_FEAT_PRECOMPUTED: the
// box mask (boxes[:, :, 0] > -1.5, or VCR's boxes[:, :, 3] > -0.5), trimming to the
// largest valid count, the sin/cos geometry embedding of (x1, y1, x2, y2) relative
// to im_info's width and height (common/utils/bbox.py coordinate_embeddings), and
// obj_downsample (Linear + ReLU) on [geometry ; feature], then pad_sequence's
// packing of each sample's valid boxes to the front.
//
// With Spec.E2E the features come from the CNN on image (cnnFeatures) instead of
// boxes[:, :, 4:]; masks ("" for none) gates VCR's RoI head.
func (e *exporter) visual(in visualInputs, vcrMask bool) visualOutputs {
	b, s := e.b, e.spec
	boxes, imInfo := in.boxes, in.imInfo
	b.scope = "visual"
	col, thr := int64(0), float32(-1.5)
	if vcrMask {
		col, thr = 3, -0.5
	}
	valid := b.cast(b.bin("Greater", b.op("Gather", []string{boxes, b.s64(col)}, aInt("axis", 2)), b.sf(thr)), Float) // [B,NB]
	count := b.sumKeep(valid, 1)                                                                                      // [B,1]
	lo := b.unsqueeze(b.cast(b.maxAll(count), Int64), 0)
	boxes = b.slice(boxes, 1, 0, lo)
	mask := b.slice(valid, 1, 0, lo)
	coords := b.sliceC(boxes, 2, 0, 4)
	var feat string
	if s.E2E != nil {
		feat = e.cnnFeatures(in.image, coords, in.masks, lo)
	} else {
		feat = b.sliceC(boxes, 2, 4, math.MaxInt64)
	}

	// p = [xc/w, yc/h, bw/w, bh/h]·100, then sin and cos of p/1000^(k/256).
	x1y1, x2y2 := b.sliceC(coords, 2, 0, 2), b.sliceC(coords, 2, 2, 4)
	p := b.op("Concat", []string{b.bin("Div", b.bin("Add", x1y1, x2y2), b.sf(2)), b.bin("Sub", x2y2, x1y1)}, aInt("axis", 2))
	wh := b.sliceC(imInfo, 1, 0, 2)
	whwh := b.unsqueeze(b.op("Concat", []string{wh, wh}, aInt("axis", 1)), 1) // [B,1,4]
	p = b.bin("Mul", b.bin("Div", p, whwh), b.sf(100))
	arg := b.bin("Div", b.unsqueeze(p, -1), b.f32([]int64{256}, geomFreq()...)) // [B,Lo,4,256]
	geom := b.op("Reshape", []string{b.op("Concat", []string{b.op("Sin", []string{arg}), b.op("Cos", []string{arg})}, aInt("axis", -1)), b.i64(0, 0, geomDim)})
	x := b.op("Concat", []string{geom, feat}, aInt("axis", 2))
	reps := b.op("Relu", []string{b.linear(x, "image_feature_extractor.obj_downsample.1", geomDim+s.FeatureDim, s.Hidden)})

	// pad_sequence: the k-th valid box of a sample goes to slot k.
	order := b.compactOrder(mask, lo)
	packed := b.op("GatherND", []string{reps, b.unsqueeze(order, -1)}, aInt("batch_dims", 1))
	slot := b.cast(b.unsqueeze(b.arange(b.squeeze(lo, 0)), 0), Float)
	objReps := b.where(b.unsqueeze(b.bin("Less", slot, count), -1), packed, b.sf(0))
	b.scope = ""
	return visualOutputs{objReps: objReps, boxMask: mask, lo: lo, boxes: coords}
}

// visualInputs are the graph inputs the visual path reads.
type visualInputs struct {
	boxes, imInfo string
	image, masks  string // e2e only; masks for VCR
}

const boxDoc = "x1,y1,x2,y2 in the resized image's pixels"

// visualInputs declares the task's visual inputs: boxes [B,R,4+F] with
// precomputed features, or, e2e, image [B,3,H,W] and boxes [B,R,4] (VCR: [B,R,6],
// x1,y1,x2,y2,score,class, and masks [B,R,PH,PW]). im_info is [B,4] either way.
func (e *exporter) visualInputs(vcr bool) visualInputs {
	s := e.spec
	var in visualInputs
	pad := "padding rows have x1 = -2"
	if vcr {
		pad = "padding rows have y2 = -1 (VCR's mask is boxes[:, :, 3] > -0.5)"
	}
	batch, regions := Dim{Param: "batch"}, Dim{Param: "boxes"}
	if v := s.E2E; v != nil {
		in.image = e.input("image", Float, []Dim{batch, {Value: 3}, {Param: "height"}, {Param: "width"}},
			"image [B,3,H,W]: the resized, padded images as the original's transforms make them (BGR ×255 minus PIXEL_MEANS)")
		cols, what := int64(4), "boxes [B,R,4]: "+boxDoc+"; box 0 the whole image; "+pad
		if vcr {
			cols, what = 6, "boxes [B,R,6]: "+boxDoc+", score, class (the last two unused); box 0 the whole image; "+pad
		}
		in.boxes = e.input("boxes", Float, []Dim{batch, regions, {Value: cols}}, what)
		if vcr {
			ph, pw := v.PooledH, v.PooledW
			if !v.C5Dilated {
				ph, pw = (ph-1)/2+1, (pw-1)/2+1
			}
			in.masks = e.input("masks", Float, []Dim{batch, regions, {Value: int64(ph)}, {Value: int64(pw)}},
				"masks [B,R,14,14]: each box's instance mask on the RoI head's output grid (segms)")
		}
	} else {
		in.boxes = e.input("boxes", Float, []Dim{batch, regions, {Value: int64(4 + s.FeatureDim)}},
			"boxes [B,R,4+F]: "+boxDoc+", then the region feature; box 0 the whole image; "+pad)
	}
	in.imInfo = e.input("im_info", Float, []Dim{batch, {Value: 4}}, "im_info [B,4]: resized width, height, scale_x, scale_y")
	return in
}

// geomFreq is dim_mat = 1000^(k/256), k < 256, rounded to float32 as vlbert's
// forward computes it (internal/model GeometryEmbedding).
func geomFreq() []float32 {
	f := make([]float32, 256)
	for k := range f {
		f[k] = float32(math.Pow(1000, float64(float32(k)/256)))
	}
	return f
}
