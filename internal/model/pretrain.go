package model

import (
	"github.com/vlbert/vlbert/internal/heads"
	"github.com/vlbert/vlbert/internal/kernels"
)

// PretrainBatch is one collated pretraining batch (precomputed features). The aux
// fields are the text-only rows of the multitask module (BA == 0 otherwise).
type PretrainBatch struct {
	Boxes      Boxes
	LT         int
	Text       []int32   // [B*LT] [CLS] caption [SEP] with [MASK]s, 0-padded
	RelLabel   []int32   // [B] caption-image match (used when WITH_REL_LOSS)
	MLMLabels  []int32   // [B*LT], -1 = ignore
	MVRCOps    []int32   // [B*NB], 1 = masked RoI
	MVRCLabels []float32 // [B*NB*R] soft class targets

	BA, LA       int
	AuxText      []int32 // [BA*LA]
	AuxMLMLabels []int32 // [BA*LA]
}

// PretrainOutput holds views into the activation arena, valid until the next Forward.
type PretrainOutput struct {
	RelLogits []float32 // [B*2] relationship_logits
	// MLMLogits and MLMAuxLogits are every position's scores, filled only with
	// Model.AllMLMLogits (golden dumps); otherwise the decoder runs on the predicted
	// positions alone and MLMRow* hold their scores.
	MLMLogits    []float32 // [B*Lm*W] mlm_logits (mlm_logits_wvc), -10000 past the sequence; Lm = LT, or max(LT, LA) with aux rows
	MLMAuxLogits []float32 // [BA*Lm*W] mlm_logits_aux
	// The predicted positions (label != -1): row r of [B+BA, Lm] (image-caption rows
	// first, then aux rows), its label and its W scores; the first MLMRowsWVC rows
	// are image-caption rows.
	MLMRows      []int32
	MLMRowLabels []int32
	MLMRowLogits []float32 // [len(MLMRows)*W], -10000 past the sequence
	MLMRowsWVC   int
	MVRCLogits   []float32 // [B*NB*R] mvrc_logits, -10000 for trimmed box slots
	Lm           int
	RelLoss      float32
	MLMLoss      float32 // mlm_loss (mlm_loss_wvc with aux rows)
	MLMAuxLoss   float32 // mlm_loss_aux
	MVRCLoss     float32
	Total        float32   // rel + mlm (+ mlm_aux) + mvrc
	ObjReps      []float32 // [B*Lo*D]
	Lo           int
	TextVisual   []float32 // [(B+BA)*Lm*H] text_visual_embeddings passed to VisualLinguisticBert
	ObjLing      []float32 // [(B+BA)*Lo*H]
	ObjMask      []bool    // [(B+BA)*Lo]
}

// Pretrain is the pretraining module, pretrain/modules/resnet_vlbert_for_pretraining.py
// ::ResNetVLBERTForPretraining: on image-caption rows, the caption-image relationship
// on the pooler (WITH_REL_LOSS), masked language modelling with the decoder tied to
// the word embeddings (WITH_MLM_LOSS) and masked RoI classification (WITH_MVRC_LOSS).
type Pretrain struct {
	*Encoder
	// AllMLMLogits makes Forward score every text position over the vocabulary
	// (PretrainOutput.MLMLogits), as the original does, instead of only the
	// predicted ones (MLMRowLogits); losses and gradients are the same.
	AllMLMLogits bool

	multitask bool // text-only aux rows (PretrainMultitask)
	rel       heads.Linear
	mlm       heads.MLM
	mvrc      heads.MVRC
	st        pretrainState
}

// PretrainMultitask is pretrain/modules/resnet_vlbert_for_pretraining_multitask.py
// ::ResNetVLBERTForPretrainingMultitask: Pretrain plus text-only rows (the batch's
// aux fields) that see aux_text_visual_embedding and no object, with their own MLM
// loss (mlm_loss_aux).
type PretrainMultitask struct {
	Pretrain
}

type pretrainState struct {
	out                PretrainOutput
	rl                 rowLayout
	mlm                heads.MLMActs
	mvrc               heads.MVRCActs
	relProbs, mlmProbs []float32
	mvrcProbs, mvrcLab []float32
	mlmLabels          []int32 // [(B+BA)*Lm]: wvc rows then aux rows
	mlmSparse          bool    // the decoder ran on out.MLMRows only
	relLabel           []int32
	mvrcOps            []int32
	mvrcIn             []float32 // [B*lo*H] object states of the image rows
	B, BA, NB          int
	haveFw             bool
	nMLM, nAux, nMVRC  int
	mlmW, mvrcW        []float32 // per-row loss weights of *_LOSS_NORM_IN_BATCH_FIRST (nil: plain means)
}

