package model

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/kernels"
)

// Boxes is a padded batch of precomputed-feature boxes, as the datasets collate it.
type Boxes struct {
	B, NB  int
	Data   []float32 // [B*NB*(4+F)], F = Config.FeatureDim(): x1,y1,x2,y2 (resized-image pixels) + feature; padding rows -2
	ImInfo []float32 // [B*InfoW]: width, height (resized image), scale_x, scale_y, ...
	InfoW  int       // columns of ImInfo (4, or 5 with the dataset index)
	// FeatGrad, when not nil ([B*NB*F]), receives the gradient of the loss
	// with respect to every box feature that entered obj_downsample (overwritten;
	// zero for padding and masked boxes). The e2e path feeds RoI-head features through
	// Data and back-propagates this into the CNN.
	FeatGrad []float32
	// VCRMask selects VCR's validity test, boxes[:, :, 3] > -0.5 (padding -1), instead
	// of boxes[:, :, 0] > -1.5 (padding -2).
	VCRMask bool
}

// valid reports whether box j of sample b is a real box; stride is 4+F.
func (bx *Boxes) valid(b, j, stride int) bool {
	row := (b*bx.NB + j) * stride
	if bx.VCRMask {
		return bx.Data[row+3] > -0.5
	}
	return bx.Data[row] > -1.5
}

// visualActs is what the FastRCNN precomputed path saves for backward.
type visualActs struct {
	lo       int     // trimmed box slots (max valid boxes)
	rows     int     // packed valid boxes R
	rowB     []int32 // [R] sample of each packed row
	rowSlot  []int32 // [R] output slot (k-th valid box of its sample)
	rowMask  []int32 // [R] 1 if the feature was replaced by the mask embedding
	rowBox   []int32 // [R] box index j in the padded input
	nb       int
	featGrad []float32
	x, xDrop []float32 // [R*(2048+F)] [geometry ; feature (; class embedding)], after dropout
	y, z     []float32 // [R*D] linear, relu
	objReps  []float32 // [B*lo*D] packed per sample, zero padding
	boxMask  []bool    // [B*lo] boxes[:, :lo, 0] > -1.5
	drop     kernels.Dropout
	// classes [B*NB], set by the caller before visualForward when the model has
	// IMAGE_SEMANTIC: each box's COCO class (FastRCNN's obj_labels); rowClass is
	// that of each packed row.
	classes  []int32
	rowClass []int32
}

// geomFreq[k] = 1000^(k/256) in float32, as the original computes dim_mat.
var geomFreq = func() [256]float32 {
	var f [256]float32
	for k := range f {
		f[k] = float32(math.Pow(1000, float64(float32(k)/256)))
	}
	return f
}()

