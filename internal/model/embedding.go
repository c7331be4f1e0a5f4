package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/kernels"
)

// embedForward is VisualLinguisticBert.embedding: text vl = word + visual_ln_text(v),
// object vl = linguistic + visual_ln_object(v), seamless compaction to
// [text | objects | END | padding], token types (text given, objects and END 2,
// padding 0), position ids (text k, objects n_t, END n_t+1, padding k; each plus
// position_padding_idx+1, which is 0 for BERT), then
// LayerNorm(vl + pos + type) and dropout. It also builds the additive attention mask.
func (m *Encoder) embedForward() error {
	c := &m.c
	in := &c.in
	B, Lt, Lo, H := in.B, in.Lt, in.Lo, m.Cfg.HiddenSize
	w := &m.core

	c.nText, c.nObj = m.ints.alloc(B), m.ints.alloc(B)
	L := 0
	for b := 0; b < B; b++ {
		for t := 0; t < Lt; t++ {
			if in.TextMask[b*Lt+t] {
				c.nText[b]++
			}
		}
		for j := 0; j < Lo; j++ {
			if in.ObjMask[b*Lo+j] {
				c.nObj[b]++
			}
		}
		L = max(L, int(c.nText[b]+c.nObj[b])+1)
	}
	shift := m.Cfg.PositionShift
	if L+shift > m.Cfg.MaxPositionEmbeddings {
		return fmt.Errorf("model: concatenated sequence of %d tokens (text + objects + [END]) with position ids shifted by position_padding_idx+1 = %d exceeds max_position_embeddings %d", L, shift, m.Cfg.MaxPositionEmbeddings)
	}
	c.L = L
	N := B * L

	// Per-token pieces.
	c.wordEmb = m.acts.alloc(B * Lt * H)
	m.wordForward(c.wordEmb, in.TextIDs, B*Lt, H)
	c.textVis = w.visText.forward(&m.acts, in.TextVisual, B*Lt, H)
	c.objVis = w.visObj.forward(&m.acts, in.ObjVisual, B*Lo, H)

	// Compaction.
	c.textSrc, c.objSrc = m.ints.alloc(N), m.ints.alloc(N)
	c.posIDs, c.typeIDs = m.ints.alloc(N), m.ints.alloc(N)
	c.maskAdd = m.acts.alloc(N)
	c.embSum = m.acts.alloc(N * H)
	for b := 0; b < B; b++ {
		nt := int(c.nText[b])
		s := 0
		for t := 0; t < Lt; t++ {
			if in.TextMask[b*Lt+t] {
				c.textSrc[b*L+s] = int32(t)
				c.objSrc[b*L+s] = -1
				c.typeIDs[b*L+s] = in.TextTypes[b*Lt+t]
				c.posIDs[b*L+s] = int32(s + shift)
				row := c.embSum[(b*L+s)*H : (b*L+s+1)*H]
				we := c.wordEmb[(b*Lt+t)*H : (b*Lt+t+1)*H]
				tv := c.textVis.out[(b*Lt+t)*H : (b*Lt+t+1)*H]
				for i := range row {
					row[i] = we[i] + tv[i]
				}
				s++
			}
		}
		for j := 0; j < Lo; j++ {
			if in.ObjMask[b*Lo+j] {
				c.textSrc[b*L+s] = -1
				c.objSrc[b*L+s] = int32(j)
				c.typeIDs[b*L+s] = 2
				c.posIDs[b*L+s] = int32(nt + shift)
				row := c.embSum[(b*L+s)*H : (b*L+s+1)*H]
				ling := in.ObjLing[(b*Lo+j)*H : (b*Lo+j+1)*H]
				ov := c.objVis.out[(b*Lo+j)*H : (b*Lo+j+1)*H]
				for i := range row {
					row[i] = ling[i] + ov[i]
				}
				s++
			}
		}
		// [END]
		c.textSrc[b*L+s], c.objSrc[b*L+s] = -1, -1
		c.typeIDs[b*L+s] = 2
		c.posIDs[b*L+s] = int32(nt + 1 + shift)
		copy(c.embSum[(b*L+s)*H:(b*L+s+1)*H], w.end.w[:H])
		s++
		for ; s < L; s++ {
			c.textSrc[b*L+s], c.objSrc[b*L+s] = -1, -1
			c.typeIDs[b*L+s] = 0
			c.posIDs[b*L+s] = int32(s + shift)
			c.maskAdd[b*L+s] = -10000
		}
	}
	// vl + position + token type, all rows (padding rows are pos + type only).
	for r := 0; r < N; r++ {
		row := c.embSum[r*H : (r+1)*H]
		pe := w.pos.w[int(c.posIDs[r])*H : int(c.posIDs[r]+1)*H]
		te := w.typ.w[int(c.typeIDs[r])*H : int(c.typeIDs[r]+1)*H]
		for i := range row {
			row[i] += pe[i] + te[i]
		}
	}
	c.embLN, c.embMean, c.embRstd = m.acts.alloc(N*H), m.acts.alloc(N), m.acts.alloc(N)
	w.embLN.forward(c.embLN, c.embMean, c.embRstd, c.embSum, N, H)
	c.embOut = c.embLN
	if d := m.dropout(m.Cfg.HiddenDropout, siteEmbedding); d.P > 0 {
		c.embOut = m.acts.alloc(N * H)
		kernels.DropoutForward(c.embOut, c.embLN, d)
	}
	return nil
}

// embedBackward takes d(embedding output) [B*L*H] and returns the gradients of the
// text visual features, object visual parts and object linguistic parts.
func (m *Encoder) embedBackward(dout []float32) coreGrads {
	c := &m.c
	in := &c.in
	B, Lt, Lo, L, H := in.B, in.Lt, in.Lo, c.L, m.Cfg.HiddenSize
	N := B * L
	w := &m.core
	if d := m.dropout(m.Cfg.HiddenDropout, siteEmbedding); d.P > 0 {
		dd := m.grads.alloc(N * H)
		kernels.DropoutBackward(dd, dout, d)
		dout = dd
	}
	dsum := m.grads.alloc(N * H)
	w.embLN.backward(dsum, dout, c.embSum, c.embMean, c.embRstd, N, H)
	if w.pos.g != nil {
		kernels.EmbeddingBackward(w.pos.g, dsum, c.posIDs, N, H)
	}
	kernels.EmbeddingBackward(w.typ.g, dsum, c.typeIDs, N, H)

	dtextVL := m.grads.alloc(B * Lt * H)
	dobjVL := m.grads.alloc(B * Lo * H)
	for b := 0; b < B; b++ {
		for s := 0; s < L; s++ {
			r := b*L + s
			src := dsum[r*H : (r+1)*H]
			switch {
			case c.textSrc[r] >= 0:
				copy(dtextVL[(b*Lt+int(c.textSrc[r]))*H:], src)
			case c.objSrc[r] >= 0:
				copy(dobjVL[(b*Lo+int(c.objSrc[r]))*H:], src)
			case s == int(c.nText[b]+c.nObj[b]):
				for i := range src {
					w.end.g[i] += src[i]
				}
			}
		}
	}
	var g coreGrads
	m.wordBackward(dtextVL, in.TextIDs, B*Lt, H)
	g.textVisual = w.visText.backward(&m.grads, c.textVis, dtextVL, in.TextVisual, B*Lt, H)
	g.objLing = dobjVL
	g.objVisual = w.visObj.backward(&m.grads, c.objVis, dobjVL, in.ObjVisual, B*Lo, H)
	return g
}
