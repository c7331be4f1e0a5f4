package model

import "github.com/vlbert/vlbert/internal/kernels"

// mlmForwardAll runs the MLM decoder on every text position, as the original.
func (m *Pretrain) mlmForwardAll(B, BA, Lm, L int) {
	s, o, W, BT := &m.st, &m.st.out, m.Cfg.VocabSize, B+BA
	m.mlm.Forward(&s.mlm, &m.acts, m.c.textOut, BT*Lm)
	logits := s.mlm.Logits
	for b := 0; b < BT; b++ {
		for t := L; t < Lm; t++ {
			fillPadLogits(logits[(b*Lm+t)*W : (b*Lm+t+1)*W])
		}
	}
	s.mlmProbs = m.acts.alloc(BT * Lm * W)
	o.MLMLogits = logits[:B*Lm*W]
	if BA > 0 {
		o.MLMAuxLogits = logits[B*Lm*W:]
	}
	s.mlmW = nil
	if m.Cfg.MLMLossNormInBatchFirst {
		rows := m.ints.alloc(BT * Lm)
		for i := range rows {
			rows[i] = int32(i)
		}
		s.mlmW = m.mlmNormWeights(rows, s.mlmLabels, B*Lm, B, BA, Lm)
		o.MLMLoss = weightedCEForward(s.mlmProbs[:B*Lm*W], logits[:B*Lm*W], s.mlmLabels[:B*Lm], s.mlmW[:B*Lm], B*Lm, W)
		o.MLMAuxLoss = weightedCEForward(s.mlmProbs[B*Lm*W:], logits[B*Lm*W:], s.mlmLabels[B*Lm:], s.mlmW[B*Lm:], BA*Lm, W)
		return
	}
	o.MLMLoss, s.nMLM = kernels.CrossEntropyForward(s.mlmProbs[:B*Lm*W], logits[:B*Lm*W], s.mlmLabels[:B*Lm], B*Lm, W)
	if BA > 0 {
		o.MLMAuxLoss, s.nAux = kernels.CrossEntropyForward(s.mlmProbs[B*Lm*W:], logits[B*Lm*W:], s.mlmLabels[B*Lm:], BA*Lm, W)
	}
}

// mlmForwardSparse runs the MLM head on the predicted positions only (label != -1):
// the other positions' scores never reach the loss, and the decoder over the
// vocabulary is the largest product of a pretraining step. Same losses and
// gradients as mlmForwardAll.
func (m *Pretrain) mlmForwardSparse(B, BA, Lm, L int) {
	s, o, W, H := &m.st, &m.st.out, m.Cfg.VocabSize, m.Cfg.HiddenSize
	s.mlmSparse = true
	n, nW := 0, 0
	for r, l := range s.mlmLabels {
		if l >= 0 {
			n++
			if r < B*Lm {
				nW++
			}
		}
	}
	rows, labels := m.ints.alloc(n), m.ints.alloc(n)
	h := m.acts.allocUninit(n * H)
	i := 0
	for r, l := range s.mlmLabels {
		if l >= 0 {
			rows[i], labels[i] = int32(r), l
			copy(h[i*H:(i+1)*H], m.c.textOut[r*H:(r+1)*H])
			i++
		}
	}
	m.mlm.Forward(&s.mlm, &m.acts, h, n)
	logits := s.mlm.Logits
	for i, r := range rows {
		if int(r)%Lm >= L {
			fillPadLogits(logits[i*W : (i+1)*W])
		}
	}
	s.mlmProbs = m.acts.alloc(n * W)
	s.mlmW = nil
	if m.Cfg.MLMLossNormInBatchFirst {
		s.mlmW = m.mlmNormWeights(rows, labels, nW, B, BA, Lm)
		o.MLMLoss = weightedCEForward(s.mlmProbs[:nW*W], logits[:nW*W], labels[:nW], s.mlmW[:nW], nW, W)
		o.MLMAuxLoss = weightedCEForward(s.mlmProbs[nW*W:], logits[nW*W:], labels[nW:], s.mlmW[nW:], n-nW, W)
	} else {
		o.MLMLoss, s.nMLM = kernels.CrossEntropyForward(s.mlmProbs[:nW*W], logits[:nW*W], labels[:nW], nW, W)
		if BA > 0 {
			o.MLMAuxLoss, s.nAux = kernels.CrossEntropyForward(s.mlmProbs[nW*W:], logits[nW*W:], labels[nW:], n-nW, W)
		}
	}
	o.MLMRows, o.MLMRowLabels, o.MLMRowLogits, o.MLMRowsWVC = rows, labels, logits, nW
}

// fillPadLogits sets the scores of a position past the sequence to the original's
// constant -10000 (its loss is then log W, with no gradient).
func fillPadLogits(row []float32) {
	for i := range row {
		row[i] = -10000
	}
}

// mlmBackwardSparse is mlmForwardSparse's backward; it returns d(textOut) [BT*Lm*H],
// zero at the positions that were not predicted.
func (m *Pretrain) mlmBackwardSparse(dloss float32, B, BT, Lm, L int) []float32 {
	s, o, W, H := &m.st, &m.st.out, m.Cfg.VocabSize, m.Cfg.HiddenSize
	n, nW := len(o.MLMRows), o.MLMRowsWVC
	dlog := m.grads.alloc(n * W)
	if s.mlmW != nil {
		weightedCEBackward(dlog, s.mlmProbs, o.MLMRowLabels, s.mlmW, n, W, dloss)
	} else {
		kernels.CrossEntropyBackward(dlog[:nW*W], s.mlmProbs[:nW*W], o.MLMRowLabels[:nW], nW, W, dloss)
		if n > nW {
			kernels.CrossEntropyBackward(dlog[nW*W:], s.mlmProbs[nW*W:], o.MLMRowLabels[nW:], n-nW, W, dloss)
		}
	}
	for i, r := range o.MLMRows { // padded logits are constants
		if int(r)%Lm >= L {
			clear(dlog[i*W : (i+1)*W])
		}
	}
	dh := m.grads.alloc(n * H)
	m.mlm.Backward(&s.mlm, &m.grads, dh, dlog)
	dtext := m.grads.alloc(BT * Lm * H)
	for i, r := range o.MLMRows {
		copy(dtext[int(r)*H:int(r+1)*H], dh[i*H:(i+1)*H])
	}
	return dtext
}
