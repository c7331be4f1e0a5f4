package visual

import (
	"fmt"
	"math"
)

// ResizeSize is maskrcnn-benchmark's get_size as used by the original's Resize
// transform: scale the short side to minSize unless that makes the long side
// exceed maxSize, in which case the short side becomes
// int(maxSize·short/long) (float64, as Python floats). The other side is
// int(size·long/short) in float32. It returns the output width and height.
func ResizeSize(w, h, minSize, maxSize int) (ow, oh int) {
	size := minSize
	if maxSize > 0 {
		minOrig := float64(min(w, h))
		maxOrig := float64(max(w, h))
		if maxOrig/minOrig*float64(size) > float64(maxSize) {
			size = int(float64(maxSize) * minOrig / maxOrig)
		}
	}
	if (w <= h && w == size) || (h <= w && h == size) {
		return w, h
	}
	// The original's w and h are float32 tensor elements (im_info), so this
	// quotient is float32 arithmetic.
	if w < h {
		return size, int(float32(size) * float32(h) / float32(w))
	}
	return int(float32(size) * float32(w) / float32(h)), size
}

// pilPrecision is PIL's fixed-point precision for 8-bit resampling (32−8−2 bits).
const pilPrecision = 22

// resampleCoeffs reproduces PIL's precompute_coeffs for the bilinear (triangle)
// filter with antialiasing (support grows with the downscale factor), followed by
// normalize_coeffs_8bpc. For each output index it returns the first input index
// and the fixed-point weights.
func resampleCoeffs(inSize, outSize int) (bounds []int, ksize int, kk []int32) {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support := 1.0 * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	kk = make([]int32, outSize*ksize)
	pre := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterscale
		xmin := int(center - support + 0.5) // C's (int) truncates toward zero
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		var ww float64
		for x := 0; x < xmax; x++ {
			t := math.Abs((float64(x+xmin) - center + 0.5) * ss)
			w := 0.0
			if t < 1 {
				w = 1 - t
			}
			pre[x] = w
			ww += w
		}
		for x := 0; x < xmax; x++ {
			v := pre[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				kk[xx*ksize+x] = int32(-0.5 + v*(1<<pilPrecision))
			} else {
				kk[xx*ksize+x] = int32(0.5 + v*(1<<pilPrecision))
			}
		}
		bounds[2*xx], bounds[2*xx+1] = xmin, xmax
	}
	return bounds, ksize, kk
}

func clip8(v int) uint8 {
	if v >= 1<<pilPrecision<<8 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> pilPrecision)
}

// ResizeBilinear resizes like PIL's Image.resize(size, BILINEAR), which the
// original's torchvision Resize calls on PIL images: a separable triangle filter
// whose support widens when downscaling (antialiasing), 8-bit fixed-point
// weights, the horizontal pass first and rounding to 8 bits between passes.
// An axis whose size does not change is not resampled.
func ResizeBilinear(img *RGBImage, ow, oh int) *RGBImage {
	if ow <= 0 || oh <= 0 {
		panic(fmt.Sprintf("visual: resize to %dx%d", ow, oh))
	}
	src := img
	if ow != img.W {
		bounds, ksize, kk := resampleCoeffs(img.W, ow)
		tmp := NewRGBImage(ow, img.H)
		for y := 0; y < img.H; y++ {
			in := img.Pix[y*img.W*3 : (y+1)*img.W*3]
			out := tmp.Pix[y*ow*3 : (y+1)*ow*3]
			for xx := 0; xx < ow; xx++ {
				xmin, n := bounds[2*xx], bounds[2*xx+1]
				k := kk[xx*ksize : xx*ksize+n]
				for c := 0; c < 3; c++ {
					ss := 1 << (pilPrecision - 1)
					for x, kv := range k {
						ss += int(in[(x+xmin)*3+c]) * int(kv)
					}
					out[xx*3+c] = clip8(ss)
				}
			}
		}
		src = tmp
	}
	if oh != img.H {
		bounds, ksize, kk := resampleCoeffs(img.H, oh)
		dst := NewRGBImage(src.W, oh)
		rowLen := src.W * 3
		for yy := 0; yy < oh; yy++ {
			ymin, n := bounds[2*yy], bounds[2*yy+1]
			k := kk[yy*ksize : yy*ksize+n]
			out := dst.Pix[yy*rowLen : (yy+1)*rowLen]
			for i := range out {
				ss := 1 << (pilPrecision - 1)
				for y, kv := range k {
					ss += int(src.Pix[(y+ymin)*rowLen+i]) * int(kv)
				}
				out[i] = clip8(ss)
			}
		}
		src = dst
	}
	if src == img {
		cp := *img
		cp.Pix = append([]uint8(nil), img.Pix...)
		return &cp
	}
	return src
}
