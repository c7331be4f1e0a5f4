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
