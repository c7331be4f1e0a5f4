package model

import (
	"github.com/vlbert/vlbert/internal/heads"
	"github.com/vlbert/vlbert/internal/kernels"
)

// VCRChoices is the number of answer (or rationale) choices per VCR question.
const VCRChoices = 4

// VCRBatch is one collated VCR batch (Q→A, or QA→R with the answer appended to the
// question). Box features come from the RoI head in Boxes.Data; validity is VCR's
// (boxes[:, :, 3] > -0.5) whatever Boxes.VCRMask says.
type VCRBatch struct {
	Boxes    Boxes
	Classes  []int32 // [B*NB] COCO class of each box (image box 0 = background), for the CNN regulariser
	LQ, LA   int
	Question []int32 // [B*LQ] wordpiece ids, 0-padded
	QTags    []int32 // [B*LQ] grounding tags: index into the box list (box 0 = image), <0 = none
	Answers  []int32 // [B*4*LA]
	ATags    []int32 // [B*4*LA]
	AnsLabel []int32 // [B] correct choice; nil at inference
}

// VCROutput holds views into the activation arena, valid until the next Forward.
type VCROutput struct {
	Logits  []float32 // label_logits [B*4]
	AnsLoss float32   // ans_loss
	CNNLoss float32   // cnn_regularization_loss (0 when off)
	Total   float32   // ANS_LOSS_WEIGHT·ans_loss + CNN_LOSS_WEIGHT·cnn_loss
	ObjReps []float32 // [B*Lo*D]
	Lo, Lt  int
}

type vcrState struct {
	out      VCROutput
	cls      heads.Linear
	cnn      heads.MVRC // transform (dense, GELU) + Linear(H→81)
	drop     kernels.Dropout
	cnnDrop  kernels.Dropout
	pooledD  []float32 // pooled after dropout [4B*H]
	tags     []int32   // [4B*Lt] box index feeding each text token's visual feature
	probs    []float32
	labels   []float32
	label    []int32
	cnnRows  []int32 // [M] flat object slot (row*lo+j) of each valid box of every choice
	cnnIn    []float32
	cnnActs  heads.MVRCActs
	cnnTr    heads.TransformActs
	cnnDrops []float32
	cnnProbs []float32
	cnnLab   []int32
	ready    bool
}

const siteHeadVCR, siteCNNReg = 5, 6

