package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/heads"
)

// Special wordpiece ids of the bert-*-uncased vocabularies.
const (
	ClsID  = 101
	SepID  = 102
	MaskID = 103
)

// VQABatch is one collated VQA batch (precomputed features).
type VQABatch struct {
	Boxes    Boxes
	LQ       int
	Question []int32   // [B*LQ] question wordpiece ids, 0-padded (no [CLS]/[SEP])
	Label    []float32 // [B*A] soft answer targets; nil at inference
}

// VQAOutput holds views into the activation arena, valid until the next Forward.
type VQAOutput struct {
	Logits []float32 // label_logits [B*A]
	Loss   float32   // ans_loss (0 without labels)
	// Intermediate tensors (what ResNetVLBERT passes to VisualLinguisticBert).
	ObjReps    []float32 // [B*Lo*D] obj_reps (Lo = trimmed box count)
	Lo, Lt     int
	TextIDs    []int32 // [B*Lt] [CLS] q [SEP] [MASK] [SEP]
	TextTypes  []int32 // [B*Lt]
	TextMask   []bool  // [B*Lt]
	TextVisual []float32
	ObjLing    []float32
	ObjMask    []bool
	AnsPos     []int32 // [B] position of [MASK]
}

type vqaState struct {
	out    VQAOutput
	head   heads.VQAActs
	hm     []float32
	label  []float32
	lq     int
	haveFw bool
}

// ForwardVQA runs ResNetVLBERT.train_forward (with Label) or inference_forward.
func (m *Model) ForwardVQA(bt *VQABatch) (*VQAOutput, error) {
	if m.Cfg.Task != TaskVQA {
		panic("model: ForwardVQA on a " + m.Cfg.Task.String() + " model")
	}
	B, H, A := bt.Boxes.B, m.Cfg.HiddenSize, m.Cfg.AnswerVocabSize
	checkLen("question", len(bt.Question), B*bt.LQ)
	if bt.Label != nil {
		checkLen("label", len(bt.Label), B*A)
	}
	m.acts.reset()
	m.ints.reset()
	s := &m.vqa
	s.haveFw = false
	if err := m.visualForward(&m.vis, &bt.Boxes, nil, nil); err != nil {
		return nil, err
	}
	lo := m.vis.lo
	o := &s.out
	o.ObjReps, o.Lo = m.vis.objReps, lo

	// prepare_text_from_qa with a single [MASK] answer.
	maxQ := 0
	for b := 0; b < B; b++ {
		n := 0
		for _, id := range bt.Question[b*bt.LQ : (b+1)*bt.LQ] {
			if id > 0 {
				n++
			}
		}
		maxQ = max(maxQ, n)
	}
	Lt := maxQ + 4
	o.Lt = Lt
	o.TextIDs, o.TextTypes = m.ints.alloc(B*Lt), m.ints.alloc(B*Lt)
	o.AnsPos = m.ints.alloc(B)
	o.TextMask = growBool(o.TextMask, B*Lt)
	for b := 0; b < B; b++ {
		ids := o.TextIDs[b*Lt : (b+1)*Lt]
		ids[0] = ClsID
		k := 1
		for _, id := range bt.Question[b*bt.LQ : (b+1)*bt.LQ] {
			if id > 0 {
				ids[k] = id
				k++
			}
		}
		qEnd := k
		ids[qEnd], ids[qEnd+1], ids[qEnd+2] = SepID, MaskID, SepID
		o.TextTypes[b*Lt+qEnd+1], o.TextTypes[b*Lt+qEnd+2] = 1, 1
		for j := 0; j <= qEnd+2; j++ {
			o.TextMask[b*Lt+j] = true
		}
		o.AnsPos[b] = int32(qEnd + 1)
	}
	o.TextVisual = m.acts.alloc(B * Lt * H)
	for b := 0; b < B; b++ {
		img := o.ObjReps[b*lo*H : b*lo*H+H] // box 0, the whole image
		for t := 0; t < Lt; t++ {
			copy(o.TextVisual[(b*Lt+t)*H:], img)
		}
	}
	o.ObjLing = m.acts.alloc(B * lo * H)
	ling := m.Params.View("object_linguistic_embeddings.weight")
	for r := 0; r < B*lo; r++ {
		copy(o.ObjLing[r*H:], ling)
	}
	o.ObjMask = m.vis.boxMask
	in := CoreInput{B: B, Lt: Lt, Lo: lo, TextIDs: o.TextIDs, TextTypes: o.TextTypes, TextMask: o.TextMask,
		TextVisual: o.TextVisual, ObjVisual: o.ObjReps, ObjLing: o.ObjLing, ObjMask: o.ObjMask}
	if m.Inference && !m.AllRows && (!m.Train || m.NoDropout) {
		in.OutRows = o.AnsPos // the head reads the [MASK] row only (no dropout masks to match)
	}
	if err := m.coreForward(&in); err != nil {
		return nil, err
	}
	if in.OutRows != nil {
		s.hm = m.c.rowsOut
	} else {
		s.hm = m.acts.alloc(B * H)
		for b := 0; b < B; b++ {
			p := b*Lt + int(o.AnsPos[b])
			copy(s.hm[b*H:(b+1)*H], m.c.textOut[p*H:(p+1)*H])
		}
	}
	m.heads.vqa.Forward(&s.head, &m.acts, s.hm, B, m.dropout(m.Cfg.ClassifierDrop, siteHeadVQA))
	o.Logits = s.head.Logits
	o.Loss = 0
	s.label = bt.Label
	if bt.Label != nil {
		o.Loss = m.heads.vqa.Loss(&s.head, bt.Label)
	}
	s.haveFw = true
	return o, nil
}

