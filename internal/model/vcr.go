package model

import (
	"github.com/vlbert/vlbert/internal/data"
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

// VCR is the VCR module, vcr/modules/resnet_vlbert_for_vcr.py::ResNetVLBERT (Q→A
// or QA→R; final_mlp of CLASSIFIER_TYPE 1fc or 2fc on the pooler; VisualLinguisticBert under
// TimeDistributed, hence the "vlbert._module." keys): one row [CLS] q [SEP] a [SEP]
// per answer choice, a score per row, BCE per choice (CLASSIFIER_SIGMOID, positives
// weighted by CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT) or cross
// entropy over the choices, plus the CNN regulariser's object-class loss on top of
// the encoder (ENABLE_CNN_REG_LOSS with CNN_LOSS_TOP).
type VCR struct {
	*Encoder
	mlp  heads.FinalMLP // final_mlp (CLASSIFIER_TYPE 1fc or 2fc) on the pooled output
	cnn  heads.MVRC     // cnn_loss_reg: transform (dense, GELU) + Linear(H→81)
	reg  heads.Linear   // image_feature_extractor.regularizing_predictor (CNNRegLossRoI)
	rows data.RowBuffers
	st   vcrState
}

type vcrState struct {
	out      VCROutput
	rl       rowLayout
	mlp      heads.FinalMLPActs
	cnnDrop  kernels.Dropout
	tags     []int32 // [4B*Lt] box index feeding each text token's visual feature
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
	// object_word_embed_mode 1 and 3
	classes   []int32 // [B*NB] the batch's box classes
	meanCount []int32 // [R] tokens averaged per row (mode 3)
	text      []int32 // [R*lt] the rows' ids (mode 3)
	textMask  []bool
	lt        int
	// regularizing_predictor (CNNRegLossRoI)
	regIn, regProbs []float32
	regLab          []int32
	featGrad        []float32
}

const siteHeadVCR, siteCNNReg = 5, 6

func (*VCR) module() {}

func newVCR(e *Encoder) Module {
	m := &VCR{Encoder: e, mlp: finalMLPOf(e.Params, &e.Cfg)}
	if e.Cfg.CNNRegLossRoI {
		m.reg = headLinear(e.Params, "image_feature_extractor.regularizing_predictor")
	}
	if e.Cfg.CNNRegLossTop {
		m.cnn = heads.MVRC{Transform: heads.Transform{Dense: headLinear(e.Params, "cnn_loss_reg.0.dense"), Act: e.Cfg.HiddenAct}, Cls: headLinear(e.Params, "cnn_loss_reg.2")}
	}
	return m
}

// NewVCR builds a VCR module for cfg (cfg.Task must be TaskVCR) with every
// parameter zero.
func NewVCR(cfg Config) (*VCR, error) { return newAs[*VCR](cfg, TaskVCR) }

// Forward runs the module's train_forward (with AnsLabel) or inference_forward:
// every token's visual feature is the box its tag points to (box 0 when untagged).
func (m *VCR) Forward(bt *VCRBatch) (*VCROutput, error) {
	cfg := &m.Cfg
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
	if (cfg.CNNRegLossTop || cfg.CNNRegLossRoI) && bt.AnsLabel != nil {
		checkLen("classes", len(bt.Classes), B*NB)
	}
	m.acts.reset()
	m.ints.reset()
	s := &m.st
	s.ready = false
	bx := bt.Boxes
	bx.VCRMask = true
	if cfg.ImageSemantic || cfg.objWordMode() == 1 {
		checkLen("classes", len(bt.Classes), B*NB)
	}
	m.vis.classes = bt.Classes
	s.classes = bt.Classes
	visual := m.visualForward
	if cfg.Blind {
		visual = func(v *visualActs, bx *Boxes, _ []int32, _ []float32) error { return m.blindVisual(v, bx) }
	}
	if err := visual(&m.vis, &bx, nil, nil); err != nil {
		return nil, err
	}
	lo := m.vis.lo
	o := &s.out
	o.ObjReps, o.Lo = m.vis.objReps, lo

	// Text: one row per (sample, choice).
	text, err := m.rows.VCRRowsIn(cfg.VCRLayout, bt.Question, bt.QTags, B, bt.LQ, bt.Answers, bt.ATags, C, bt.LA, lo)
	if err != nil {
		return nil, errorf("%w", err)
	}
	if cfg.NoGrounding { // text_tags.zero_(): every token sees the whole image
		clear(text.Tags)
	}
	Lt, R := text.L, text.N
	o.Lt, s.tags = Lt, text.Tags
	s.rl = rowLayout{rows: R, lt: Lt, images: B, perImage: C, textLen: Lt, tags: text.Tags}
	in := CoreInput{TextIDs: text.IDs, TextTypes: text.Types, TextMask: text.Mask}
	m.encoderInput(&in, s.rl)
	objMask := in.ObjMask
	if err := m.objectLinguistic(&in, bt, lo); err != nil {
		return nil, err
	}
	if cfg.NoObjAttention || cfg.Blind { // box_mask.zero_() before VisualLinguisticBert
		in.ObjMask = m.boolBuf(3, len(objMask))
	}
	if err := m.coreForward(&in); err != nil {
		return nil, err
	}
	m.mlp.Forward(&s.mlp, &m.acts, m.c.pooled, R, m.dropout(cfg.ClassifierDrop, siteHeadVCR))
	o.Logits = s.mlp.Logits
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
		o.AnsLoss = heads.WeightedBCEForward(o.Logits, s.labels, cfg.posWeight())
	} else {
		s.probs = m.acts.alloc(R)
		o.AnsLoss, _ = kernels.CrossEntropyForward(s.probs, o.Logits, bt.AnsLabel, B, C)
	}
	o.Total = cfg.AnsLossWeight * o.AnsLoss
	if cfg.CNNRegLossRoI {
		if err := m.roiRegForward(bt); err != nil {
			return nil, err
		}
		o.Total += cfg.CNNLossWeight * o.CNNLoss
	}
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
func (m *VCR) cnnForward(n int) {
	s := &m.st
	H := m.Cfg.HiddenSize
	m.cnn.Transform.Forward(&s.cnnTr, &m.acts, s.cnnIn, n)
	s.cnnDrops = s.cnnTr.Out()
	if s.cnnDrop.P > 0 {
		s.cnnDrops = m.acts.alloc(n * H)
		kernels.DropoutForward(s.cnnDrops, s.cnnTr.Out(), s.cnnDrop)
	}
	s.cnnActs.Logits = m.acts.alloc(n * VCRObjectClasses)
	m.cnn.Cls.Forward(s.cnnActs.Logits, s.cnnDrops, n)
}

// Backward back-propagates dloss·Total through the last labelled Forward.
func (m *VCR) Backward(dloss float32) {
	m.mustTrainable()
	s := &m.st
	if !s.ready || s.label == nil {
		panic("model: VCR.Backward without a labelled Forward")
	}
	cfg := &m.Cfg
	o := &s.out
	R, lo, H := m.c.in.B, o.Lo, cfg.HiddenSize
	B, C := R/VCRChoices, VCRChoices
	m.grads.reset()
	dlog := m.grads.alloc(R)
	if cfg.ClassifierSigmoid {
		heads.WeightedBCEBackward(dlog, o.Logits, s.labels, cfg.posWeight(), dloss*cfg.AnsLossWeight)
	} else {
		kernels.CrossEntropyBackward(dlog, s.probs, s.label, B, C, dloss*cfg.AnsLossWeight)
	}
	dpool := m.grads.alloc(R * H)
	m.mlp.Backward(&s.mlp, &m.grads, dpool, dlog)
	var dobj []float32
	if cfg.CNNRegLossTop {
		n := len(s.cnnRows)
		dl := m.grads.alloc(n * VCRObjectClasses)
		kernels.CrossEntropyBackward(dl, s.cnnProbs, s.cnnLab, n, VCRObjectClasses, dloss*cfg.CNNLossWeight)
		dd := m.grads.alloc(n * H)
		m.cnn.Cls.Backward(dd, dl, s.cnnDrops, n)
		if s.cnnDrop.P > 0 {
			d2 := m.grads.alloc(n * H)
			kernels.DropoutBackward(d2, dd, s.cnnDrop)
			dd = d2
		}
		din := m.grads.alloc(n * H)
		m.cnn.Transform.Backward(&s.cnnTr, &m.grads, din, dd)
		dobj = m.grads.alloc(R * lo * H)
		for k, slot := range s.cnnRows {
			copy(dobj[int(slot)*H:(int(slot)+1)*H], din[k*H:(k+1)*H])
		}
	}
	g := m.coreBackward(nil, dobj, dpool)
	m.objectLinguisticBackward(g.objLing, lo)
	m.encoderInputBackward(g, s.rl, nil, nil, nil)
	if cfg.CNNRegLossRoI {
		m.roiRegBackward(dloss * cfg.CNNLossWeight)
	}
}

// objectLinguistic fills the object linguistic part of every row's object slots
// for object_word_embed_mode 1 (the embedding of the box's COCO class, clamped to
// [0,80]) and 3 (the mean word embedding of the row's text without [CLS], [SEP]
// and padding); mode 2 was filled by encoderInput, BLIND leaves zeros.
func (m *VCR) objectLinguistic(in *CoreInput, bt *VCRBatch, lo int) error {
	cfg := &m.Cfg
	H, NB, R := cfg.HiddenSize, bt.Boxes.NB, in.B
	if cfg.Blind {
		return nil
	}
	switch cfg.objWordMode() {
	case 1:
		ling := m.Params.View("object_linguistic_embeddings.weight")
		for r := 0; r < R; r++ {
			b := r / VCRChoices
			for j := 0; j < lo; j++ {
				cl := min(max(bt.Classes[b*NB+j], 0), VCRObjectClasses-1)
				copy(in.ObjLing[(r*lo+j)*H:(r*lo+j+1)*H], ling[int(cl)*H:int(cl+1)*H])
			}
		}
	case 3:
		word := m.core.word.w
		s := &m.st
		s.meanCount = m.ints.alloc(R)
		mean := m.acts.alloc(H)
		for r := 0; r < R; r++ {
			clear(mean)
			n := 0
			for t := 0; t < in.Lt; t++ {
				if id := in.TextIDs[r*in.Lt+t]; in.TextMask[r*in.Lt+t] && id != ClsID && id != SepID {
					for i, v := range word[int(id)*H : int(id+1)*H] {
						mean[i] += v
					}
					n++
				}
			}
			if n == 0 {
				return errorf("object_word_embed_mode 3: row %d has no text token to average", r)
			}
			s.meanCount[r] = int32(n)
			for i := range mean {
				mean[i] /= float32(n)
			}
			for j := 0; j < lo; j++ {
				copy(in.ObjLing[(r*lo+j)*H:(r*lo+j+1)*H], mean)
			}
		}
		s.text = in.TextIDs
		s.textMask = in.TextMask
		s.lt = in.Lt
	}
	return nil
}

// objectLinguisticBackward is objectLinguistic's backward for modes 1 and 3
// (dling [R*lo*H], the gradient of every row's object linguistic parts).
func (m *VCR) objectLinguisticBackward(dling []float32, lo int) {
	cfg := &m.Cfg
	if cfg.Blind {
		return
	}
	H, R, s := cfg.HiddenSize, m.c.in.B, &m.st
	switch cfg.objWordMode() {
	case 1:
		g := m.Params.GradView("object_linguistic_embeddings.weight")
		NB := len(s.classes) / (R / VCRChoices)
		for r := 0; r < R; r++ {
			b := r / VCRChoices
			for j := 0; j < lo; j++ {
				cl := min(max(s.classes[b*NB+j], 0), VCRObjectClasses-1)
				dst, src := g[int(cl)*H:int(cl+1)*H], dling[(r*lo+j)*H:(r*lo+j+1)*H]
				for i := range dst {
					dst[i] += src[i]
				}
			}
		}
	case 3:
		wg := m.core.word.g // nil when word_embedding_frozen: the table is frozen
		if wg == nil {
			return
		}
		d := m.grads.alloc(H)
		for r := 0; r < R; r++ {
			clear(d)
			for j := 0; j < lo; j++ {
				for i, v := range dling[(r*lo+j)*H : (r*lo+j+1)*H] {
					d[i] += v
				}
			}
			inv := 1 / float32(s.meanCount[r])
			for t := 0; t < s.lt; t++ {
				if id := s.text[r*s.lt+t]; s.textMask[r*s.lt+t] && id != ClsID && id != SepID {
					dst := wg[int(id)*H : int(id+1)*H]
					for i := range dst {
						dst[i] += d[i] * inv
					}
				}
			}
		}
	}
}

// roiRegForward is FastRCNN's CNN regulariser of e2e mode (ENABLE_CNN_REG_LOSS
// without CNN_LOSS_TOP): regularizing_predictor, Linear(F→81) (F = IMAGE_FEAT_DIM, 2048 in the original), on the RoI
// feature of every valid box (post_roialign, before obj_downsample's dropout),
// cross-entropy against the box's class, mean over the boxes (common/fast_rcnn.py,
// forward). The loss goes to Output.CNNLoss.
func (m *VCR) roiRegForward(bt *VCRBatch) error {
	s, v := &m.st, &m.vis
	R, NB := v.rows, bt.Boxes.NB
	in, F := m.Cfg.objDownsampleIn(), m.Cfg.FeatureDim()
	s.regIn = m.acts.alloc(R * F)
	s.regLab = m.ints.alloc(R)
	for r := 0; r < R; r++ {
		copy(s.regIn[r*F:(r+1)*F], v.x[r*in+GeomDim:r*in+GeomDim+F])
		cl := bt.Classes[int(v.rowB[r])*NB+int(v.rowBox[r])]
		if cl < 0 || cl >= VCRObjectClasses {
			return errorf("class %d of box %d in sample %d is outside [0,%d)", cl, v.rowBox[r], v.rowB[r], VCRObjectClasses)
		}
		s.regLab[r] = cl
	}
	logits := m.acts.alloc(R * VCRObjectClasses)
	m.reg.Forward(logits, s.regIn, R)
	s.regProbs = m.acts.alloc(R * VCRObjectClasses)
	s.out.CNNLoss, _ = kernels.CrossEntropyForward(s.regProbs, logits, s.regLab, R, VCRObjectClasses)
	s.featGrad = bt.Boxes.FeatGrad
	return nil
}

// roiRegBackward accumulates regularizing_predictor's gradients and adds the RoI
// features' gradient to Boxes.FeatGrad (after visualBackward wrote the
// obj_downsample path's share there).
func (m *VCR) roiRegBackward(dloss float32) {
	s, v := &m.st, &m.vis
	R, F := v.rows, m.Cfg.FeatureDim()
	dl := m.grads.alloc(R * VCRObjectClasses)
	kernels.CrossEntropyBackward(dl, s.regProbs, s.regLab, R, VCRObjectClasses, dloss)
	var dx []float32
	if s.featGrad != nil {
		dx = m.grads.alloc(R * F)
	}
	m.reg.Backward(dx, dl, s.regIn, R)
	if dx == nil {
		return
	}
	for r := 0; r < R; r++ {
		dst := s.featGrad[(int(v.rowB[r])*v.nb+int(v.rowBox[r]))*F:]
		for i, g := range dx[r*F : (r+1)*F] {
			dst[i] += g
		}
	}
}