func bindPretrain(m *Pretrain, e *Encoder, multitask bool) {
	c, p := &e.Cfg, e.Params
	m.Encoder, m.multitask = e, multitask
	if c.WithRelLoss {
		m.rel = headLinear(p, "vlbert.relationsip_head.caption_image_relationship")
	}
	if c.WithMLMLoss {
		word := pv(p, "vlbert.word_embeddings.weight")
		bias := pv(p, "vlbert.mlm_head.predictions.bias")
		m.mlm = heads.MLM{
			Transform: heads.Transform{Dense: headLinear(p, "vlbert.mlm_head.predictions.transform.dense"),
				LN: headLN(p, "vlbert.mlm_head.predictions.transform.LayerNorm"), Act: c.HiddenAct},
			Decoder: heads.Linear{W: word.w, B: bias.w, GW: word.g, GB: bias.g, In: c.HiddenSize, Out: c.VocabSize},
		}
		if c.WordEmbeddingFrozen { // the tied decoder weight is the frozen table
			m.mlm.Decoder.GW = nil
		}
	}
	if c.WithMVRCLoss {
		m.mvrc = heads.MVRC{
			Transform: heads.Transform{Dense: headLinear(p, "vlbert.mvrc_head.transform.dense"), Act: c.HiddenAct},
			Cls:       headLinear(p, "vlbert.mvrc_head.region_cls_pred"),
		}
	}
}

func (*Pretrain) module() {}

func newPretrain(e *Encoder) Module {
	m := &Pretrain{}
	bindPretrain(m, e, false)
	return m
}

func newPretrainMultitask(e *Encoder) Module {
	m := &PretrainMultitask{}
	bindPretrain(&m.Pretrain, e, true)
	return m
}

// NewPretrain builds a pretraining module for cfg (cfg.Task must be TaskPretrain)
// with every parameter zero.
func NewPretrain(cfg Config) (*Pretrain, error) { return newAs[*Pretrain](cfg, TaskPretrain) }

// NewPretrainMultitask builds a multitask pretraining module for cfg (cfg.Task
// must be TaskPretrainMultitask) with every parameter zero.
func NewPretrainMultitask(cfg Config) (*PretrainMultitask, error) {
	return newAs[*PretrainMultitask](cfg, TaskPretrainMultitask)
}

