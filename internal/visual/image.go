package visual

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register JPEG
	_ "image/png"  // register PNG
	"io"
)

// Limits on images from outside. An image is rejected from its header (via
// image.DecodeConfig) before any pixel is decoded.
const (
	// MaxImagePixels bounds width·height (100 megapixels; a decoded RGB copy is 3
	// bytes per pixel plus the decoder's own buffer).
	MaxImagePixels = 100_000_000
	// MaxImageBytes bounds the encoded file size read into memory.
	MaxImageBytes = 256 << 20
)

// ErrImageTooLarge is returned (wrapped) for images beyond MaxImagePixels or
// MaxImageBytes.
var ErrImageTooLarge = errors.New("image too large")

// RGBImage is an 8-bit RGB image, row-major, 3 bytes per pixel (Pix [H][W][3]).
type RGBImage struct {
	W, H int
	Pix  []uint8
}

// NewRGBImage allocates a black w x h image.
func NewRGBImage(w, h int) *RGBImage {
	if w <= 0 || h <= 0 {
		panic(fmt.Sprintf("visual: image size %dx%d", w, h))
	}
	return &RGBImage{W: w, H: h, Pix: make([]uint8, w*h*3)}
}

// DecodeImage reads a JPEG or PNG (standard library decoders) and converts it to
// 8-bit RGB the way PIL's convert('RGB') does: grayscale is replicated, alpha is
// dropped (not composited), CMYK uses PIL's formula. The header is checked
// against MaxImagePixels before decoding.
//
// JPEG colour follows libjpeg-turbo's defaults (fancy chroma upsampling, its
// fixed-point YCbCr→RGB), so the only difference from PIL is Go's IDCT, which
// can differ from libjpeg's islow by a level or two on some pixels (mean about
// 0.05). PNG decoding is exact. 16-bit PNGs keep the high byte.
func DecodeImage(r io.Reader) (*RGBImage, error) { return DecodeImageLimit(r, MaxImagePixels) }

// DecodeImageLimit is DecodeImage with a caller-chosen pixel bound (at most
// MaxImagePixels), e.g. for a server that accepts only small uploads.
func DecodeImageLimit(r io.Reader, maxPixels int64) (*RGBImage, error) {
	maxPixels = min(maxPixels, MaxImagePixels)
	data, err := io.ReadAll(io.LimitReader(r, MaxImageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("visual: read image: %w", err)
	}
	if len(data) > MaxImageBytes {
		return nil, fmt.Errorf("visual: image file over %d bytes: %w", MaxImageBytes, ErrImageTooLarge)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("visual: image header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("visual: %s image has size %dx%d", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, fmt.Errorf("visual: %s image is %dx%d, over %d pixels: %w", format, cfg.Width, cfg.Height, maxPixels, ErrImageTooLarge)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("visual: decode %s image: %w", format, err)
	}
	return ToRGB(img), nil
}

// ToRGB converts any image.Image to an RGBImage (see DecodeImage for the rules).
func ToRGB(img image.Image) *RGBImage {
	b := img.Bounds()
	out := NewRGBImage(b.Dx(), b.Dy())
	W := out.W
	switch src := img.(type) {
	case *image.Gray:
		for y := 0; y < out.H; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+W]
			for x, v := range row {
				o := (y*W + x) * 3
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = v, v, v
			}
		}
	case *image.NRGBA:
		for y := 0; y < out.H; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+4*W]
			for x := 0; x < W; x++ {
				o := (y*W + x) * 3
				copy(out.Pix[o:o+3], row[4*x:4*x+3])
			}
		}
	case *image.YCbCr:
		if ycbcrLibjpeg(out, src) {
			break
		}
		for y := 0; y < out.H; y++ {
			for x := 0; x < W; x++ {
				yi := src.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := src.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
				o := (y*W + x) * 3
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = r, g, bl
			}
		}
	case *image.CMYK:
		for y := 0; y < out.H; y++ {
			for x := 0; x < W; x++ {
				i := src.PixOffset(b.Min.X+x, b.Min.Y+y)
				c := src.Pix[i : i+4]
				o := (y*W + x) * 3
				nk := 255 - int(c[3])
				for ch := 0; ch < 3; ch++ {
					out.Pix[o+ch] = uint8(nk - mulDiv255(int(c[ch]), nk))
				}
			}
		}
	default:
		for y := 0; y < out.H; y++ {
			for x := 0; x < W; x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				o := (y*W + x) * 3
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = c.R, c.G, c.B
			}
		}
	}
	return out
}

// mulDiv255 is PIL's rounded a·b/255.
func mulDiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}