// BackwardVQA back-propagates dloss·ans_loss through the last ForwardVQA (which must
// have had labels) and accumulates every parameter gradient.
func (m *Model) BackwardVQA(dloss float32) {
	s := &m.vqa
	if !s.haveFw || s.label == nil {
		panic("model: BackwardVQA without a labelled ForwardVQA")
	}
	o := &s.out
	B, Lt, lo, H := m.c.in.B, o.Lt, o.Lo, m.Cfg.HiddenSize
	m.grads.reset()
	dhm := m.grads.alloc(B * H)
	m.heads.vqa.Backward(&s.head, &m.grads, dhm, s.label, dloss)
	dtext := m.grads.alloc(B * Lt * H)
	for b := 0; b < B; b++ {
		p := b*Lt + int(o.AnsPos[b])
		copy(dtext[p*H:(p+1)*H], dhm[b*H:(b+1)*H])
	}
	g := m.coreBackward(dtext, nil, nil)
	m.objectInputsBackward(g, B, Lt, lo, nil, nil)
}

// objectInputsBackward routes the core's input gradients to the object linguistic
// embedding (or, for masked RoIs, maskWordGrad), to obj_reps (object visual parts and
// box 0 for every text token of the first nImg rows) and through obj_downsample.
// mvrcOps is [nImg*NB] or nil.
func (m *Model) objectInputsBackward(g coreGrads, nImg, Lt, lo int, mvrcOps []int32, maskWordGrad []float32) {
	H := m.Cfg.HiddenSize
	ling := m.Params.GradView("object_linguistic_embeddings.weight")
	nb := 0
	if nImg > 0 {
		nb = len(mvrcOps) / nImg
	}
	for b := 0; b < nImg; b++ {
		for j := 0; j < lo; j++ {
			dst := ling
			if mvrcOps != nil && maskWordGrad != nil && mvrcOps[b*nb+j] == 1 {
				dst = maskWordGrad
			}
			src := g.objLing[(b*lo+j)*H : (b*lo+j+1)*H]
			for i := range dst {
				dst[i] += src[i]
			}
		}
	}
	dobj := g.objVisual[:nImg*lo*H]
	for b := 0; b < nImg; b++ {
		img := dobj[b*lo*H : b*lo*H+H]
		for t := 0; t < Lt; t++ {
			src := g.textVisual[(b*Lt+t)*H : (b*Lt+t+1)*H]
			for i := range img {
				img[i] += src[i]
			}
		}
	}
	var maskVis []float32
	if q, ok := m.Params.Lookup("object_mask_visual_embedding.weight"); ok && mvrcOps != nil {
		maskVis = m.Params.Grad[q.Offset : q.Offset+q.Size]
	}
	m.visualBackward(&m.vis, dobj, maskVis)
}

func growBool(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	b = b[:n]
	clear(b)
	return b
}

func errorf(format string, args ...any) error { return fmt.Errorf("model: "+format, args...) }
