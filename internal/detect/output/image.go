package output

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/detect"
)

// Image is one image's detections as the writers take them.
type Image struct {
	ID            string // image_id: written as a JSON number when it is an integer
	Name          string // LXMERT's img_id (the file stem); ID when empty
	Width, Height int
	NumBoxes      int
	Boxes         []float32 // [NumBoxes, 4] x1, y1, x2, y2 in original-image pixels
	Features      []float32 // [NumBoxes, D] pool5_flat
	Classes       []float32 // [NumBoxes, C] class probabilities, background first; nil: left out
	Attrs         []float32 // [NumBoxes, A] attribute probabilities, "no attribute" first; nil: left out
}

// rowWidth returns len(v)/n and checks that v holds n rows.
func rowWidth(field string, v []float32, n int) (int, error) {
	if n == 0 {
		if len(v) != 0 {
			return 0, fmt.Errorf("%s has %d values for 0 boxes", field, len(v))
		}
		return 0, nil
	}
	if len(v)%n != 0 {
		return 0, fmt.Errorf("%s has %d values, not a multiple of %d boxes", field, len(v), n)
	}
	return len(v) / n, nil
}

// check validates the sizes before anything is written.
func (im *Image) check() error {
	if im.ID == "" {
		return fmt.Errorf("image without an id")
	}
	if im.Width <= 0 || im.Height <= 0 || im.NumBoxes < 0 {
		return fmt.Errorf("image %s: size %dx%d with %d boxes", im.ID, im.Width, im.Height, im.NumBoxes)
	}
	if len(im.Boxes) != 4*im.NumBoxes {
		return fmt.Errorf("image %s: %d box values for %d boxes", im.ID, len(im.Boxes), im.NumBoxes)
	}
	for _, f := range []struct {
		name string
		v    []float32
	}{{"boxes", im.Boxes}, {"features", im.Features}, {"classes", im.Classes}, {"attrs", im.Attrs}} {
		if _, err := rowWidth(f.name, f.v, im.NumBoxes); err != nil {
			return fmt.Errorf("image %s: %w", im.ID, err)
		}
		for i, x := range f.v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("image %s: %s[%d] = %v", im.ID, f.name, i, x)
			}
		}
	}
	return nil
}

// FromSelection gathers a selection's rows of a detector result into a
// record: the selected boxes, their pool5_flat features, class and attribute
// probabilities (generate_tsv's fields), image size from the photo. ID and
// Name are left to the caller.
func FromSelection(res *detect.Result, sel *detect.Selection) *Image {
	h := res.Head
	F, NC, NA := len(h.Pool5)/max(h.R, 1), len(h.ClsProb)/max(h.R, 1), len(h.AttrProb)/max(h.R, 1)
	n := len(sel.Index)
	rec := &Image{Width: res.Image.OrigW, Height: res.Image.OrigH, NumBoxes: n,
		Boxes: make([]float32, 0, 4*n), Features: make([]float32, 0, F*n),
		Classes: make([]float32, 0, NC*n), Attrs: make([]float32, 0, NA*n)}
	for i, k := range sel.Index {
		rec.Boxes = append(rec.Boxes, sel.Boxes[i][:]...)
		rec.Features = append(rec.Features, h.Pool5[k*F:(k+1)*F]...)
		rec.Classes = append(rec.Classes, h.ClsProb[k*NC:(k+1)*NC]...)
		rec.Attrs = append(rec.Attrs, h.AttrProb[k*NA:(k+1)*NA]...)
	}
	return rec
}