// Forward runs the module's forward and its losses. The aux fields of bt are
// read by PretrainMultitask only.
func (m *Pretrain) Forward(bt *PretrainBatch) (*PretrainOutput, error) {
	cfg := &m.Cfg
	B, NB, H, W, R := bt.Boxes.B, bt.Boxes.NB, cfg.HiddenSize, cfg.VocabSize, cfg.RegionClasses
	BA := bt.BA
	if !m.multitask {
		BA = 0
	}
	checkLen("text", len(bt.Text), B*bt.LT)
	if bt.LT <= 0 || B <= 0 {
		return nil, errorf("empty pretraining batch (B=%d, text length %d)", B, bt.LT)
	}
	if cfg.WithRelLoss {
		checkLen("relationship_label", len(bt.RelLabel), B)
	}
	if cfg.WithMLMLoss {
		checkLen("mlm_labels", len(bt.MLMLabels), B*bt.LT)
	}
	checkLen("mvrc_ops", len(bt.MVRCOps), B*NB)
	if cfg.WithMVRCLoss {
		checkLen("mvrc_labels", len(bt.MVRCLabels), B*NB*R)
	}
	if BA > 0 {
		checkLen("aux_text", len(bt.AuxText), BA*bt.LA)
		checkLen("aux_text_mlm_labels", len(bt.AuxMLMLabels), BA*bt.LA)
	}
	for i, l := range bt.RelLabel {
		if cfg.WithRelLoss && (l < -1 || l > 1) {
			return nil, errorf("relationship_label[%d] = %d, want 0 or 1", i, l)
		}
	}
	for i, id := range bt.Text {
		if id < 0 || int(id) >= W {
			return nil, errorf("text id %d at [%d,%d] is outside the vocabulary [0,%d)", id, i/bt.LT, i%bt.LT, W)
		}
	}
	m.acts.reset()
	m.ints.reset()
	s := &m.st
	s.haveFw = false
	s.B, s.BA, s.NB = B, BA, NB
	var maskEmb []float32
	if p, ok := m.Params.Lookup("object_mask_visual_embedding.weight"); ok {
		maskEmb = m.Params.Data[p.Offset : p.Offset+p.Size]
	}
	if err := m.visualForward(&m.vis, &bt.Boxes, bt.MVRCOps, maskEmb); err != nil {
		return nil, err
	}
	lo := m.vis.lo
	o := &s.out
	o.ObjReps, o.Lo = m.vis.objReps, lo

	// Text rows: image-caption rows first, then aux rows.
	BT, Lm := B+BA, bt.LT
	if BA > 0 {
		Lm = max(bt.LT, bt.LA)
	}
	o.Lm = Lm
	ids, types := m.ints.alloc(BT*Lm), m.ints.alloc(BT*Lm)
	for b := 0; b < B; b++ {
		copy(ids[b*Lm:], bt.Text[b*bt.LT:(b+1)*bt.LT])
	}
	for a := 0; a < BA; a++ {
		for t, id := range bt.AuxText[a*bt.LA : (a+1)*bt.LA] {
			if id < 0 || int(id) >= W {
				return nil, errorf("aux text id %d at [%d,%d] is outside the vocabulary [0,%d)", id, a, t, W)
			}
			ids[(B+a)*Lm+t] = id
		}
	}
	textMask := m.boolBuf(0, BT*Lm)
	for i, id := range ids {
		textMask[i] = id > 0
	}
	s.rl = rowLayout{rows: BT, lt: Lm, images: B, perImage: 1, textLen: bt.LT}
	in := CoreInput{TextIDs: ids, TextTypes: types, TextMask: textMask}
	m.encoderInput(&in, s.rl)
	if BA > 0 {
		aux := m.Params.View("aux_text_visual_embedding.weight")
		for r := B * Lm; r < BT*Lm; r++ {
			copy(in.TextVisual[r*H:], aux)
		}
	}
	// A masked RoI's linguistic part is the object [MASK] word.
	if cfg.WithMVRCLoss {
		maskWord := m.Params.View("object_mask_word_embedding.weight")
		for b := 0; b < B; b++ {
			for j := 0; j < lo; j++ {
				if bt.MVRCOps[b*NB+j] == 1 {
					copy(in.ObjLing[(b*lo+j)*H:], maskWord)
				}
			}
		}
	}
	o.TextVisual, o.ObjLing, o.ObjMask = in.TextVisual, in.ObjLing, in.ObjMask
	if err := m.coreForward(&in); err != nil {
		return nil, err
	}
	L := m.c.L
	o.RelLoss, o.MLMLoss, o.MLMAuxLoss, o.MVRCLoss = 0, 0, 0, 0
	o.RelLogits, o.MLMLogits, o.MLMAuxLogits, o.MVRCLogits = nil, nil, nil, nil

	if cfg.WithRelLoss {
		o.RelLogits = m.acts.alloc(BT * 2)
		m.rel.Forward(o.RelLogits, m.c.pooled, BT)
		o.RelLogits = o.RelLogits[:B*2]
		s.relLabel = bt.RelLabel
		s.relProbs = m.acts.alloc(B * 2)
		o.RelLoss, _ = kernels.CrossEntropyForward(s.relProbs, o.RelLogits, bt.RelLabel, B, 2)
	}
	o.MLMRows, o.MLMRowLabels, o.MLMRowLogits, o.MLMRowsWVC = nil, nil, nil, 0
	s.mlmSparse = false
	if cfg.WithMLMLoss {
		s.mlmLabels = m.ints.alloc(BT * Lm)
		for i := range s.mlmLabels {
			s.mlmLabels[i] = -1
		}
		for b := 0; b < B; b++ {
			copy(s.mlmLabels[b*Lm:], bt.MLMLabels[b*bt.LT:(b+1)*bt.LT])
		}
		for a := 0; a < BA; a++ {
			copy(s.mlmLabels[(B+a)*Lm:], bt.AuxMLMLabels[a*bt.LA:(a+1)*bt.LA])
		}
		for i, l := range s.mlmLabels {
			if l < -1 || int(l) >= W {
				return nil, errorf("mlm label %d at row %d is outside [-1,%d)", l, i/Lm, W)
			}
		}
		if m.AllMLMLogits {
			m.mlmForwardAll(B, BA, Lm, L)
		} else {
			m.mlmForwardSparse(B, BA, Lm, L)
		}
	}
	if cfg.WithMVRCLoss {
		s.mvrcIn = m.c.objOut[:B*lo*H]
		m.mvrc.Forward(&s.mvrc, &m.acts, s.mvrcIn, B*lo)
		s.mvrcLab = m.acts.alloc(B * lo * R)
		for b := 0; b < B; b++ {
			copy(s.mvrcLab[b*lo*R:(b+1)*lo*R], bt.MVRCLabels[b*NB*R:(b*NB+lo)*R])
		}
		s.mvrcProbs = m.acts.alloc(B * lo * R)
		s.mvrcW = nil
		if cfg.MVRCLossNormInBatchFirst {
			s.mvrcW = m.mvrcNormWeights(s.mvrcLab, B, lo, R)
			o.MVRCLoss = weightedSoftCEForward(s.mvrcProbs, s.mvrc.Logits, s.mvrcLab, s.mvrcW, B*lo, R)
		} else {
			o.MVRCLoss, s.nMVRC = kernels.SoftCrossEntropyForward(s.mvrcProbs, s.mvrc.Logits, s.mvrcLab, B*lo, R)
		}
		o.MVRCLogits = m.acts.alloc(B * NB * R)
		for i := range o.MVRCLogits {
			o.MVRCLogits[i] = -10000
		}
		for b := 0; b < B; b++ {
			copy(o.MVRCLogits[b*NB*R:], s.mvrc.Logits[b*lo*R:(b+1)*lo*R])
		}
	}
	s.mvrcOps = bt.MVRCOps
	o.Total = o.RelLoss + o.MLMLoss + o.MLMAuxLoss + o.MVRCLoss
	s.haveFw = true
	return o, nil
}

