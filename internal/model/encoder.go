package model

import "github.com/vlbert/vlbert/internal/kernels"

// layerForward runs BertLayer l (post-LN) on x [B*L*H]:
//
//	a   = Dropout(Dense(Attention(Q x, K x, V x, mask)))    attention dropout inside
//	h1  = LN(a + x)
//	out = LN(Dropout(Dense2(act(Dense1(h1)))) + h1)   (act: hidden_act, GELU by default)
func (m *Encoder) layerForward(l int, x []float32) {
	c := &m.c
	w := &m.core.layers[l]
	la := &c.layers[l]
	B, L, H, NH := c.in.B, c.L, m.Cfg.HiddenSize, m.Cfg.NumAttentionHeads
	N := B * L
	a := &m.acts
	la.in = x
	la.dAttn = m.dropout(m.Cfg.AttentionDropout, siteLayerBase+4*l)
	la.dAttnOut = m.dropout(m.Cfg.HiddenDropout, siteLayerBase+4*l+1)
	la.dFF = m.dropout(m.Cfg.HiddenDropout, siteLayerBase+4*l+2)

	la.q, la.k, la.v = a.allocUninit(N*H), a.allocUninit(N*H), a.allocUninit(N*H)
	m.encoderLinear(&w.q, la.q, x, N)
	m.encoderLinear(&w.k, la.k, x, N)
	m.encoderLinear(&w.v, la.v, x, N)
	la.probs, la.ctx = a.allocUninit(B*NH*L*L), a.allocUninit(N*H)
	kernels.AttentionForward(la.ctx, la.probs, la.q, la.k, la.v, c.maskAdd, B, L, H, NH, la.dAttn)
	m.layerTailForward(l, x, N)
}

// layerTailForward runs everything after the attention context la.ctx [n*H] of layer
// l: output dense, dropout, LN(· + resid), FFN, dropout, LN(· + h1) into la.out.
func (m *Encoder) layerTailForward(l int, resid []float32, n int) {
	w := &m.core.layers[l]
	la := &m.c.layers[l]
	H, I := m.Cfg.HiddenSize, m.Cfg.IntermediateSize
	a := &m.acts
	la.ao = a.allocUninit(n * H)
	m.encoderLinear(&w.attnOut, la.ao, la.ctx, n)
	la.aoDrop = la.ao
	if la.dAttnOut.P > 0 {
		la.aoDrop = a.allocUninit(n * H)
		kernels.DropoutForward(la.aoDrop, la.ao, la.dAttnOut)
	}
	la.res1 = a.allocUninit(n * H)
	la.h1, la.mean1, la.rstd1 = a.allocUninit(n*H), a.allocUninit(n), a.allocUninit(n)
	w.ln1.addForward(la.h1, la.mean1, la.rstd1, la.res1, la.aoDrop, resid, n, H)

	la.ff1, la.gelu = a.allocUninit(n*I), a.allocUninit(n*I)
	m.encoderLinear(&w.inter, la.ff1, la.h1, n)
	m.Cfg.HiddenAct.Forward(la.gelu, la.ff1)
	la.ff2 = a.allocUninit(n * H)
	m.encoderLinear(&w.out, la.ff2, la.gelu, n)
	la.ff2Drop = la.ff2
	if la.dFF.P > 0 {
		la.ff2Drop = a.allocUninit(n * H)
		kernels.DropoutForward(la.ff2Drop, la.ff2, la.dFF)
	}
	la.res2 = a.allocUninit(n * H)
	la.out, la.mean2, la.rstd2 = a.allocUninit(n*H), a.allocUninit(n), a.allocUninit(n)
	w.ln2.addForward(la.out, la.mean2, la.rstd2, la.res2, la.ff2Drop, la.h1, n, H)
}