// ForwardVCR runs the VCR module's train_forward (with AnsLabel) or inference_forward
// with prepare_text_from_qa: for each choice [CLS] q [SEP] a [SEP], types 0 then 1,
// every token's visual feature the box its tag points to (box 0 when untagged).
func (m *Model) ForwardVCR(bt *VCRBatch) (*VCROutput, error) {
	cfg := &m.Cfg
	if cfg.Task != TaskVCR {
		panic("model: ForwardVCR on a " + cfg.Task.String() + " model")
	}
	B, NB, H, C := bt.Boxes.B, bt.Boxes.NB, cfg.HiddenSize, VCRChoices
	checkLen("question", len(bt.Question), B*bt.LQ)
	checkLen("question tags", len(bt.QTags), B*bt.LQ)
	checkLen("answers", len(bt.Answers), B*C*bt.LA)
	checkLen("answer tags", len(bt.ATags), B*C*bt.LA)
	if bt.AnsLabel != nil {
		checkLen("answer_label", len(bt.AnsLabel), B)
		for i, l := range bt.AnsLabel {
			if l < 0 || int(l) >= C {
				return nil, errorf("answer_label[%d] = %d, want 0..%d", i, l, C-1)
			}
		}
	}
	if cfg.CNNRegLossTop && bt.AnsLabel != nil {
		checkLen("classes", len(bt.Classes), B*NB)
	}
	m.acts.reset()
	m.ints.reset()
	s := &m.vcrS
	s.ready = false
	bx := bt.Boxes
	bx.VCRMask = true
	if err := m.visualForward(&m.vis, &bx, nil, nil); err != nil {
		return nil, err
	}
	lo := m.vis.lo
	o := &s.out
	o.ObjReps, o.Lo = m.vis.objReps, lo

	// Text: one row per (sample, choice).
	nq := func(b int) int {
		n := 0
		for _, id := range bt.Question[b*bt.LQ : (b+1)*bt.LQ] {
			if id > 0 {
				n++
			}
		}
		return n
	}
	na := func(b, c int) int {
		n := 0
		for _, id := range bt.Answers[(b*C+c)*bt.LA : (b*C+c+1)*bt.LA] {
			if id > 0 {
				n++
			}
		}
		return n
	}
	maxLen := 0
	for b := 0; b < B; b++ {
		ma := 0
		for c := 0; c < C; c++ {
			ma = max(ma, na(b, c))
		}
		maxLen = max(maxLen, nq(b)+ma)
	}
	Lt := maxLen + 3
	o.Lt = Lt
	R := B * C
	ids, types := m.ints.alloc(R*Lt), m.ints.alloc(R*Lt)
	s.tags = m.ints.alloc(R * Lt)
	mask := m.boolBuf(0, R*Lt)
	for b := 0; b < B; b++ {
		for c := 0; c < C; c++ {
			r := b*C + c
			row, tg := ids[r*Lt:(r+1)*Lt], s.tags[r*Lt:(r+1)*Lt]
			row[0] = ClsID
			k := 1
			for t, id := range bt.Question[b*bt.LQ : (b+1)*bt.LQ] {
				if id > 0 {
					row[k], tg[k] = id, bt.QTags[b*bt.LQ+t]
					k++
				}
			}
			qEnd := k
			row[qEnd] = SepID
			k++
			for t, id := range bt.Answers[r*bt.LA : (r+1)*bt.LA] {
				if id > 0 {
					row[k], tg[k] = id, bt.ATags[r*bt.LA+t]
					k++
				}
			}
			aEnd := k
			row[aEnd] = SepID
			for j := 0; j <= aEnd; j++ {
				mask[r*Lt+j] = true
				if j > qEnd {
					types[r*Lt+j] = 1
				}
			}
			for j := range tg {
				// _collect_obj_reps clamps at 0; a tag past the trimmed boxes is bad data.
				tg[j] = max(tg[j], 0)
				if int(tg[j]) >= lo {
					return nil, errorf("grounding tag %d of sample %d choice %d points past the %d boxes", tg[j], b, c, lo)
				}
			}
		}
	}
	textVis := m.acts.alloc(R * Lt * H)
	for r := 0; r < R; r++ {
		b := r / C
		for t := 0; t < Lt; t++ {
			src := (b*lo + int(s.tags[r*Lt+t])) * H
			copy(textVis[(r*Lt+t)*H:], o.ObjReps[src:src+H])
		}
	}
	objVis, ling := m.acts.alloc(R*lo*H), m.acts.alloc(R*lo*H)
	lv := m.Params.View("object_linguistic_embeddings.weight")
	objMask := m.boolBuf(1, R*lo)
	for r := 0; r < R; r++ {
		b := r / C
		copy(objVis[r*lo*H:(r+1)*lo*H], o.ObjReps[b*lo*H:(b+1)*lo*H])
		copy(objMask[r*lo:(r+1)*lo], m.vis.boxMask[b*lo:(b+1)*lo])
		for j := 0; j < lo; j++ {
			copy(ling[(r*lo+j)*H:], lv)
		}
	}
	in := CoreInput{B: R, Lt: Lt, Lo: lo, TextIDs: ids, TextTypes: types, TextMask: mask,
		TextVisual: textVis, ObjVisual: objVis, ObjLing: ling, ObjMask: objMask}
	if err := m.coreForward(&in); err != nil {
		return nil, err
	}
	// final_mlp = [Dropout, Linear(H→1)] on the pooled output.
	s.drop = m.dropout(cfg.ClassifierDrop, siteHeadVCR)
	s.pooledD = m.c.pooled
	if s.drop.P > 0 {
		s.pooledD = m.acts.alloc(R * H)
		kernels.DropoutForward(s.pooledD, m.c.pooled, s.drop)
	}
	o.Logits = m.acts.alloc(R)
	s.cls.Forward(o.Logits, s.pooledD, R)
	o.AnsLoss, o.CNNLoss, o.Total = 0, 0, 0
	s.label = bt.AnsLabel
	if bt.AnsLabel == nil {
		s.ready = true
		return o, nil
	}
	if cfg.ClassifierSigmoid {
		s.labels = m.acts.alloc(R)
		for b := 0; b < B; b++ {
			s.labels[b*C+int(bt.AnsLabel[b])] = 1
		}
		o.AnsLoss = kernels.BCEWithLogitsForward(o.Logits, s.labels, R)
	} else {
		s.probs = m.acts.alloc(R)
		o.AnsLoss, _ = kernels.CrossEntropyForward(s.probs, o.Logits, bt.AnsLabel, B, C)
	}
	o.Total = cfg.AnsLossWeight * o.AnsLoss
	if cfg.CNNRegLossTop {
		nv := 0
		for _, v := range objMask {
			if v {
				nv++
			}
		}
		s.cnnRows, s.cnnLab = m.ints.alloc(nv), m.ints.alloc(nv)
		s.cnnIn = m.acts.alloc(nv * H)
		k := 0
		for r := 0; r < R; r++ {
			b := r / C
			for j := 0; j < lo; j++ {
				if !objMask[r*lo+j] {
					continue
				}
				cl := bt.Classes[b*NB+j]
				if cl < 0 || cl >= VCRObjectClasses {
					return nil, errorf("class %d of box %d in sample %d is outside [0,%d)", cl, j, b, VCRObjectClasses)
				}
				s.cnnRows[k], s.cnnLab[k] = int32(r*lo+j), cl
				copy(s.cnnIn[k*H:(k+1)*H], m.c.objOut[(r*lo+j)*H:(r*lo+j+1)*H])
				k++
			}
		}
		// cnn_loss_reg = [MVRC transform, Dropout, Linear(H→81)].
		s.cnnDrop = m.dropout(cfg.CNNRegDropout, siteCNNReg)
		m.cnnForward(nv)
		s.cnnProbs = m.acts.alloc(nv * VCRObjectClasses)
		o.CNNLoss, _ = kernels.CrossEntropyForward(s.cnnProbs, s.cnnActs.Logits, s.cnnLab, nv, VCRObjectClasses)
		o.Total += cfg.CNNLossWeight * o.CNNLoss
	}
	s.ready = true
	return o, nil
}

