package visual

import (
	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/parallel"
)

// groupFloats bounds the im2col matrix that convBackward materialises for one
// group of images (32 MiB; a variable for tests).
var groupFloats = 1 << 23

// convBackward is Conv2DBackward (same contract: dinp OVERWRITTEN, dweight
// ACCUMULATED, nil skips) that batches many small images — the RoI head's
// 14x14 maps — into few large products: the output gradient is reordered to
// [K, N·OH·OW] once, and for each group of images whose im2col matrix fits in
// groupFloats, dweight += dY·colᵀ is one product with a depth of the group's
// pixels (instead of one per image with a depth of 196, each reading and
// writing all of dweight) and dcol = Wᵀ·dY one more. One image, or large
// images, take Conv2DBackward's per-image path.
func convBackward(ws *Workspace, dinp, dweight, dout, inp, weight []float32, cv Conv2D, N, H, W int) {
	OH, OW := cv.check(N, H, W)
	ohw := OH * OW
	if dinp != nil && cv.KH > 1 && sameSize(cv) {
		// The input gradient of a stride-1 "same" convolution is itself a
		// convolution (of dout with the flipped, transposed kernel): no
		// im2col matrix and no col2im.
		checkLen("conv dout", len(dout), N*cv.K*ohw)
		checkLen("conv dinp", len(dinp), N*cv.C*H*W)
		checkLen("conv weight", len(weight), cv.WeightSize())
		ws.wflip = grow(ws.wflip, cv.WeightSize())
		flipKernel(ws.wflip, weight, cv)
		cvT := Conv2D{C: cv.K, K: cv.C, KH: cv.KH, KW: cv.KW, Stride: 1, Pad: cv.Pad, Dilation: cv.Dilation}
		convFused(ws, dinp, dout, ws.wflip, nil, nil, nil, false, cvT, N, OH, OW)
		dinp = nil
	}
	if N <= 1 || ohw >= batchedOutput {
		Conv2DBackward(dinp, dweight, dout, inp, weight, ws.colFor(cv, H, W), cv, N, H, W)
		return
	}
	ckk, chw, K := cv.C*cv.KH*cv.KW, cv.C*H*W, cv.K
	checkLen("conv dout", len(dout), N*K*ohw)
	checkLen("conv weight", len(weight), cv.WeightSize())
	if dinp != nil {
		checkLen("conv dinp", len(dinp), N*chw)
	}
	if dweight != nil {
		checkLen("conv inp", len(inp), N*chw)
		checkLen("conv dweight", len(dweight), cv.WeightSize())
	}
	if dinp == nil && dweight == nil {
		return
	}
	ws.dyc = grow(ws.dyc, K*N*ohw)
	toCNHW(ws.dyc, dout, N, K, ohw)
	G := max(1, min(N, groupFloats/(ckk*ohw)))
	ws.colc = grow(ws.colc, ckk*G*ohw)
	for n0 := 0; n0 < N; n0 += G {
		g := min(G, N-n0)
		ld := g * ohw
		dy := ws.dyc[n0*ohw:] // K rows of the group's columns, row stride N·ohw
		col := ws.colc[:ckk*ld]
		if dweight != nil {
			for i := 0; i < g; i++ {
				im2colLD(col[i*ohw:], ld, inp[(n0+i)*chw:(n0+i+1)*chw], cv, H, W, OH, OW)
			}
			gemm.Sgemm(false, true, K, ckk, ld, 1, dy, N*ohw, col, ld, 1, dweight, ckk)
		}
		if dinp != nil {
			gemm.Sgemm(true, false, ckk, ld, K, 1, weight, ckk, dy, N*ohw, 0, col, ld)
			for i := 0; i < g; i++ {
				col2imLD(dinp[(n0+i)*chw:(n0+i+1)*chw], col[i*ohw:], ld, cv, H, W, OH, OW)
			}
		}
	}
}

// toCNHW reorders x [N, C, HW] into dst [C, N·HW].
func toCNHW(dst, x []float32, N, C, HW int) {
	parallel.ForArgs(C, 8, cnhwArgs{dst, x, N, C, HW}, func(a *cnhwArgs, lo, hi int) {
		for c := lo; c < hi; c++ {
			for n := 0; n < a.N; n++ {
				copy(a.dst[(c*a.N+n)*a.HW:(c*a.N+n+1)*a.HW], a.x[(n*a.C+c)*a.HW:(n*a.C+c+1)*a.HW])
			}
		}
	})
}

type cnhwArgs struct {
	dst, x   []float32
	N, C, HW int
}

// reluBNBackward is ReLUBackward followed by BatchNormBackward in one pass:
// dinp[n, c, i] = dout[n, c, i]·scale[c] where the forward output y > 0, else
// 0. dinp may alias dout.
func reluBNBackward(dinp, y, dout, scale []float32, N, C, HW int) {
	checkLen("relu-bn dout", len(dout), N*C*HW)
	checkLen("relu-bn y", len(y), N*C*HW)
	checkLen("relu-bn dinp", len(dinp), N*C*HW)
	parallel.ForArgs(N*C, 8, reluBNArgs{dinp, y, dout, scale, C, HW}, func(a *reluBNArgs, lo, hi int) {
		for p := lo; p < hi; p++ {
			s := a.scale[p%a.C]
			yy, g, d := a.y[p*a.HW:(p+1)*a.HW], a.dout[p*a.HW:(p+1)*a.HW], a.dinp[p*a.HW:(p+1)*a.HW]
			g = g[:len(yy)]
			d = d[:len(yy)]
			for i, v := range yy {
				if v > 0 {
					d[i] = g[i] * s
				} else {
					d[i] = 0
				}
			}
		}
	})
}

type reluBNArgs struct {
	dinp, y, dout, scale []float32
	C, HW                int
}

// sameSize reports a stride-1 convolution whose output has its input's size
// (2·Pad = Dilation·(KH−1), likewise for KW): the ResNet's 3x3 convolutions.
func sameSize(cv Conv2D) bool {
	return cv.Stride == 1 && 2*cv.Pad == cv.Dilation*(cv.KH-1) && 2*cv.Pad == cv.Dilation*(cv.KW-1)
}

// flipKernel sets wt[c, k, kh, kw] = w[k, c, KH−1−kh, KW−1−kw]: the kernel
// whose convolution of dout is the input gradient of a sameSize convolution
// (dx[c, h, w] = Σ dout[k, h+p−kh·d, w+p−kw·d]·w[k, c, kh, kw]).
func flipKernel(wt, w []float32, cv Conv2D) {
	khw := cv.KH * cv.KW
	for k := 0; k < cv.K; k++ {
		for c := 0; c < cv.C; c++ {
			src := w[(k*cv.C+c)*khw : (k*cv.C+c+1)*khw]
			dst := wt[(c*cv.K+k)*khw : (c*cv.K+k+1)*khw]
			for i, v := range src {
				dst[khw-1-i] = v
			}
		}
	}
}
