package detect

import (
	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/parallel"
)

// The res5 head runs on many small (14x14) maps, one per RoI. In NCHW a
// convolution is one small product per RoI (N = 196 columns), which spends
// its time re-packing the weights; the head therefore keeps its activations
// channel-major, [C, R, H, W], so that each convolution is one product over
// all RoIs of a chunk (N = R·196): a 1x1 convolution multiplies the weights
// straight into the activations, a 3x3 one goes through an im2col of the
// whole chunk. The arithmetic per output element is the same.

// forwardCN runs the convolution (+ bias, + residual [K, R, OH, OW] when
// not nil, then ReLU when relu) on x [C, R, H, W] into out [K, R, OH, OW],
// the bias, residual and ReLU in the GEMM's epilogue. Only stride 1 (all of
// res5) is supported.
func (c *conv) forwardCN(ws *buffers, out, x, residual []float32, relu bool, R, H, W int) (OH, OW int) {
	cv := c.cv
	if cv.Stride != 1 {
		panic("detect: channel-major convolution with stride != 1")
	}
	OH, OW = cv.OutSize(H, W)
	n := R * OH * OW
	b := x
	ckk := cv.C * cv.KH * cv.KW
	if cv.KH != 1 || cv.KW != 1 || cv.Pad != 0 {
		ws.col = grow(ws.col, ckk*n)
		im2colCN(ws.col, x, cv.C, R, H, W, cv.KH, cv.KW, cv.Pad, cv.Dilation, OH, OW)
		b = ws.col
	}
	ep := gemm.Epilogue{RowBias: c.b, ReLU: relu}
	if residual != nil {
		ep.Residual, ep.LDR = residual[:cv.K*n], n
	}
	gemm.SgemmEpilogue(false, false, cv.K, n, ckk, 1, c.w, ckk, b[:ckk*n], n, 0, out[:cv.K*n], n, &ep)
	return OH, OW
}

// im2colCN writes col[(c·KH+kh)·KW+kw, (r·OH+oh)·OW+ow] =
// x[c, r, oh−pad+kh·dil, ow−pad+kw·dil] (zero outside the map), stride 1.
func im2colCN(col, x []float32, C, R, H, W, KH, KW, pad, dil, OH, OW int) {
	n := R * OH * OW
	parallel.For(C*KH*KW, 4, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			c, k := row/(KH*KW), row%(KH*KW)
			kh, kw := k/KW, k%KW
			dst := col[row*n : (row+1)*n]
			dx := kw*dil - pad
			xlo, xhi := max(0, -dx), min(OW, W-dx)
			for r := 0; r < R; r++ {
				plane := x[(c*R+r)*H*W : (c*R+r+1)*H*W]
				for oh := 0; oh < OH; oh++ {
					d := dst[(r*OH+oh)*OW : (r*OH+oh+1)*OW]
					ih := oh - pad + kh*dil
					if ih < 0 || ih >= H || xhi <= xlo {
						clear(d)
						continue
					}
					src := plane[ih*W : (ih+1)*W]
					clear(d[:xlo])
					copy(d[xlo:xhi], src[xlo+dx:xhi+dx])
					clear(d[xhi:])
				}
			}
		}
	})
}

// forwardCN runs the bottleneck on channel-major x [C, R, H, W] into out.
func (b *block) forwardCN(ws *buffers, out, x []float32, R, H, W int) (OH, OW int) {
	ws.t1 = grow(ws.t1, b.branch2a.cv.K*R*H*W)
	h1, w1 := b.branch2a.forwardCN(ws, ws.t1, x, nil, true, R, H, W)
	OH, OW = b.b2b.cv.OutSize(h1, w1)
	ws.t2 = grow(ws.t2, b.b2b.cv.K*R*OH*OW)
	b.b2b.forwardCN(ws, ws.t2, ws.t1, nil, true, R, h1, w1)
	size := b.b2c.cv.K * R * OH * OW
	shortcut := x
	if b.branch1 != nil {
		ws.sc = grow(ws.sc, size)
		b.branch1.forwardCN(ws, ws.sc, x, nil, false, R, H, W)
		shortcut = ws.sc
	}
	b.b2c.forwardCN(ws, out, ws.t2, shortcut[:size], true, R, OH, OW)
	return OH, OW
}
