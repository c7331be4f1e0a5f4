// Package report renders inference results as self-contained files for people:
// an HTML attention viewer (inline CSS, JavaScript, PNG and SVG; nothing is
// fetched from the network) and PNG helpers (heatmaps, data URIs) that the demo
// report reuses.
package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
)

// PNGDataURI encodes img as a data:image/png;base64 URI for inline <img> tags.
func PNGDataURI(img image.Image) (string, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("report: encode PNG: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// Heatmap renders values [rows*cols] in [0, 1] (clamped) as an image with
// cell x cell pixels per value, white (0) to dark blue (1).
func Heatmap(values []float32, rows, cols, cell int) *image.RGBA {
	if rows <= 0 || cols <= 0 || cell <= 0 || len(values) != rows*cols {
		panic(fmt.Sprintf("report: Heatmap of %d values as %dx%d, cell %d", len(values), rows, cols, cell))
	}
	img := image.NewRGBA(image.Rect(0, 0, cols*cell, rows*cell))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			col := Blues(values[r*cols+c])
			for y := r * cell; y < (r+1)*cell; y++ {
				for x := c * cell; x < (c+1)*cell; x++ {
					img.SetRGBA(x, y, col)
				}
			}
		}
	}
	return img
}

// Blues maps v in [0, 1] (clamped) to a white-to-dark-blue colour, the same ramp
// the HTML viewer uses.
func Blues(v float32) color.RGBA {
	v = min(max(v, 0), 1)
	lerp := func(a, b float32) uint8 { return uint8(a + (b-a)*v + 0.5) }
	return color.RGBA{lerp(247, 8), lerp(251, 48), lerp(255, 107), 255}
}

// RGB wraps packed 8-bit RGB pixels [h][w][3] (visual.RGBImage's layout) as an
// image for encoding.
func RGB(w, h int, pix []uint8) *image.RGBA {
	if w <= 0 || h <= 0 || len(pix) != w*h*3 {
		panic(fmt.Sprintf("report: RGB of %d bytes as %dx%d", len(pix), w, h))
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = pix[3*i], pix[3*i+1], pix[3*i+2], 255
	}
	return img
}
