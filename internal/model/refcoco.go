package model

import (
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/heads"
	"github.com/vlbert/vlbert/internal/kernels"
)

// RefCOCOBatch is one collated RefCOCO+ batch. Box features come from the RoI head
// (e2e) or are precomputed; either way they sit in Boxes.Data.
type RefCOCOBatch struct {
	Boxes      Boxes
	LE         int
	Expression []int32   // [B*LE] expression wordpiece ids, 0-padded (no [CLS]/[SEP])
	Label      []float32 // [B*NB] 1 where IoU(box, gt) > 0.5, else 0; nil at inference
}

// RefCOCOOutput holds views into the activation arena, valid until the next Forward.
type RefCOCOOutput struct {
	Logits    []float32 // label_logits [B*NB], -10000 for trimmed box slots
	Loss      float32   // cls_loss: BCE mean over valid boxes (0 without labels)
	PredBoxes []float32 // [B*4] argmax box in original-image coordinates (÷ im_info scale)
	ObjReps   []float32 // [B*Lo*D]
	Lo, Lt    int
}

// RefCOCO is the RefCOCO+ grounding module,
// refcoco/modules/resnet_vlbert_for_refcoco.py::ResNetVLBERT: text [CLS] expression
// [SEP] (all type 0, every token with box 0's feature), a dense-GELU-dropout-linear
// score per object, BCE over the valid boxes.
type RefCOCO struct {
	*Encoder
	head heads.Grounding
	rows data.RowBuffers
	st   refState
}

type refState struct {
	out       RefCOCOOutput
	head      heads.GroundingActs
	rl        rowLayout
	valid     []int32 // [nv] flat slot b*lo+j of each valid box
	vlogits   []float32
	vlabels   []float32
	nb        int
	haveLabel bool
	haveFw    bool
}

func (*RefCOCO) module() {}

func newRefCOCO(e *Encoder) Module {
	return &RefCOCO{Encoder: e, head: heads.Grounding{
		Transform: heads.Transform{Dense: headLinear(e.Params, "final_mlp.0.dense"), Act: e.Cfg.HiddenAct},
		Cls:       headLinear(e.Params, "final_mlp.2"),
	}}
}

// NewRefCOCO builds a RefCOCO+ module for cfg (cfg.Task must be TaskRefCOCO) with
// every parameter zero.
func NewRefCOCO(cfg Config) (*RefCOCO, error) { return newAs[*RefCOCO](cfg, TaskRefCOCO) }

// Forward runs the module's train_forward (with Label) or inference_forward.
func (m *RefCOCO) Forward(bt *RefCOCOBatch) (*RefCOCOOutput, error) {
	B, NB := bt.Boxes.B, bt.Boxes.NB
	checkLen("expression", len(bt.Expression), B*bt.LE)
	if bt.Label != nil {
		checkLen("label", len(bt.Label), B*NB)
	}
	m.acts.reset()
	m.ints.reset()
	s := &m.st
	s.haveFw, s.nb = false, NB
	if err := m.visualForward(&m.vis, &bt.Boxes, nil, nil); err != nil {
		return nil, err
	}
	lo := m.vis.lo
	o := &s.out
	o.ObjReps, o.Lo = m.vis.objReps, lo
	text := m.rows.ExpressionRows(bt.Expression, B, bt.LE)
	o.Lt = text.L
	s.rl = rowLayout{rows: B, lt: text.L, images: B, perImage: 1, textLen: text.L}
	in := CoreInput{TextIDs: text.IDs, TextTypes: text.Types, TextMask: text.Mask}
	m.encoderInput(&in, s.rl)
	if err := m.coreForward(&in); err != nil {
		return nil, err
	}
	m.head.Forward(&s.head, &m.acts, m.c.objOut, B*lo, m.dropout(m.Cfg.ClassifierDrop, siteHeadRefCOCO))
	o.Logits = m.acts.alloc(B * NB)
	for i := range o.Logits {
		o.Logits[i] = -10000
	}
	for b := 0; b < B; b++ {
		copy(o.Logits[b*NB:b*NB+lo], s.head.Logits[b*lo:(b+1)*lo])
	}
	o.PredBoxes = m.acts.alloc(B * 4)
	iw := bt.Boxes.InfoW
	for b := 0; b < B; b++ {
		best := 0
		for j := 1; j < NB; j++ {
			if o.Logits[b*NB+j] > o.Logits[b*NB+best] {
				best = j
			}
		}
		box := bt.Boxes.Data[(b*NB+best)*m.Cfg.BoxStride():]
		sx, sy := float32(1), float32(1)
		if iw >= 4 {
			sx, sy = bt.Boxes.ImInfo[b*iw+2], bt.Boxes.ImInfo[b*iw+3]
		}
		o.PredBoxes[b*4], o.PredBoxes[b*4+1], o.PredBoxes[b*4+2], o.PredBoxes[b*4+3] = box[0]/sx, box[1]/sy, box[2]/sx, box[3]/sy
	}
	o.Loss, s.haveLabel = 0, bt.Label != nil
	if bt.Label != nil {
		nv := 0
		for _, v := range m.vis.boxMask {
			if v {
				nv++
			}
		}
		s.valid, s.vlogits, s.vlabels = m.ints.alloc(nv), m.acts.alloc(nv), m.acts.alloc(nv)
		k := 0
		for b := 0; b < B; b++ {
			for j := 0; j < lo; j++ {
				if m.vis.boxMask[b*lo+j] {
					s.valid[k] = int32(b*lo + j)
					s.vlogits[k] = s.head.Logits[b*lo+j]
					s.vlabels[k] = bt.Label[b*NB+j]
					k++
				}
			}
		}
		o.Loss = kernels.BCEWithLogitsForward(s.vlogits, s.vlabels, nv)
	}
	s.haveFw = true
	return o, nil
}

// Backward back-propagates dloss·cls_loss through the last labelled Forward and accumulates every parameter gradient.
func (m *RefCOCO) Backward(dloss float32) {
	m.mustTrainable()
	s := &m.st
	if !s.haveFw || !s.haveLabel {
		panic("model: RefCOCO.Backward without a labelled Forward")
	}
	o := &s.out
	B, lo, H := m.c.in.B, o.Lo, m.Cfg.HiddenSize
	m.grads.reset()
	dv := m.grads.alloc(len(s.valid))
	kernels.BCEWithLogitsBackward(dv, s.vlogits, s.vlabels, len(s.valid), dloss)
	dlog := m.grads.alloc(B * lo)
	for k, slot := range s.valid {
		dlog[slot] = dv[k]
	}
	dobj := m.grads.alloc(B * lo * H)
	m.head.Backward(&s.head, &m.grads, dobj, dlog)
	g := m.coreBackward(nil, dobj, nil)
	m.encoderInputBackward(g, s.rl, nil, nil, nil)
}
