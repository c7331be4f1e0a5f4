package visual

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/parallel"
)

// Conv2D describes a 2-D convolution without groups: C input channels, K output
// channels, a KH x KW kernel, the same stride, zero padding and dilation on both
// axes. It is the geometry only; weights are passed to the kernels.
type Conv2D struct {
	C, K     int
	KH, KW   int
	Stride   int
	Pad      int
	Dilation int
}

// OutSize returns the output height and width for an H x W input (PyTorch's
// floor rule: (H + 2·Pad − Dilation·(KH−1) − 1)/Stride + 1).
func (cv Conv2D) OutSize(H, W int) (OH, OW int) {
	OH = (H+2*cv.Pad-cv.Dilation*(cv.KH-1)-1)/cv.Stride + 1
	OW = (W+2*cv.Pad-cv.Dilation*(cv.KW-1)-1)/cv.Stride + 1
	return OH, OW
}

// WeightSize is the number of weights, K·C·KH·KW.
func (cv Conv2D) WeightSize() int { return cv.K * cv.C * cv.KH * cv.KW }

// pointwise reports whether the convolution is a plain matrix product over the
// channel axis (1x1, stride 1, no padding), which needs no im2col buffer.
func (cv Conv2D) pointwise() bool {
	return cv.KH == 1 && cv.KW == 1 && cv.Stride == 1 && cv.Pad == 0
}

// ColSize is the length of the im2col scratch buffer for one H x W image:
// C·KH·KW·OH·OW, or 0 for a pointwise convolution, which needs none.
func (cv Conv2D) ColSize(H, W int) int {
	if cv.pointwise() {
		return 0
	}
	OH, OW := cv.OutSize(H, W)
	return cv.C * cv.KH * cv.KW * OH * OW
}

func (cv Conv2D) check(N, H, W int) (OH, OW int) {
	if cv.C <= 0 || cv.K <= 0 || cv.KH <= 0 || cv.KW <= 0 || cv.Stride <= 0 || cv.Pad < 0 || cv.Dilation <= 0 {
		panic(fmt.Sprintf("visual: invalid convolution %+v", cv))
	}
	if N < 0 || H <= 0 || W <= 0 {
		panic(fmt.Sprintf("visual: invalid convolution input N=%d H=%d W=%d", N, H, W))
	}
	OH, OW = cv.OutSize(H, W)
	if OH <= 0 || OW <= 0 {
		panic(fmt.Sprintf("visual: convolution %+v of a %dx%d input has empty output", cv, H, W))
	}
	return OH, OW
}

func checkLen(name string, got, want int) {
	if got < want {
		panic(fmt.Sprintf("visual: %s has %d elements, want %d", name, got, want))
	}
}

// Conv2DForward computes out = conv(inp, weight) (+ bias) for N images.
//
//	inp    [N, C, H, W]
//	weight [K, C, KH, KW]
//	bias   [K] or nil (nil: no bias, as in the ResNet convolutions)
//	out    [N, K, OH, OW], overwritten
//	col    unused (it was the im2col scratch; kept for callers), may be nil
//
// For each image it computes out_n = weight · im2col(x_n) with one GEMM whose
// B panels are packed straight from the image (no im2col matrix), the bias
// added in the GEMM's epilogue.
func Conv2DForward(out, inp, weight, bias, col []float32, cv Conv2D, N, H, W int) {
	if bias != nil {
		cv.check(N, H, W)
		checkLen("conv bias", len(bias), cv.K)
	}
	convFused(nil, out, inp, weight, nil, bias, nil, false, cv, N, H, W)
}

