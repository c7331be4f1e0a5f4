package visual

import "image"

// libjpeg's YCbCr→RGB tables (jdcolor.c, SCALEBITS 16), so that decoded JPEGs
// match PIL (which decodes with libjpeg-turbo) as closely as the IDCT allows.
var (
	crR, cbB, crG, cbG [256]int32
)

func init() {
	const scaleBits = 16
	const half = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + half) >> scaleBits
		cbB[i] = (fix(1.77200)*x + half) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + half
	}
}

func clampU8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ycbcrLibjpeg converts a decoded JPEG to RGB the way libjpeg(-turbo) does with
// its defaults: "fancy" (triangular) chroma upsampling for 4:2:0, 4:2:2 and
// 4:4:0, edge rows/columns replicated, then the fixed-point colour transform.
// Other subsampling ratios fall back to replication (libjpeg's int_upsample).
// It returns false for images it does not handle (non-zero origin).
func ycbcrLibjpeg(dst *RGBImage, src *image.YCbCr) bool {
	if src.Rect.Min != (image.Point{}) {
		return false
	}
	W, H := dst.W, dst.H
	var hs, vs int // chroma subsampling factors
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		hs, vs = 1, 2
	default:
		return false
	}
	cw, ch := (W+hs-1)/hs, (H+vs-1)/vs
	cb, cr := make([]uint8, W), make([]uint8, W)
	sumCb, sumCr := make([]int32, cw), make([]int32, cw)
	for y := 0; y < H; y++ {
		cy := y / vs
		// Vertical pass: column sums 3·this + neighbour (rows above for even
		// output rows, below for odd ones), or the plain row without vertical
		// subsampling.
		nb := cy
		if vs == 2 {
			if y%2 == 0 {
				nb = max(cy-1, 0)
			} else {
				nb = min(cy+1, ch-1)
			}
		}
		for cx := 0; cx < cw; cx++ {
			i, j := cy*src.CStride+cx, nb*src.CStride+cx
			if vs == 2 {
				sumCb[cx] = 3*int32(src.Cb[i]) + int32(src.Cb[j])
				sumCr[cx] = 3*int32(src.Cr[i]) + int32(src.Cr[j])
			} else {
				sumCb[cx], sumCr[cx] = int32(src.Cb[i]), int32(src.Cr[i])
			}
		}
		switch {
		case hs == 2 && vs == 2: // h2v2_fancy_upsample
			upsampleH2(cb, sumCb, W, 4, 8, 7)
			upsampleH2(cr, sumCr, W, 4, 8, 7)
		case hs == 2: // h2v1_fancy_upsample
			upsampleH2(cb, sumCb, W, 1, 1, 2)
			upsampleH2(cr, sumCr, W, 1, 1, 2)
		case vs == 2: // h1v2_fancy_upsample
			bias := int32(1)
			if y%2 == 1 {
				bias = 2
			}
			for x := 0; x < W; x++ {
				cb[x] = uint8((sumCb[x] + bias) >> 2)
				cr[x] = uint8((sumCr[x] + bias) >> 2)
			}
		default:
			for x := 0; x < W; x++ {
				cb[x], cr[x] = uint8(sumCb[x]), uint8(sumCr[x])
			}
		}
		yrow := src.Y[y*src.YStride:]
		out := dst.Pix[y*W*3 : (y+1)*W*3]
		for x := 0; x < W; x++ {
			yv := int32(yrow[x])
			out[3*x] = clampU8(yv + crR[cr[x]])
			out[3*x+1] = clampU8(yv + ((cbG[cb[x]] + crG[cr[x]]) >> 16))
			out[3*x+2] = clampU8(yv + cbB[cb[x]])
		}
	}
	return true
}

// upsampleH2 doubles a row of column sums horizontally with libjpeg's triangle
// filter: each output is (3·nearest + next-nearest + bias) >> shift, the edges
// use the nearest sum alone (scaled by edge). For h2v2 (sums of 4 weights):
// edge 4, biases 8 (left) and 7 (right), shift 4. For h2v1: edge 1 (the sample
// itself), biases 1 and 2, shift 2.
func upsampleH2(dst []uint8, sum []int32, W int, edge, biasL, biasR int32) {
	shift := uint(4)
	if edge == 1 {
		shift = 2
	}
	cw := len(sum)
	for x := 0; x < W; x++ {
		cx := x / 2
		var v int32
		if x%2 == 0 {
			if cx == 0 {
				v = sum[0] * edge
				if edge == 4 {
					v = (v + 8) >> 4
				}
			} else {
				v = (3*sum[cx] + sum[cx-1] + biasL) >> shift
			}
		} else {
			if cx == cw-1 {
				v = sum[cx] * edge
				if edge == 4 {
					v = (v + 7) >> 4
				}
			} else {
				v = (3*sum[cx] + sum[cx+1] + biasR) >> shift
			}
		}
		dst[x] = uint8(v)
	}
}
