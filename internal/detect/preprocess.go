package detect

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/visual"
)

// PixelMeansBGR is cfg.PIXEL_MEANS of lib/fast_rcnn/config.py (BGR, 0..255).
var PixelMeansBGR = [3]float32{102.9801, 115.9465, 122.7717}

// Image is one preprocessed image: the network input and im_info.
type Image struct {
	Data       []float32 // [3, H, W], BGR minus PixelMeansBGR, resized
	H, W       int       // resized size (im_info[0], im_info[1])
	Scale      float64   // im_scale (im_info[2] is its float32)
	OrigH      int       // the photo's size
	OrigW      int
	TargetSize int // TEST.SCALES[0]
	MaxSize    int // TEST.MAX_SIZE
}

// ImScale is lib/fast_rcnn/test.py's _get_image_blob choice of scale: the
// short side becomes target unless np.round(scale·long side) would exceed
// maxSize, in which case the long side becomes maxSize.
func ImScale(w, h, target, maxSize int) float64 {
	short, long := float64(min(w, h)), float64(max(w, h))
	s := float64(target) / short
	if math.RoundToEven(s*long) > float64(maxSize) {
		s = float64(maxSize) / long
	}
	return s
}

// Preprocess is _get_image_blob for one scale (TEST.SCALES = (600,),
// TEST.MAX_SIZE = 1000): the image as float32 BGR minus the pixel means,
// resized by ImScale with cv2.resize(…, fx=s, fy=s, INTER_LINEAR).
//
// How cv2.resize INTER_LINEAR on a float32 image is matched (OpenCV
// imgproc/src/resize.cpp, resize and resizeGeneric_ with HResizeLinear /
// VResizeLinear): the output size is cvRound(w·s) x cvRound(h·s) (round half
// to even); the source coordinate of output column dx is
// fx = float((dx + 0.5)/s − 0.5), sx = floor(fx), weights (1 − frac, frac)
// in float32; a coordinate left of the first pixel uses pixel 0 with weight
// 1, one at or past the last pixel uses the last pixel with weight 1 (no
// antialiasing, unlike PIL); rows likewise; the horizontal pass (two
// products and a sum in float32) precedes the vertical one. cv2's SIMD
// loops compute the same products and sums; where a build fuses them into
// FMA the result can differ in the last bit.
func Preprocess(img *visual.RGBImage, target, maxSize int) (*Image, error) {
	return preprocessCV(img, target, maxSize, PixelMeansBGR)
}

func preprocessCV(img *visual.RGBImage, target, maxSize int, means [3]float32) (*Image, error) {
	if img == nil || img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		return nil, fmt.Errorf("detect: preprocess: invalid image")
	}
	if target <= 0 || maxSize < target {
		return nil, fmt.Errorf("detect: preprocess: invalid scales %d/%d", target, maxSize)
	}
	s := ImScale(img.W, img.H, target, maxSize)
	ow, oh := int(math.RoundToEven(float64(img.W)*s)), int(math.RoundToEven(float64(img.H)*s))
	if ow <= 0 || oh <= 0 {
		return nil, fmt.Errorf("detect: preprocess: %dx%d image resizes to %dx%d", img.W, img.H, ow, oh)
	}
	W, H := img.W, img.H
	xofs, xw := linearCoeffs(W, ow, 1/s)
	yofs, yw := linearCoeffs(H, oh, 1/s)
	out := &Image{Data: make([]float32, 3*oh*ow), H: oh, W: ow, Scale: s, OrigH: H, OrigW: W, TargetSize: target, MaxSize: maxSize}
	parallel.For(3, 1, func(lo, hi int) {
		src := make([]float32, W)
		rows := make([]float32, H*ow) // horizontally resized rows
		for c := lo; c < hi; c++ {
			ch := 2 - c // BGR plane c reads RGB channel 2−c
			for y := 0; y < H; y++ {
				for x := 0; x < W; x++ {
					src[x] = float32(img.Pix[(y*W+x)*3+ch]) - means[c]
				}
				dst := rows[y*ow : (y+1)*ow]
				for dx := range dst {
					sx := xofs[dx]
					if sx+1 < W {
						dst[dx] = float32(src[sx]*xw[2*dx]) + float32(src[sx+1]*xw[2*dx+1])
					} else {
						dst[dx] = src[sx] // cv2: past the border only the first tap, weight 1
					}
				}
			}
			plane := out.Data[c*oh*ow : (c+1)*oh*ow]
			for dy := 0; dy < oh; dy++ {
				sy := yofs[dy]
				r0, r1 := rows[sy*ow:(sy+1)*ow], rows[min(sy+1, H-1)*ow:(min(sy+1, H-1)+1)*ow]
				b0, b1 := yw[2*dy], yw[2*dy+1]
				dst := plane[dy*ow : (dy+1)*ow]
				for x := range dst {
					dst[x] = float32(r0[x]*b0) + float32(r1[x]*b1)
				}
			}
		}
	})
	return out, nil
}

// linearCoeffs is cv2's INTER_LINEAR source index and weight pair for each
// of outSize outputs, with inverse scale inv (= 1/fx).
func linearCoeffs(inSize, outSize int, inv float64) (ofs []int, w []float32) {
	ofs, w = make([]int, outSize), make([]float32, 2*outSize)
	for d := range ofs {
		f := float32((float64(d)+0.5)*inv - 0.5)
		s := int(math.Floor(float64(f)))
		f -= float32(s)
		if s < 0 {
			f, s = 0, 0
		}
		if s >= inSize-1 {
			f, s = 0, inSize-1
		}
		ofs[d] = s
		w[2*d], w[2*d+1] = 1-f, f
	}
	return ofs, w
}

// preprocessPIL is the HF demo's processing_image.py: detectron2's
// ResizeShortestEdge size rule (the short side to target, the long side at
// most maxSize, each rounded as int(x + 0.5)), PIL's bilinear resize of the
// 8-bit image (visual.ResizeBilinear is PIL-exact), then BGR minus means.
// Scale is the vertical factor newH/h (the demo scales x and y back
// separately; they differ by the rounding only).
func preprocessPIL(img *visual.RGBImage, target, maxSize int, means [3]float32) (*Image, error) {
	if img == nil || img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		return nil, fmt.Errorf("detect: preprocess: invalid image")
	}
	h, w := float64(img.H), float64(img.W)
	s := float64(target) / min(h, w)
	nh, nw := float64(target), s*w
	if h >= w {
		nh, nw = s*h, float64(target)
	}
	if m := max(nh, nw); m > float64(maxSize) {
		k := float64(maxSize) / m
		nh, nw = nh*k, nw*k
	}
	oh, ow := int(nh+0.5), int(nw+0.5)
	if oh <= 0 || ow <= 0 {
		return nil, fmt.Errorf("detect: preprocess: %dx%d image resizes to %dx%d", img.W, img.H, ow, oh)
	}
	r := img
	if ow != img.W || oh != img.H {
		r = visual.ResizeBilinear(img, ow, oh)
	}
	out := &Image{Data: make([]float32, 3*oh*ow), H: oh, W: ow, Scale: float64(oh) / h, OrigH: img.H, OrigW: img.W, TargetSize: target, MaxSize: maxSize}
	for c := 0; c < 3; c++ {
		plane := out.Data[c*oh*ow : (c+1)*oh*ow]
		for i := range plane {
			plane[i] = float32(r.Pix[i*3+2-c]) - means[c]
		}
	}
	return out, nil
}