// GeometryEmbedding writes the 2048-d sin/cos embedding of box (x1,y1,x2,y2) in an
// image of width w and height h into out: p = [xc/w, yc/h, bw/w, bh/h]·100 (no +1),
// then for each coordinate c, sin(p_c/d_k) for k < 256 followed by cos(p_c/d_k),
// d_k = 1000^(k/256). Arithmetic is float32 step by step as in the original.
func GeometryEmbedding(out []float32, x1, y1, x2, y2, w, h float32) {
	checkLen("GeometryEmbedding out", len(out), GeomDim)
	p := [4]float32{(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1}
	p[0] = p[0] / w * 100
	p[1] = p[1] / h * 100
	p[2] = p[2] / w * 100
	p[3] = p[3] / h * 100
	for c := 0; c < 4; c++ {
		blk := out[c*512 : (c+1)*512]
		for k := 0; k < 256; k++ {
			a := float64(p[c] / geomFreq[k])
			blk[k] = float32(math.Sin(a))
			blk[256+k] = float32(math.Cos(a))
		}
	}
}

// visualForward runs FastRCNN on precomputed features: box mask, trimming, optional
// replacement of masked features by maskEmb (mvrcOps[b*NB+j] == 1), geometry
// embedding, obj_downsample. It returns the packed object representations [B*lo*D].
func (m *Encoder) visualForward(v *visualActs, bx *Boxes, mvrcOps []int32, maskEmb []float32) error {
	B, NB, D := bx.B, bx.NB, m.Cfg.ImageFinalDim
	F, boxStride := m.Cfg.FeatureDim(), m.Cfg.BoxStride()
	checkLen("boxes", len(bx.Data), B*NB*boxStride)
	if bx.InfoW < 2 {
		panic("model: im_info needs at least width and height")
	}
	checkLen("im_info", len(bx.ImInfo), B*bx.InfoW)
	lo, R := 0, 0
	for b := 0; b < B; b++ {
		n := 0
		for j := 0; j < NB; j++ {
			if bx.valid(b, j, boxStride) {
				n++
			}
		}
		lo = max(lo, n)
	}
	// The original trims to boxes[:, :lo] first: a valid box past slot lo (possible
	// only when padding is not at the end) never reaches FastRCNN.
	for b := 0; b < B; b++ {
		for j := 0; j < lo; j++ {
			if bx.valid(b, j, boxStride) {
				R++
			}
		}
	}
	if R == 0 {
		return fmt.Errorf("model: no valid box in the batch")
	}
	for b := 0; b < B; b++ {
		if w, h := bx.ImInfo[b*bx.InfoW], bx.ImInfo[b*bx.InfoW+1]; !(w > 0) || !(h > 0) {
			return fmt.Errorf("model: im_info[%d] has width %g height %g, want > 0", b, w, h)
		}
	}
	v.lo, v.rows = lo, R
	v.rowB, v.rowSlot, v.rowMask, v.rowBox = m.ints.alloc(R), m.ints.alloc(R), m.ints.alloc(R), m.ints.alloc(R)
	v.nb, v.featGrad = NB, bx.FeatGrad
	if bx.FeatGrad != nil {
		checkLen("boxes feature gradient", len(bx.FeatGrad), B*NB*F)
	}
	v.boxMask = v.boxMask[:0]
	for b := 0; b < B; b++ {
		for j := 0; j < lo; j++ {
			v.boxMask = append(v.boxMask, bx.valid(b, j, boxStride))
		}
	}
	in := m.Cfg.objDownsampleIn()
	v.x = m.acts.alloc(R * in)
	semantic := m.Cfg.ImageSemantic
	if semantic {
		checkLen("box classes", len(v.classes), B*NB)
		v.rowClass = m.ints.alloc(R)
	}
	r := 0
	for b := 0; b < B; b++ {
		w, h := bx.ImInfo[b*bx.InfoW], bx.ImInfo[b*bx.InfoW+1]
		k := 0
		for j := 0; j < lo; j++ {
			box := bx.Data[(b*NB+j)*boxStride : (b*NB+j+1)*boxStride]
			if !bx.valid(b, j, boxStride) {
				continue
			}
			row := v.x[r*in : (r+1)*in]
			GeometryEmbedding(row[:GeomDim], box[0], box[1], box[2], box[3], w, h)
			feat := box[4:]
			if maskEmb != nil && mvrcOps != nil && mvrcOps[b*NB+j] == 1 {
				feat = maskEmb
				v.rowMask[r] = 1
			}
			copy(row[GeomDim:], feat)
			if semantic { // cat(post_roialign, object_embed(obj_labels))
				cl := v.classes[b*NB+j]
				if cl < 0 || cl >= VCRObjectClasses {
					return fmt.Errorf("model: class %d of box %d in sample %d is outside [0,%d) (IMAGE_SEMANTIC)", cl, j, b, VCRObjectClasses)
				}
				v.rowClass[r] = cl
				copy(row[GeomDim+F:], m.objEmbed.w[int(cl)*SemanticDim:int(cl+1)*SemanticDim])
			}
			v.rowB[r], v.rowSlot[r], v.rowBox[r] = int32(b), int32(k), int32(j)
			r++
			k++
		}
	}
	v.drop = m.dropout(objDownsampleDropout, siteObjDownsample)
	v.xDrop = v.x
	if v.drop.P > 0 {
		v.xDrop = m.acts.alloc(R * in)
		kernels.DropoutForward(v.xDrop, v.x, v.drop)
	}
	ds := m.objDS
	v.y, v.z = m.acts.alloc(R*D), m.acts.alloc(R*D)
	ds.forward(v.y, v.xDrop, R)
	kernels.ReLUForward(v.z, v.y)
	v.objReps = m.acts.alloc(B * lo * D)
	for r := 0; r < R; r++ {
		dst := (int(v.rowB[r])*lo + int(v.rowSlot[r])) * D
		copy(v.objReps[dst:dst+D], v.z[r*D:(r+1)*D])
	}
	return nil
}

// visualBackward takes d(objReps) [B*lo*D]; it accumulates obj_downsample gradients
// and, when maskGrad is not nil, the gradient of the mask visual embedding [F].
func (m *Encoder) visualBackward(v *visualActs, dobj []float32, maskGrad []float32) {
	if !m.Cfg.hasVisualExtractor() {
		return // BLIND: the object features are constant zeros
	}
	D, R, F := m.Cfg.ImageFinalDim, v.rows, m.Cfg.FeatureDim()
	in := m.Cfg.objDownsampleIn()
	dz := m.grads.alloc(R * D)
	for r := 0; r < R; r++ {
		src := (int(v.rowB[r])*v.lo + int(v.rowSlot[r])) * D
		copy(dz[r*D:(r+1)*D], dobj[src:src+D])
	}
	dy := m.grads.alloc(R * D)
	kernels.ReLUBackward(dy, v.z, dz)
	ds := m.objDS
	var dx []float32
	anyMasked := false
	for _, f := range v.rowMask {
		anyMasked = anyMasked || f == 1
	}
	if maskGrad != nil && anyMasked || v.featGrad != nil || m.Cfg.ImageSemantic {
		dx = m.grads.alloc(R * in)
	}
	ds.backward(dx, dy, v.xDrop, R)
	if dx == nil {
		return
	}
	if v.drop.P > 0 {
		dd := m.grads.alloc(R * in)
		kernels.DropoutBackward(dd, dx, v.drop)
		dx = dd
	}
	if v.featGrad != nil {
		clear(v.featGrad)
	}
	if m.Cfg.ImageSemantic {
		for r := 0; r < R; r++ {
			dst := m.objEmbed.g[int(v.rowClass[r])*SemanticDim : int(v.rowClass[r]+1)*SemanticDim]
			src := dx[r*in+GeomDim+F : (r+1)*in]
			for i := range dst {
				dst[i] += src[i]
			}
		}
	}
	for r := 0; r < R; r++ {
		src := dx[r*in+GeomDim : r*in+GeomDim+F]
		switch {
		case v.rowMask[r] == 1 && maskGrad != nil:
			for i := range maskGrad {
				maskGrad[i] += src[i]
			}
		case v.rowMask[r] != 1 && v.featGrad != nil:
			dst := (int(v.rowB[r])*v.nb + int(v.rowBox[r])) * F
			copy(v.featGrad[dst:dst+F], src)
		}
	}
}

// blindVisual is the visual path of a BLIND module (vcr/modules/resnet_vlbert_for_vcr.py,
// train_forward): the same box mask and trimming, but no FastRCNN: every object
// representation is zero ([B*lo*IMAGE_FINAL_DIM]).
func (m *Encoder) blindVisual(v *visualActs, bx *Boxes) error {
	B, NB, D := bx.B, bx.NB, m.Cfg.ImageFinalDim
	boxStride := m.Cfg.BoxStride()
	checkLen("boxes", len(bx.Data), B*NB*boxStride)
	lo := 0
	for b := 0; b < B; b++ {
		n := 0
		for j := 0; j < NB; j++ {
			if bx.valid(b, j, boxStride) {
				n++
			}
		}
		lo = max(lo, n)
	}
	if lo == 0 {
		return fmt.Errorf("model: no valid box in the batch")
	}
	v.lo, v.rows, v.nb, v.featGrad = lo, 0, NB, nil
	v.boxMask = v.boxMask[:0]
	for b := 0; b < B; b++ {
		for j := 0; j < lo; j++ {
			v.boxMask = append(v.boxMask, bx.valid(b, j, boxStride))
		}
	}
	v.objReps = m.acts.alloc(B * lo * D)
	if bx.FeatGrad != nil {
		clear(bx.FeatGrad)
	}
	return nil
}