// Backward back-propagates dloss·Total through the last Forward and accumulates
// every parameter gradient.
func (m *Pretrain) Backward(dloss float32) {
	m.mustTrainable()
	s := &m.st
	if !s.haveFw {
		panic("model: Pretrain.Backward without Forward")
	}
	cfg := &m.Cfg
	o := &s.out
	B, BA, lo, Lm, H, W, R := s.B, s.BA, o.Lo, o.Lm, cfg.HiddenSize, cfg.VocabSize, cfg.RegionClasses
	BT, L := B+BA, m.c.L
	m.grads.reset()
	var dtext, dobj, dpooled []float32
	if cfg.WithRelLoss {
		dlog := m.grads.alloc(BT * 2)
		kernels.CrossEntropyBackward(dlog[:B*2], s.relProbs, s.relLabel, B, 2, dloss)
		dpooled = m.grads.alloc(BT * H)
		m.rel.Backward(dpooled, dlog, m.c.pooled, BT)
	}
	if cfg.WithMLMLoss && s.mlmSparse {
		dtext = m.mlmBackwardSparse(dloss, B, BT, Lm, L)
	} else if cfg.WithMLMLoss {
		dlog := m.grads.alloc(BT * Lm * W)
		if s.mlmW != nil {
			weightedCEBackward(dlog, s.mlmProbs, s.mlmLabels, s.mlmW, BT*Lm, W, dloss)
		} else {
			kernels.CrossEntropyBackward(dlog[:B*Lm*W], s.mlmProbs[:B*Lm*W], s.mlmLabels[:B*Lm], B*Lm, W, dloss)
			if BA > 0 {
				kernels.CrossEntropyBackward(dlog[B*Lm*W:], s.mlmProbs[B*Lm*W:], s.mlmLabels[B*Lm:], BA*Lm, W, dloss)
			}
		}
		for b := 0; b < BT; b++ { // padded logits are constants
			if L < Lm {
				clear(dlog[(b*Lm+L)*W : (b+1)*Lm*W])
			}
		}
		dtext = m.grads.alloc(BT * Lm * H)
		m.mlm.Backward(&s.mlm, &m.grads, dtext, dlog)
	}
	if cfg.WithMVRCLoss {
		dlog := m.grads.alloc(B * lo * R)
		if s.mvrcW != nil {
			weightedSoftCEBackward(dlog, s.mvrcProbs, s.mvrcLab, s.mvrcW, B*lo, R, dloss)
		} else {
			kernels.SoftCrossEntropyBackward(dlog, s.mvrcProbs, s.mvrcLab, B*lo, R, dloss)
		}
		dobj = m.grads.alloc(BT * lo * H)
		m.mvrc.Backward(&s.mvrc, &m.grads, dobj[:B*lo*H], dlog)
	}
	g := m.coreBackward(dtext, dobj, dpooled)
	if BA > 0 {
		aux := m.Params.GradView("aux_text_visual_embedding.weight")
		for r := B * Lm; r < BT*Lm; r++ {
			src := g.textVisual[r*H : (r+1)*H]
			for i := range aux {
				aux[i] += src[i]
			}
		}
	}
	var maskWord []float32
	if cfg.WithMVRCLoss {
		maskWord = m.Params.GradView("object_mask_word_embedding.weight")
	}
	var maskVis []float32
	if q, ok := m.Params.Lookup("object_mask_visual_embedding.weight"); ok {
		maskVis = m.Params.Grad[q.Offset : q.Offset+q.Size]
	}
	m.encoderInputBackward(g, s.rl, s.mvrcOps, maskWord, maskVis)
}

// AsPretrain returns the Pretrain of either pretraining module (false for the
// other modules).
func AsPretrain(m Module) (*Pretrain, bool) {
	switch p := m.(type) {
	case *Pretrain:
		return p, true
	case *PretrainMultitask:
		return &p.Pretrain, true
	}
	return nil, false
}
