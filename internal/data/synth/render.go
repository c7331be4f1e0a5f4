package synth

import (
	"image"
	"image/color"
	"math"
)

// background is the plain grey the shapes are drawn on.
var background = color.RGBA{200, 200, 200, 255}

// Render draws the scene. Later objects are drawn over earlier ones.
func Render(s Scene) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, s.Width, s.Height))
	for i := range img.Pix {
		img.Pix[i] = []uint8{background.R, background.G, background.B, 255}[i%4]
	}
	for _, o := range s.Objects {
		rgb := colorRGB[o.Color]
		c := color.RGBA{rgb[0], rgb[1], rgb[2], 255}
		for y := int(o.Box[1]); y <= int(o.Box[3]); y++ {
			for x := int(o.Box[0]); x <= int(o.Box[2]); x++ {
				if Inside(o, float32(x)+0.5, float32(y)+0.5) {
					img.SetRGBA(x, y, c)
				}
			}
		}
	}
	return img
}

// Inside reports whether the point (x, y) lies in the object's shape.
func Inside(o Object, x, y float32) bool {
	x1, y1, x2, y2 := o.Box[0], o.Box[1], o.Box[2]+1, o.Box[3]+1
	if x < x1 || x > x2 || y < y1 || y > y2 {
		return false
	}
	// Normalised coordinates in [-1, 1] around the box centre.
	u := 2*(x-x1)/(x2-x1) - 1
	v := 2*(y-y1)/(y2-y1) - 1
	switch Shapes[o.Shape] {
	case "circle":
		return u*u+v*v <= 1
	case "square":
		return true
	case "triangle": // apex at the top, base at the bottom
		return v >= -1 && math.Abs(float64(u)) <= float64(v+1)/2
	case "diamond":
		return math.Abs(float64(u))+math.Abs(float64(v)) <= 1
	}
	return false
}

// Polygon outlines the object's shape in image pixels (for VCR-style segmentation
// metadata): a list of [x, y] vertices.
func Polygon(o Object) [][2]float32 {
	x1, y1, x2, y2 := o.Box[0], o.Box[1], o.Box[2]+1, o.Box[3]+1
	cx, cy := (x1+x2)/2, (y1+y2)/2
	switch Shapes[o.Shape] {
	case "circle":
		pts := make([][2]float32, 16)
		for i := range pts {
			a := 2 * math.Pi * float64(i) / 16
			pts[i] = [2]float32{cx + (x2-x1)/2*float32(math.Cos(a)), cy + (y2-y1)/2*float32(math.Sin(a))}
		}
		return pts
	case "triangle":
		return [][2]float32{{cx, y1}, {x2, y2}, {x1, y2}}
	case "diamond":
		return [][2]float32{{cx, y1}, {x2, cy}, {cx, y2}, {x1, cy}}
	}
	return [][2]float32{{x1, y1}, {x2, y1}, {x2, y2}, {x1, y2}}
}
