package visual

import (
	"fmt"
	"io"
	"math"
)

// PixelMeansBGR are the Caffe ImageNet means the original subtracts
// (NETWORK.PIXEL_MEANS, BGR order, pixel scale 0..255; PIXEL_STDS are 1).
var PixelMeansBGR = [3]float32{102.9801, 115.9465, 122.7717}

// Transform is the original's image transform: Resize(MinSize, MaxSize), an
// optional horizontal flip, ToTensor, Normalize(to_bgr255).
type Transform struct {
	MinSize, MaxSize int  // SCALES: 600/1000 (VCR: 600/1200)
	Flip             bool // the flip decision (drawn by the caller with FLIP_PROB)
}

// DefaultTransform is SCALES (600, 1000) without flip; VCR uses MaxSize 1200.
func DefaultTransform() Transform { return Transform{MinSize: 600, MaxSize: 1000} }

// Prepared is one preprocessed image.
type Prepared struct {
	Image []float32 // [3, H, W], BGR·255 minus PixelMeansBGR
	W, H  int
	// ImInfo is [w_resized, h_resized, scale_x, scale_y] (the dataset appends its
	// index where the original does).
	ImInfo [4]float32
	// Boxes [R, 4] (x1, y1, x2, y2): scaled, flipped, then clamped to
	// [0, W−1] x [0, H−1], as the datasets do after the transform.
	Boxes []float32
}

// Preprocess applies the transform to img and boxes [R, 4] given in original
// image pixels. Boxes must be finite; coordinates outside the image are clamped
// (after scaling and flipping), so a box wholly outside becomes a degenerate box
// on the border, as in the original.
func Preprocess(img *RGBImage, boxes []float32, tr Transform) (*Prepared, error) {
	if img == nil || img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		return nil, fmt.Errorf("visual: preprocess: invalid image")
	}
	out, err := prepareGeometry(img.W, img.H, boxes, tr)
	if err != nil {
		return nil, err
	}
	resized := img
	if out.W != img.W || out.H != img.H {
		resized = ResizeBilinear(img, out.W, out.H)
	}
	out.Image = normalize(resized, tr.Flip)
	return out, nil
}

// PreprocessBlank is Preprocess for an image that could not be loaded: like the
// original datasets (transform with image=None, then a zero tensor), the boxes
// are transformed for a w x h image and the image is all zeros (the mean colour)
// at the resized size.
func PreprocessBlank(w, h int, boxes []float32, tr Transform) (*Prepared, error) {
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxImagePixels {
		return nil, fmt.Errorf("visual: preprocess: invalid image size %dx%d", w, h)
	}
	out, err := prepareGeometry(w, h, boxes, tr)
	if err != nil {
		return nil, err
	}
	out.Image = make([]float32, 3*out.W*out.H)
	return out, nil
}

// prepareGeometry computes the resized size, im_info and the transformed,
// clamped boxes (scale in float32 like the original's in-place tensor ops, flip
// about the resized width, clamp to [0, W−1] x [0, H−1]).
func prepareGeometry(w, h int, boxes []float32, tr Transform) (*Prepared, error) {
	if tr.MinSize <= 0 || (tr.MaxSize > 0 && tr.MaxSize < tr.MinSize) {
		return nil, fmt.Errorf("visual: preprocess: invalid scales %d/%d", tr.MinSize, tr.MaxSize)
	}
	if len(boxes)%4 != 0 {
		return nil, fmt.Errorf("visual: preprocess: %d box coordinates, not a multiple of 4", len(boxes))
	}
	for i, v := range boxes {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("visual: preprocess: box %d has non-finite coordinate %g", i/4, v)
		}
	}
	ow, oh := ResizeSize(w, h, tr.MinSize, tr.MaxSize)
	if ow <= 0 || oh <= 0 || int64(ow)*int64(oh) > MaxImagePixels {
		return nil, fmt.Errorf("visual: preprocess: %dx%d image resizes to %dx%d", w, h, ow, oh)
	}
	sx := float32(ow) / float32(w) // float32 like the original's im_info tensor
	sy := float32(oh) / float32(h)
	out := &Prepared{W: ow, H: oh, ImInfo: [4]float32{float32(ow), float32(oh), sx, sy}}
	out.Boxes = make([]float32, len(boxes))
	for r := 0; r < len(boxes)/4; r++ {
		b := boxes[r*4 : r*4+4]
		x1, y1, x2, y2 := b[0]*sx, b[1]*sy, b[2]*sx, b[3]*sy
		if tr.Flip {
			fw := float32(ow)
			x1, x2 = fw-1-x2, fw-1-x1
		}
		o := out.Boxes[r*4 : r*4+4]
		o[0] = clampf(x1, 0, float32(ow-1))
		o[1] = clampf(y1, 0, float32(oh-1))
		o[2] = clampf(x2, 0, float32(ow-1))
		o[3] = clampf(y2, 0, float32(oh-1))
	}
	return out, nil
}

