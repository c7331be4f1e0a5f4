package visual

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/quant"
)

// Opt-in int8 inference for the convolutions (QuantizeInt8), built on
// internal/quant: every convolution becomes a quant.Linear over its im2col
// rows (one row per output pixel, C·KH·KW features), with the frozen batch
// norm folded into the weights before quantization (w·scale per output
// channel, shift as the bias), int8 weights per output channel and 7-bit
// activations per row (per output pixel, quantized on the fly). The residual
// add and the ReLU follow in the pass that reorders the pixel-major result
// back to NCHW. The error is that of the rounding, about 1e-2 relative per
// product; tests compare the RoI features with float32's on a photograph.

// int8Pixels is the number of output pixels whose im2col rows one quant
// product takes (bounded scratch: 512·C·KH·KW floats).
const int8Pixels = 512

// QuantizeInt8 switches the network to inference mode with int8
// convolutions (see above). It quantizes the current weights: quantize again
// after loading others. SetInference(false) drops the int8 weights.
func (n *Network) QuantizeInt8() error {
	q := map[*Param]*quant.Linear{}
	add := func(w *Param, bn bnParams, cv Conv2D) error {
		scale, shift := make([]float32, cv.K), make([]float32, cv.K)
		bn.frozen().ScaleShift(scale, shift)
		ckk := cv.C * cv.KH * cv.KW
		folded := make([]float32, cv.K*ckk)
		for k := 0; k < cv.K; k++ {
			for i, v := range w.Data[k*ckk : (k+1)*ckk] {
				folded[k*ckk+i] = v * scale[k]
			}
		}
		l, err := quant.NewLinear(folded, shift, cv.K, ckk)
		if err != nil {
			return fmt.Errorf("visual: int8 %s: %w", w.Name, err)
		}
		q[w] = l
		return nil
	}
	if err := add(n.W1, n.BN1, n.Conv1); err != nil {
		return err
	}
	blocks := slices2(n.Layers[0], n.Layers[1], n.Layers[2], n.Head)
	for _, b := range blocks {
		for _, c := range []struct {
			w  *Param
			bn bnParams
			cv Conv2D
		}{{b.W1, b.BN1, b.Conv1}, {b.W2, b.BN2, b.Conv2}, {b.W3, b.BN3, b.Conv3}} {
			if err := add(c.w, c.bn, c.cv); err != nil {
				return err
			}
		}
		if b.HasDown {
			if err := add(b.WDown, b.BNDown, b.Down); err != nil {
				return err
			}
		}
	}
	n.SetInference(true)
	n.ws.int8 = q
	return nil
}

// Int8 reports whether the convolutions run in int8 (QuantizeInt8).
func (n *Network) Int8() bool { return n.ws.int8 != nil }

func slices2(groups ...[]*Bottleneck) []*Bottleneck {
	var all []*Bottleneck
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

// convInt8 is convFused with the int8 layer ql (BN folded in): out = act(
// ql(im2col rows of x) + residual).
func convInt8(ws *Workspace, out, x []float32, ql *quant.Linear, residual []float32, relu bool, cv Conv2D, N, H, W int) {
	OH, OW := cv.check(N, H, W)
	ckk, ohw, chw, K := cv.C*cv.KH*cv.KW, OH*OW, cv.C*H*W, cv.K
	checkLen("conv inp", len(x), N*chw)
	checkLen("conv out", len(out), N*K*ohw)
	for n := 0; n < N; n++ {
		col := x[n*chw : (n+1)*chw]
		if !cv.pointwise() {
			ws.col = grow(ws.col, ckk*ohw)
			im2col(ws.col, col, cv, H, W, OH, OW)
			col = ws.col
		}
		yn := out[n*K*ohw : (n+1)*K*ohw]
		var rn []float32
		if residual != nil {
			rn = residual[n*K*ohw : (n+1)*K*ohw]
		}
		for p0 := 0; p0 < ohw; p0 += int8Pixels {
			P := min(int8Pixels, ohw-p0)
			ws.rows = grow(ws.rows, P*ckk)
			ws.yrows = grow(ws.yrows, P*K)
			transpose(ws.rows, ckk, col[p0:], ohw, ckk, P)
			ql.Forward(ws.yrows, ws.rows, P)
			transpose(yn[p0:], ohw, ws.yrows, K, P, K)
			if rn != nil || relu {
				parallel.ForArgs(K, 16, int8OutArgs{yn, rn, ohw, p0, P, relu}, func(a *int8OutArgs, lo, hi int) {
					for k := lo; k < hi; k++ {
						dst := a.out[k*a.ohw+a.p0 : k*a.ohw+a.p0+a.P]
						if a.res != nil {
							res := a.res[k*a.ohw+a.p0 : k*a.ohw+a.p0+a.P]
							for i, v := range res {
								dst[i] += v
							}
						}
						if a.relu {
							for i, v := range dst {
								dst[i] = max(v, 0)
							}
						}
					}
				})
			}
		}
	}
}

type int8OutArgs struct {
	out, res   []float32
	ohw, p0, P int
	relu       bool
}

// transposeTile is the side of the square tiles transpose moves at a time
// (two 1 KiB tiles stay in L1).
const transposeTile = 16

// transpose sets dst[c·ldd + r] = src[r·lds + c] for r < rows, c < cols, in
// transposeTile x transposeTile tiles (a row-by-row loop writes one cache
// line per element), split over workers by column tiles.
func transpose(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	tiles := (cols + transposeTile - 1) / transposeTile
	parallel.ForArgs(tiles, 1, transposeArgs{dst, src, ldd, lds, rows, cols}, func(a *transposeArgs, lo, hi int) {
		for c0 := lo * transposeTile; c0 < min(hi*transposeTile, a.cols); c0 += transposeTile {
			c1 := min(c0+transposeTile, a.cols)
			for r0 := 0; r0 < a.rows; r0 += transposeTile {
				r1 := min(r0+transposeTile, a.rows)
				if a.ldd%256 == 0 {
					// dst rows a multiple of 1 KiB apart share L1 sets: write
					// them one at a time, reading src down its columns.
					for c := c0; c < c1; c++ {
						drow := a.dst[c*a.ldd+r0 : c*a.ldd+r1]
						for i := range drow {
							drow[i] = a.src[(r0+i)*a.lds+c]
						}
					}
					continue
				}
				for r := r0; r < r1; r++ {
					srow := a.src[r*a.lds+c0 : r*a.lds+c1]
					for i, v := range srow {
						a.dst[(c0+i)*a.ldd+r] = v
					}
				}
			}
		}
	})
}

type transposeArgs struct {
	dst, src   []float32
	ldd, lds   int
	rows, cols int
}
