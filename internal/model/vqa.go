package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/heads"
)

// Special wordpiece ids of the bert-*-uncased vocabularies.
const (
	ClsID  = data.ClsID
	SepID  = data.SepID
	MaskID = data.MaskID
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

// VQA is the VQA module, vqa/modules/resnet_vlbert_for_vqa.py::ResNetVLBERT: the
// encoder's state at the [MASK] answer token through final_mlp (CLASSIFIER_TYPE
// "2fc", "1fc" or "mlm"; see heads.FinalMLP) to the answer vocabulary, BCE times the
// answer count on soft targets.
type VQA struct {
	*Encoder
	// AllRows makes an Inference forward compute the last layer for every row, as
	// the original does (for benchmarks that compare equal work). Otherwise an
	// Inference forward runs the last layer's queries, attention output and FFN for
	// the [MASK] row only (keys and values for every row), the one row the answer
	// head reads: ~7% fewer FLOPs, same logits to float32 rounding.
	AllRows bool

	head heads.VQA
	rows data.RowBuffers
	st   vqaState
}

type vqaState struct {
	out    VQAOutput
	head   heads.VQAActs
	rl     rowLayout
	hm     []float32
	label  []float32
	haveFw bool
}

func (*VQA) module() {}

func newVQA(e *Encoder) Module {
	p := e.Params
	return &VQA{Encoder: e, head: heads.VQA{FinalMLP: finalMLPOf(p, &e.Cfg)}}
}

// NewVQA builds a VQA module for cfg (cfg.Task must be TaskVQA) with every
// parameter zero.
func NewVQA(cfg Config) (*VQA, error) { return newAs[*VQA](cfg, TaskVQA) }

// Forward runs ResNetVLBERT.train_forward (with Label) or inference_forward.
func (m *VQA) Forward(bt *VQABatch) (*VQAOutput, error) {
	B, H, A := bt.Boxes.B, m.Cfg.HiddenSize, m.Cfg.AnswerVocabSize
	checkLen("question", len(bt.Question), B*bt.LQ)
	if bt.Label != nil {
		checkLen("label", len(bt.Label), B*A)
	}
	m.acts.reset()
	m.ints.reset()
	s := &m.st
	s.haveFw = false
	if err := m.visualForward(&m.vis, &bt.Boxes, nil, nil); err != nil {
		return nil, err
	}
	text := m.rows.VQARows(bt.Question, B, bt.LQ)
	Lt := text.L
	s.rl = rowLayout{rows: B, lt: Lt, images: B, perImage: 1, textLen: Lt}
	in := CoreInput{TextIDs: text.IDs, TextTypes: text.Types, TextMask: text.Mask}
	m.encoderInput(&in, s.rl)
	if m.Cfg.NoGrounding { // the text sees zeroed object representations
		clear(in.TextVisual)
	}
	o := &s.out
	*o = VQAOutput{ObjReps: m.vis.objReps, Lo: m.vis.lo, Lt: Lt, TextIDs: text.IDs, TextTypes: text.Types,
		TextMask: text.Mask, TextVisual: in.TextVisual, ObjLing: in.ObjLing, ObjMask: in.ObjMask, AnsPos: text.AnsPos}
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
	m.head.Forward(&s.head, &m.acts, s.hm, B, m.dropout(m.Cfg.ClassifierDrop, siteHeadVQA))
	o.Logits = s.head.Logits
	s.label = bt.Label
	if bt.Label != nil {
		o.Loss = m.head.Loss(&s.head, bt.Label)
	}
	s.haveFw = true
	return o, nil
}

// Backward back-propagates dloss·ans_loss through the last Forward (which must
// have had labels) and accumulates every parameter gradient.
func (m *VQA) Backward(dloss float32) {
	m.mustTrainable()
	s := &m.st
	if !s.haveFw || s.label == nil {
		panic("model: VQA.Backward without a labelled Forward")
	}
	o := &s.out
	B, Lt, H := m.c.in.B, o.Lt, m.Cfg.HiddenSize
	m.grads.reset()
	dhm := m.grads.alloc(B * H)
	m.head.Backward(&s.head, &m.grads, dhm, s.label, dloss)
	dtext := m.grads.alloc(B * Lt * H)
	for b := 0; b < B; b++ {
		p := b*Lt + int(o.AnsPos[b])
		copy(dtext[p*H:(p+1)*H], dhm[b*H:(b+1)*H])
	}
	g := m.coreBackward(dtext, nil, nil)
	if m.Cfg.NoGrounding { // constant zeros: nothing flows back to obj_reps
		clear(g.textVisual)
	}
	m.encoderInputBackward(g, s.rl, nil, nil, nil)
}

func errorf(format string, args ...any) error { return fmt.Errorf("model: "+format, args...) }