func clampf(v, lo, hi float32) float32 { return min(max(v, lo), hi) }

// normalize converts RGB bytes to the network input [3, H, W]: ToTensor (/255),
// to BGR ×255, minus the means, mirroring columns when flip is set. The /255
// then ×255 round trip is kept in float32 to match the original bit for bit.
func normalize(img *RGBImage, flip bool) []float32 {
	H, W := img.H, img.W
	out := make([]float32, 3*H*W)
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			sx := x
			if flip {
				sx = W - 1 - x
			}
			p := img.Pix[(y*W+sx)*3 : (y*W+sx)*3+3]
			for c := 0; c < 3; c++ { // c is the BGR channel
				v := float32(float32(p[2-c])/255) * 255
				out[(c*H+y)*W+x] = v - PixelMeansBGR[c]
			}
		}
	}
	return out
}

// DecodeAndPreprocess decodes an image (DecodeImage) and preprocesses it.
func DecodeAndPreprocess(r io.Reader, boxes []float32, tr Transform) (*Prepared, error) {
	img, err := DecodeImage(r)
	if err != nil {
		return nil, err
	}
	return Preprocess(img, boxes, tr)
}

// MaskPixels zeroes (= the mean colour, after normalisation) the region
// [:, int(y1):int(y2)+1, int(x1):int(x2)+1] of image [3, H, W], as the
// pretraining dataset does for every masked RoI (MASK_RAW_PIXELS). box is
// (x1, y1, x2, y2), already clamped into the image; the slice bounds are clipped
// like Python's.
func MaskPixels(image []float32, H, W int, box []float32) {
	checkLen("mask image", len(image), 3*H*W)
	checkLen("mask box", len(box), 4)
	x0, y0 := pyIndex(box[0], W), pyIndex(box[1], H)
	x1, y1 := pyIndex(box[2]+1, W), pyIndex(box[3]+1, H)
	if x1 <= x0 || y1 <= y0 {
		return
	}
	for c := 0; c < 3; c++ {
		for y := y0; y < y1; y++ {
			clear(image[(c*H+y)*W+x0 : (c*H+y)*W+x1])
		}
	}
}

// pyIndex truncates v toward zero (Python int()) and clips it into [0, n] as a
// slice bound. Negative bounds count from the end in Python; clamped boxes never
// produce them, so they clip to 0 here.
func pyIndex(v float32, n int) int {
	if v != v {
		return 0
	}
	v = min(max(v, -1), float32(n)) // keep int() in range
	return min(max(int(v), 0), n)   // int() truncates toward zero, like Python's
}

// PadBatch stacks images into one batch [N, 3, H, W] zero-padded at the bottom
// and right to the largest height and width, as the original collate does (zero
// after normalisation is the mean colour). dst is reused when large enough.
func PadBatch(dst []float32, images []*Prepared) (batch []float32, H, W int) {
	for _, p := range images {
		H, W = max(H, p.H), max(W, p.W)
	}
	batch = grow(dst, len(images)*3*H*W)
	clear(batch)
	for n, p := range images {
		for c := 0; c < 3; c++ {
			for y := 0; y < p.H; y++ {
				copy(batch[((n*3+c)*H+y)*W:][:p.W], p.Image[(c*p.H+y)*p.W:][:p.W])
			}
		}
	}
	return batch, H, W
}

// RoIs builds the RoIAlign input [R, 5] = (batch index, x1, y1, x2, y2) from
// per-image boxes (Prepared.Boxes) in batch order.
func RoIs(images []*Prepared) []float32 {
	var rois []float32
	for n, p := range images {
		for r := 0; r < len(p.Boxes)/4; r++ {
			rois = append(rois, float32(n))
			rois = append(rois, p.Boxes[r*4:r*4+4]...)
		}
	}
	return rois
}