// layerForwardRows is layerForward for an inference that reads one output row per
// sequence, rows[b] (a position in 0..L): keys and values still come from every row,
// but the query, the attention output and the FFN run on the chosen rows only, and
// la.out is [B*H]. Inference only (no dropout, nothing kept for backward).
func (m *Encoder) layerForwardRows(l int, x []float32, rows []int32) {
	c := &m.c
	w := &m.core.layers[l]
	la := &c.layers[l]
	B, L, H, NH := c.in.B, c.L, m.Cfg.HiddenSize, m.Cfg.NumAttentionHeads
	N := B * L
	a := &m.acts
	la.in = x
	la.dAttn, la.dAttnOut, la.dFF = kernels.Dropout{}, kernels.Dropout{}, kernels.Dropout{}

	la.k, la.v = a.allocUninit(N*H), a.allocUninit(N*H)
	m.encoderLinear(&w.k, la.k, x, N)
	m.encoderLinear(&w.v, la.v, x, N)
	xr := a.allocUninit(B * H)
	for b, p := range rows {
		copy(xr[b*H:(b+1)*H], x[(b*L+int(p))*H:(b*L+int(p)+1)*H])
	}
	la.q = a.allocUninit(B * H)
	m.encoderLinear(&w.q, la.q, xr, B)
	la.probs, la.ctx = a.allocUninit(B*NH*L), a.allocUninit(B*H)
	kernels.AttentionRowForward(la.ctx, la.probs, la.q, la.k, la.v, c.maskAdd, B, L, H, NH)
	m.layerTailForward(l, xr, B)
}

// layerBackward takes d(out) of layer l and returns d(in) (a fresh buffer from the
// backward arena).
func (m *Encoder) layerBackward(l int, dout []float32) []float32 {
	c := &m.c
	w := &m.core.layers[l]
	la := &c.layers[l]
	B, L, H, I, NH := c.in.B, c.L, m.Cfg.HiddenSize, m.Cfg.IntermediateSize, m.Cfg.NumAttentionHeads
	N := B * L
	g := &m.grads
	// dx outlives this layer; everything else is scratch, released at the end.
	dx := g.allocUninit(N * H)
	mk := g.mark()
	defer g.release(mk)

	dres2 := g.allocUninit(N * H)
	w.ln2.backward(dres2, dout, la.res2, la.mean2, la.rstd2, N, H)
	// res2 = ff2Drop + h1: dres2 flows to both.
	dff2 := dres2
	if la.dFF.P > 0 {
		dff2 = g.allocUninit(N * H)
		kernels.DropoutBackward(dff2, dres2, la.dFF)
	}
	dgelu := g.allocUninit(N * I)
	w.out.backward(dgelu, dff2, la.gelu, N)
	dff1 := g.allocUninit(N * I)
	m.Cfg.HiddenAct.Backward(dff1, la.ff1, la.gelu, dgelu)
	// h1 feeds the FFN and the residual: the FFN's input gradient accumulates into
	// dres2 (the residual's share), which dff2 no longer needs.
	dh1 := dres2
	w.inter.backwardAcc(dh1, dff1, la.h1, N)

	dres1 := g.allocUninit(N * H)
	w.ln1.backward(dres1, dh1, la.res1, la.mean1, la.rstd1, N, H)
	dao := dres1
	if la.dAttnOut.P > 0 {
		dao = g.allocUninit(N * H)
		kernels.DropoutBackward(dao, dres1, la.dAttnOut)
	}
	dctx := g.allocUninit(N * H)
	w.attnOut.backward(dctx, dao, la.ctx, N)
	dq, dk, dv := g.allocUninit(N*H), g.allocUninit(N*H), g.allocUninit(N*H)
	scratch := g.alloc(kernels.AttentionScratchSize(B, L, NH))
	kernels.AttentionBackward(dq, dk, dv, scratch, dctx, la.q, la.k, la.v, la.probs, B, L, H, NH, la.dAttn)
	// Q, K and V read the same input: their input gradients accumulate into dx.
	w.q.backward(dx, dq, la.in, N)
	w.k.backwardAcc(dx, dk, la.in, N)
	w.v.backwardAcc(dx, dv, la.in, N)
	kernels.Add(dx, dx, dres1) // residual
	return dx
}