// Conv2DBackward computes the gradients of Conv2DForward without bias.
//
//	dout    [N, K, OH, OW]
//	inp     [N, C, H, W], the forward input
//	weight  [K, C, KH, KW]
//	dinp    [N, C, H, W], OVERWRITTEN; nil skips it
//	dweight [K, C, KH, KW], ACCUMULATED; nil skips it
//	col     scratch of at least cv.ColSize(H, W) floats, or nil to allocate one
//
// dweight += dout_n · col_nᵀ (im2col recomputed from inp), and
// dinp_n = col2im(weightᵀ · dout_n).
func Conv2DBackward(dinp, dweight, dout, inp, weight, col []float32, cv Conv2D, N, H, W int) {
	OH, OW := cv.check(N, H, W)
	ckk, ohw, chw := cv.C*cv.KH*cv.KW, OH*OW, cv.C*H*W
	checkLen("conv dout", len(dout), N*cv.K*ohw)
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
	if !cv.pointwise() {
		if col == nil {
			col = make([]float32, ckk*ohw)
		}
		checkLen("conv col", len(col), ckk*ohw)
	}
	for n := 0; n < N; n++ {
		dy := dout[n*cv.K*ohw : (n+1)*cv.K*ohw]
		if dweight != nil {
			b := inp[n*chw : (n+1)*chw]
			if !cv.pointwise() {
				im2col(col, b, cv, H, W, OH, OW)
				b = col
			}
			gemm.Sgemm(false, true, cv.K, ckk, ohw, 1, dy, ohw, b, ohw, 1, dweight, ckk)
		}
		if dinp != nil {
			dx := dinp[n*chw : (n+1)*chw]
			if cv.pointwise() {
				gemm.Sgemm(true, false, ckk, ohw, cv.K, 1, weight, ckk, dy, ohw, 0, dx, ohw)
				continue
			}
			gemm.Sgemm(true, false, ckk, ohw, cv.K, 1, weight, ckk, dy, ohw, 0, col, ohw)
			col2im(dx, col, cv, H, W, OH, OW)
		}
	}
}

// im2col writes col[(c·KH+kh)·KW+kw, oh·OW+ow] = x[c, oh·s−p+kh·d, ow·s−p+kw·d]
// (zero outside the image) for one image x [C, H, W].
func im2col(col, x []float32, cv Conv2D, H, W, OH, OW int) {
	im2colLD(col, OH*OW, x, cv, H, W, OH, OW)
}

// im2colLD is im2col into rows that start ld floats apart (ld >= OH·OW): one
// image's columns inside the im2col matrix of several images.
func im2colLD(col []float32, ld int, x []float32, cv Conv2D, H, W, OH, OW int) {
	ohw := OH * OW
	parallel.For(cv.C, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := x[c*H*W : (c+1)*H*W]
			for kh := 0; kh < cv.KH; kh++ {
				for kw := 0; kw < cv.KW; kw++ {
					row := col[((c*cv.KH+kh)*cv.KW+kw)*ld:][:ohw]
					dx := kw*cv.Dilation - cv.Pad
					for oh := 0; oh < OH; oh++ {
						dst := row[oh*OW : (oh+1)*OW]
						ih := oh*cv.Stride - cv.Pad + kh*cv.Dilation
						if ih < 0 || ih >= H {
							clear(dst)
							continue
						}
						src := plane[ih*W : (ih+1)*W]
						if cv.Stride == 1 {
							// Contiguous run: zero the left and right margins, copy the rest.
							lo := max(0, -dx)
							hi := min(OW, W-dx)
							if hi <= lo {
								clear(dst)
								continue
							}
							clear(dst[:lo])
							copy(dst[lo:hi], src[lo+dx:hi+dx])
							clear(dst[hi:])
							continue
						}
						for ow := range dst {
							iw := ow*cv.Stride + dx
							if iw >= 0 && iw < W {
								dst[ow] = src[iw]
							} else {
								dst[ow] = 0
							}
						}
					}
				}
			}
		}
	})
}

// col2im is the adjoint of im2col: dx [C, H, W] is overwritten with the sum of
// every col entry that im2col copied from each pixel. Channels are disjoint, so
// workers never share an output element.
func col2im(dx, col []float32, cv Conv2D, H, W, OH, OW int) {
	col2imLD(dx, col, OH*OW, cv, H, W, OH, OW)
}

// col2imLD is col2im from rows that start ld floats apart (see im2colLD).
func col2imLD(dx, col []float32, ld int, cv Conv2D, H, W, OH, OW int) {
	ohw := OH * OW
	parallel.For(cv.C, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := dx[c*H*W : (c+1)*H*W]
			clear(plane)
			for kh := 0; kh < cv.KH; kh++ {
				for kw := 0; kw < cv.KW; kw++ {
					row := col[((c*cv.KH+kh)*cv.KW+kw)*ld:][:ohw]
					dxo := kw*cv.Dilation - cv.Pad
					for oh := 0; oh < OH; oh++ {
						ih := oh*cv.Stride - cv.Pad + kh*cv.Dilation
						if ih < 0 || ih >= H {
							continue
						}
						src := row[oh*OW : (oh+1)*OW]
						dst := plane[ih*W : (ih+1)*W]
						for ow, v := range src {
							iw := ow*cv.Stride + dxo
							if iw >= 0 && iw < W {
								dst[iw] += v
							}
						}
					}
				}
			}
		}
	})
}
