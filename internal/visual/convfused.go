package visual

import (
	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/parallel"
)

// The forward convolutions run as one GEMM per image (or one for a whole batch
// of small images) without an im2col matrix: convPacker hands the GEMM its
// packed panels of im2col(x) straight from the images (implicit GEMM), and the
// frozen batch norm, residual add and ReLU run in the GEMM's epilogue on each
// block of the output while it is in cache (gemm.Epilogue). A pointwise
// convolution of one image needs no packer at all: its B matrix is the image.

// convPacker packs panels of the im2col matrix of N images x [N, C, H, W]:
//
//	B[(c·KH+kh)·KW+kw][n·OH·OW + oh·OW + ow] = x[n, c, oh·s−p+kh·d, ow·s−p+kw·d]
//
// (zero outside the image), the column order of convFused's batched output.
type convPacker struct {
	x            []float32
	cv           Conv2D
	H, W, OH, OW int
}

// packRun is a run of panel columns inside one output row of one image.
type packRun struct {
	off, n   int // first panel column, length
	base, oh int // x offset of the image, output row
	ow0      int // first output column
}

// PackB implements gemm.BPacker.
func (p *convPacker) PackB(dst []float32, p0, kc, j0, nw, nr int) {
	cv := p.cv
	H, W, OW := p.H, p.W, p.OW
	ohw, chw, hw := p.OH*OW, cv.C*H*W, H*W
	var runs [64]packRun
	nRuns := 0
	for j := j0; j < j0+nw; {
		img, q := j/ohw, j%ohw
		oh, ow := q/OW, q%OW
		n := min(OW-ow, j0+nw-j)
		runs[nRuns] = packRun{off: j - j0, n: n, base: img * chw, oh: oh, ow0: ow}
		nRuns++
		j += n
	}
	// (c, kh, kw) of row p0, then stepped row by row (no divisions per row).
	khkw := cv.KH * cv.KW
	c, kh, kw := p0/khkw, (p0%khkw)/cv.KW, p0%cv.KW
	for pp := 0; pp < kc; pp++ {
		ihOff := kh*cv.Dilation - cv.Pad
		iwOff := kw*cv.Dilation - cv.Pad
		d := dst[pp*nr : pp*nr+nr]
		plane := p.x[c*hw:]
		for _, r := range runs[:nRuns] {
			out := d[r.off : r.off+r.n]
			ih := r.oh*cv.Stride + ihOff
			if ih < 0 || ih >= H {
				clear(out)
				continue
			}
			src := plane[r.base+ih*W : r.base+(ih+1)*W]
			iw0 := r.ow0*cv.Stride + iwOff
			if cv.Stride == 1 {
				lo := min(max(0, -iw0), r.n)
				hi := max(min(r.n, W-iw0), lo)
				clear(out[:lo])
				if hi > lo { // a dilated tap can start past the row's end
					copy(out[lo:hi], src[iw0+lo:iw0+hi])
				}
				clear(out[hi:])
				continue
			}
			if last := iw0 + (r.n-1)*cv.Stride; iw0 >= 0 && last < W {
				src = src[iw0 : last+1]
				for i := range out {
					out[i] = src[i*cv.Stride]
				}
				continue
			}
			for i := range out {
				if iw := iw0 + i*cv.Stride; iw >= 0 && iw < W {
					out[i] = src[iw]
				} else {
					out[i] = 0
				}
			}
		}
		clear(d[nw:])
		if kw++; kw == cv.KW {
			kw = 0
			if kh++; kh == cv.KH {
				kh, c = 0, c+1
			}
		}
	}
}

// batchedOutput is the output size per image below which convFused runs one
// product for all images (the RoI head's 14x14 maps) instead of one per image.
const batchedOutput = 4096

// convFused computes out = act(conv(x, w)·scale[k] + shift[k] + residual) for
// N images x [N, C, H, W] into out [N, K, OH, OW]; act is ReLU when relu is
// set. scale/shift [K] may be nil (1 and 0); residual [N, K, OH, OW] may be nil
// and must not alias out. ws holds the scratch of the batched product; with
// ws nil every image runs its own product.
//
// Rounding is that of Conv2DForward followed by BatchNormForward, the residual
// add and ReLUForward: the GEMM is the same and the epilogue's operations come
// in the same order.
func convFused(ws *Workspace, out, x, w, scale, shift, residual []float32, relu bool, cv Conv2D, N, H, W int) {
	OH, OW := cv.check(N, H, W)
	ckk, ohw, chw := cv.C*cv.KH*cv.KW, OH*OW, cv.C*H*W
	checkLen("conv inp", len(x), N*chw)
	checkLen("conv out", len(out), N*cv.K*ohw)
	checkLen("conv weight", len(w), cv.WeightSize())
	if residual != nil {
		checkLen("conv residual", len(residual), N*cv.K*ohw)
	}
	if N == 0 {
		return
	}
	ep := gemm.Epilogue{RowScale: scale, RowBias: shift, ReLU: relu}
	if N == 1 || ohw >= batchedOutput || ws == nil {
		for n := 0; n < N; n++ {
			xn := x[n*chw : (n+1)*chw]
			yn := out[n*cv.K*ohw : (n+1)*cv.K*ohw]
			if residual != nil {
				ep.Residual, ep.LDR = residual[n*cv.K*ohw:(n+1)*cv.K*ohw], ohw
			}
			if cv.pointwise() {
				gemm.SgemmEpilogue(false, false, cv.K, ohw, ckk, 1, w, ckk, xn, ohw, 0, yn, ohw, &ep)
				continue
			}
			p := &convPacker{x: xn, cv: cv, H: H, W: W, OH: OH, OW: OW}
			gemm.SgemmPacked(false, cv.K, ohw, ckk, 1, w, ckk, p, 0, yn, ohw, &ep)
		}
		return
	}
	// One product over every image: tmp [K, N·OH·OW], then one pass that
	// reorders it to [N, K, OH, OW], adding the residual and the ReLU there when
	// there is a residual (the ReLU must follow the add).
	ws.tmp = grow(ws.tmp, cv.K*N*ohw)
	tmp := ws.tmp
	if residual != nil {
		ep.ReLU = false
	}
	p := &convPacker{x: x, cv: cv, H: H, W: W, OH: OH, OW: OW}
	gemm.SgemmPacked(false, cv.K, N*ohw, ckk, 1, w, ckk, p, 0, tmp, N*ohw, &ep)
	parallel.ForArgs(cv.K, 8, scatterArgs{out, tmp, residual, N, cv.K, ohw, relu && residual != nil}, func(a *scatterArgs, lo, hi int) {
		for k := lo; k < hi; k++ {
			for n := 0; n < a.N; n++ {
				src := a.tmp[(k*a.N+n)*a.ohw : (k*a.N+n+1)*a.ohw]
				o := (n*a.K + k) * a.ohw
				dst := a.out[o : o+a.ohw]
				if a.res == nil {
					copy(dst, src)
					continue
				}
				res := a.res[o : o+a.ohw]
				if a.relu {
					for i, v := range src {
						dst[i] = max(v+res[i], 0)
					}
				} else {
					for i, v := range src {
						dst[i] = v + res[i]
					}
				}
			}
		}
	})
}

type scatterArgs struct {
	out, tmp, res []float32
	N, K, ohw     int
	relu          bool
}
