package model

import "github.com/vlbert/vlbert/internal/data"

// rowLayout says how the rows of a batch's encoder input relate to its images: the
// first perImage·images rows belong to image r/perImage (VCR has one row per answer
// choice), the rest are text-only rows that see no image (multitask pretraining's
// aux rows).
type rowLayout struct {
	rows, lt int
	images   int
	perImage int
	// textLen: positions t < textLen of an image row get a visual feature; the rest
	// are padding with a zero feature (pretraining pads captions to max(LT, LA)).
	textLen int
	// tags [rows*lt], when set, names the box whose feature each text token sees
	// (VCR's grounding tags); nil: box 0, the whole image.
	tags []int32
}

func (rl rowLayout) imageRows() int { return rl.images * rl.perImage }

// encoderInput turns the last visualForward's object representations into the
// visual half of the encoder's input, as every original task forward does before
// calling VisualLinguisticBert: each image row's text tokens see the whole-image
// feature (box 0) or the box their tag names (text_visual_embeddings), its object
// slots see the image's objects with object_linguistic_embeddings tiled over them
// (object_vl_embeddings), text-only rows see zeros and no object. in.B, Lt, Lo and
// the text fields are the caller's.
func (m *Encoder) encoderInput(in *CoreInput, rl rowLayout) {
	H, VS, lo := m.Cfg.HiddenSize, m.Cfg.VisualSize, m.vis.lo
	reps := m.vis.objReps // [images*lo*VS]
	in.B, in.Lt, in.Lo = rl.rows, rl.lt, lo
	in.TextVisual = m.acts.alloc(rl.rows * rl.lt * VS)
	for r := 0; r < rl.imageRows(); r++ {
		b := r / rl.perImage
		for t := 0; t < rl.textLen; t++ {
			box := 0
			if rl.tags != nil {
				box = int(rl.tags[r*rl.lt+t])
			}
			src := (b*lo + box) * VS
			copy(in.TextVisual[(r*rl.lt+t)*VS:], reps[src:src+VS])
		}
	}
	if rl.perImage == 1 && rl.rows == rl.images {
		in.ObjVisual, in.ObjMask = reps, m.vis.boxMask
	} else {
		in.ObjVisual = m.acts.alloc(rl.rows * lo * VS)
		in.ObjMask = m.boolBuf(1, rl.rows*lo)
		for r := 0; r < rl.imageRows(); r++ {
			b := r / rl.perImage
			copy(in.ObjVisual[r*lo*VS:(r+1)*lo*VS], reps[b*lo*VS:(b+1)*lo*VS])
			copy(in.ObjMask[r*lo:(r+1)*lo], m.vis.boxMask[b*lo:(b+1)*lo])
		}
	}
	in.ObjLing = m.acts.alloc(rl.rows * lo * H)
	if m.Cfg.objWordMode() != 2 || !m.Cfg.hasVisualExtractor() {
		return // the module fills the object linguistic part itself (VCR)
	}
	ling := m.Params.View("object_linguistic_embeddings.weight")
	for k := 0; k < rl.imageRows()*lo; k++ {
		copy(in.ObjLing[k*H:(k+1)*H], ling)
	}
}

// encoderInputBackward is encoderInput's backward: it accumulates the gradients of
// object_linguistic_embeddings (or, for the RoIs mvrcOps [images*NB] masks,
// maskWordGrad) and sends the objects' and every text token's gradient to obj_reps
// and on through obj_downsample (maskVisGrad: object_mask_visual_embedding's
// gradient, for masked RoIs; nil when the module has none).
func (m *Encoder) encoderInputBackward(g coreGrads, rl rowLayout, mvrcOps []int32, maskWordGrad, maskVisGrad []float32) {
	H, VS, lo, n := m.Cfg.HiddenSize, m.Cfg.VisualSize, m.vis.lo, rl.imageRows()
	ownLing := m.Cfg.objWordMode() != 2 || !m.Cfg.hasVisualExtractor()
	var ling []float32
	if !ownLing {
		ling = m.Params.GradView("object_linguistic_embeddings.weight")
	}
	nb := 0
	if rl.images > 0 {
		nb = len(mvrcOps) / rl.images
	}
	for r := 0; r < n && !ownLing; r++ {
		b := r / rl.perImage
		for j := 0; j < lo; j++ {
			dst := ling
			if mvrcOps != nil && maskWordGrad != nil && mvrcOps[b*nb+j] == 1 {
				dst = maskWordGrad
			}
			src := g.objLing[(r*lo+j)*H : (r*lo+j+1)*H]
			for i := range dst {
				dst[i] += src[i]
			}
		}
	}
	// One row per image: the object gradient is obj_reps' gradient as it stands.
	inPlace := rl.perImage == 1
	dreps := g.objVisual[:rl.images*lo*VS]
	if !inPlace {
		dreps = m.grads.alloc(rl.images * lo * VS)
	}
	for r := 0; r < n; r++ {
		b := r / rl.perImage
		if !inPlace {
			dst, src := dreps[b*lo*VS:(b+1)*lo*VS], g.objVisual[r*lo*VS:(r+1)*lo*VS]
			for i := range dst {
				dst[i] += src[i]
			}
		}
		for t := 0; t < rl.lt; t++ {
			box := 0
			if rl.tags != nil {
				box = int(rl.tags[r*rl.lt+t])
			}
			dst := dreps[(b*lo+box)*VS : (b*lo+box+1)*VS]
			src := g.textVisual[(r*rl.lt+t)*VS : (r*rl.lt+t+1)*VS]
			for i := range dst {
				dst[i] += src[i]
			}
		}
	}
	if mvrcOps == nil {
		maskVisGrad = nil
	}
	m.visualBackward(&m.vis, dreps, maskVisGrad)
}

// boolBuf returns a zeroed reusable bool buffer (slot i of a small pool).
func (m *Encoder) boolBuf(i, n int) []bool {
	for len(m.bools) <= i {
		m.bools = append(m.bools, nil)
	}
	m.bools[i] = data.Zeroed(m.bools[i], n)
	return m.bools[i]
}