// cnnForward runs cnn_loss_reg on the n gathered object states. The dropout sits
// between the transform and the classifier, so the MVRC head runs in two halves.
func (m *Model) cnnForward(n int) {
	s := &m.vcrS
	H := m.Cfg.HiddenSize
	s.cnn.Transform.Forward(&s.cnnTr, &m.acts, s.cnnIn, n)
	s.cnnDrops = s.cnnTr.Out()
	if s.cnnDrop.P > 0 {
		s.cnnDrops = m.acts.alloc(n * H)
		kernels.DropoutForward(s.cnnDrops, s.cnnTr.Out(), s.cnnDrop)
	}
	s.cnnActs.Logits = m.acts.alloc(n * VCRObjectClasses)
	s.cnn.Cls.Forward(s.cnnActs.Logits, s.cnnDrops, n)
}

// BackwardVCR back-propagates dloss·Total through the last labelled ForwardVCR.
func (m *Model) BackwardVCR(dloss float32) {
	s := &m.vcrS
	if !s.ready || s.label == nil {
		panic("model: BackwardVCR without a labelled ForwardVCR")
	}
	cfg := &m.Cfg
	o := &s.out
	R, lo, H, Lt := m.c.in.B, o.Lo, cfg.HiddenSize, o.Lt
	B, C := R/VCRChoices, VCRChoices
	m.grads.reset()
	dlog := m.grads.alloc(R)
	if cfg.ClassifierSigmoid {
		kernels.BCEWithLogitsBackward(dlog, o.Logits, s.labels, R, dloss*cfg.AnsLossWeight)
	} else {
		kernels.CrossEntropyBackward(dlog, s.probs, s.label, B, C, dloss*cfg.AnsLossWeight)
	}
	dpool := m.grads.alloc(R * H)
	s.cls.Backward(dpool, dlog, s.pooledD, R)
	if s.drop.P > 0 {
		dd := m.grads.alloc(R * H)
		kernels.DropoutBackward(dd, dpool, s.drop)
		dpool = dd
	}
	var dobj []float32
	if cfg.CNNRegLossTop {
		n := len(s.cnnRows)
		dl := m.grads.alloc(n * VCRObjectClasses)
		kernels.CrossEntropyBackward(dl, s.cnnProbs, s.cnnLab, n, VCRObjectClasses, dloss*cfg.CNNLossWeight)
		dd := m.grads.alloc(n * H)
		s.cnn.Cls.Backward(dd, dl, s.cnnDrops, n)
		if s.cnnDrop.P > 0 {
			d2 := m.grads.alloc(n * H)
			kernels.DropoutBackward(d2, dd, s.cnnDrop)
			dd = d2
		}
		din := m.grads.alloc(n * H)
		s.cnn.Transform.Backward(&s.cnnTr, &m.grads, din, dd)
		dobj = m.grads.alloc(R * lo * H)
		for k, slot := range s.cnnRows {
			copy(dobj[int(slot)*H:(int(slot)+1)*H], din[k*H:(k+1)*H])
		}
	}
	g := m.coreBackward(nil, dobj, dpool)
	// Route the input gradients: object linguistic embedding, the four object copies
	// and every text token's grounded box into obj_reps, then obj_downsample.
	ling := m.Params.GradView("object_linguistic_embeddings.weight")
	dreps := m.grads.alloc(B * lo * H)
	for r := 0; r < R; r++ {
		b := r / C
		for j := 0; j < lo; j++ {
			src := g.objLing[(r*lo+j)*H : (r*lo+j+1)*H]
			for i := range ling {
				ling[i] += src[i]
			}
		}
		dst := dreps[b*lo*H : (b+1)*lo*H]
		src := g.objVisual[r*lo*H : (r+1)*lo*H]
		for i := range dst {
			dst[i] += src[i]
		}
		for t := 0; t < Lt; t++ {
			row := dreps[(b*lo+int(s.tags[r*Lt+t]))*H:]
			tv := g.textVisual[(r*Lt+t)*H : (r*Lt+t+1)*H]
			for i := range tv {
				row[i] += tv[i]
			}
		}
	}
	m.visualBackward(&m.vis, dreps, nil)
}
