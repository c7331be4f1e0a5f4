package model

import "github.com/vlbert/vlbert/internal/kernels"

// layerForward runs BertLayer l (post-LN) on x [B*L*H]:
//
//	a   = Dropout(Dense(Attention(Q x, K x, V x, mask)))    attention dropout inside
//	h1  = LN(a + x)
//	out = LN(Dropout(Dense2(GELU(Dense1(h1)))) + h1)
func (m *Model) layerForward(l int, x []float32) {
	c := &m.c
	w := &m.core.layers[l]
	la := &c.layers[l]
	B, L, H, I, NH := c.in.B, c.L, m.Cfg.HiddenSize, m.Cfg.IntermediateSize, m.Cfg.NumAttentionHeads
	N := B * L
	a := &m.acts
	la.in = x
	la.dAttn = m.dropout(m.Cfg.AttentionDropout, siteLayerBase+4*l)
	la.dAttnOut = m.dropout(m.Cfg.HiddenDropout, siteLayerBase+4*l+1)
	la.dFF = m.dropout(m.Cfg.HiddenDropout, siteLayerBase+4*l+2)

	la.q, la.k, la.v = a.allocUninit(N*H), a.allocUninit(N*H), a.allocUninit(N*H)
	w.q.forward(la.q, x, N)
	w.k.forward(la.k, x, N)
	w.v.forward(la.v, x, N)
	la.probs, la.ctx = a.allocUninit(B*NH*L*L), a.allocUninit(N*H)
	kernels.AttentionForward(la.ctx, la.probs, la.q, la.k, la.v, c.maskAdd, B, L, H, NH, la.dAttn)
	la.ao = a.allocUninit(N * H)
	w.attnOut.forward(la.ao, la.ctx, N)
	la.aoDrop = la.ao
	if la.dAttnOut.P > 0 {
		la.aoDrop = a.allocUninit(N * H)
		kernels.DropoutForward(la.aoDrop, la.ao, la.dAttnOut)
	}
	la.res1 = a.allocUninit(N * H)
	kernels.Add(la.res1, la.aoDrop, x)
	la.h1, la.mean1, la.rstd1 = a.allocUninit(N*H), a.allocUninit(N), a.allocUninit(N)
	w.ln1.forward(la.h1, la.mean1, la.rstd1, la.res1, N, H)

	la.ff1, la.gelu = a.allocUninit(N*I), a.allocUninit(N*I)
	w.inter.forward(la.ff1, la.h1, N)
	kernels.GELUForward(la.gelu, la.ff1)
	la.ff2 = a.allocUninit(N * H)
	w.out.forward(la.ff2, la.gelu, N)
	la.ff2Drop = la.ff2
	if la.dFF.P > 0 {
		la.ff2Drop = a.allocUninit(N * H)
		kernels.DropoutForward(la.ff2Drop, la.ff2, la.dFF)
	}
	la.res2 = a.allocUninit(N * H)
	kernels.Add(la.res2, la.ff2Drop, la.h1)
	la.out, la.mean2, la.rstd2 = a.allocUninit(N*H), a.allocUninit(N), a.allocUninit(N)
	w.ln2.forward(la.out, la.mean2, la.rstd2, la.res2, N, H)
}

// layerForwardRows is layerForward for an inference that reads one output row per
// sequence, rows[b] (a position in 0..L): keys and values still come from every row,
// but the query, the attention output and the FFN run on the chosen rows only, and
// la.out is [B*H]. Inference only (no dropout, nothing kept for backward).
func (m *Model) layerForwardRows(l int, x []float32, rows []int32) {
	c := &m.c
	w := &m.core.layers[l]
	la := &c.layers[l]
	B, L, H, I, NH := c.in.B, c.L, m.Cfg.HiddenSize, m.Cfg.IntermediateSize, m.Cfg.NumAttentionHeads
	N := B * L
	a := &m.acts
	la.in = x
	la.dAttn, la.dAttnOut, la.dFF = kernels.Dropout{}, kernels.Dropout{}, kernels.Dropout{}

	la.k, la.v = a.allocUninit(N*H), a.allocUninit(N*H)
	w.k.forward(la.k, x, N)
	w.v.forward(la.v, x, N)
	xr := a.allocUninit(B * H)
	for b, p := range rows {
		copy(xr[b*H:(b+1)*H], x[(b*L+int(p))*H:(b*L+int(p)+1)*H])
	}
	la.q = a.allocUninit(B * H)
	w.q.forward(la.q, xr, B)
	la.probs, la.ctx = a.allocUninit(B*NH*L), a.allocUninit(B*H)
	kernels.AttentionRowForward(la.ctx, la.probs, la.q, la.k, la.v, c.maskAdd, B, L, H, NH)
	la.ao = a.allocUninit(B * H)
	w.attnOut.forward(la.ao, la.ctx, B)
	la.aoDrop = la.ao
	la.res1 = a.allocUninit(B * H)
	kernels.Add(la.res1, la.ao, xr)
	la.h1, la.mean1, la.rstd1 = a.allocUninit(B*H), a.allocUninit(B), a.allocUninit(B)
	w.ln1.forward(la.h1, la.mean1, la.rstd1, la.res1, B, H)

	la.ff1, la.gelu = a.allocUninit(B*I), a.allocUninit(B*I)
	w.inter.forward(la.ff1, la.h1, B)
	kernels.GELUForward(la.gelu, la.ff1)
	la.ff2 = a.allocUninit(B * H)
	w.out.forward(la.ff2, la.gelu, B)
	la.ff2Drop = la.ff2
	la.res2 = a.allocUninit(B * H)
	kernels.Add(la.res2, la.ff2, la.h1)
	la.out, la.mean2, la.rstd2 = a.allocUninit(B*H), a.allocUninit(B), a.allocUninit(B)
	w.ln2.forward(la.out, la.mean2, la.rstd2, la.res2, B, H)
}

// layerBackward takes d(out) of layer l and returns d(in) (a fresh buffer from the
// backward arena).
func (m *Model) layerBackward(l int, dout []float32) []float32 {
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
	kernels.GELUBackward(dff1, la.ff1, dgelu)
	dh1 := g.allocUninit(N * H)
	w.inter.backward(dh1, dff1, la.h1, N)
	kernels.Add(dh1, dh1, dres2)

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
