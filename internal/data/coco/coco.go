// Package coco reads COCO-style object detection annotations ("instances"
// JSON: images, annotations with [x, y, width, height] boxes, categories),
// optionally with Visual Genome style attributes: a top-level "attributes"
// list of {id, name} and per annotation "attribute_ids". It is the reader
// the detector's training (internal/detect/dettrain) uses for every data
// set, the synthetic world's included.
//
// What it is not: a COCO evaluation library; segmentation, keypoints and
// captions are ignored.
package coco

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// MaxFileSize bounds the JSON read (512 MiB; COCO train2017's instances are
// about 450 MiB).
const MaxFileSize = 512 << 20

// Image is one entry of "images".
type Image struct {
	ID       int64  `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

// Annotation is one entry of "annotations". BBox is COCO's [x, y, w, h].
type Annotation struct {
	ID           int64      `json:"id"`
	ImageID      int64      `json:"image_id"`
	CategoryID   int        `json:"category_id"`
	BBox         [4]float64 `json:"bbox"`
	Area         float64    `json:"area"`
	IsCrowd      int        `json:"iscrowd"`
	AttributeIDs []int      `json:"attribute_ids,omitempty"`
}

// Category is one entry of "categories" (or of "attributes").
type Category struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// Dataset is a parsed instances file.
type Dataset struct {
	Images      []Image      `json:"images"`
	Annotations []Annotation `json:"annotations"`
	Categories  []Category   `json:"categories"`
	Attributes  []Category   `json:"attributes,omitempty"`
}

// Object is an annotation in the detector's terms: inclusive corners
// (x1, y1, x2, y2) as py-faster-rcnn's datasets/coco.py converts them
// (x2 = x + max(0, w − 1)), Class the contiguous index (1-based in category
// id order; 0 is background) and Attrs the contiguous attribute indices
// (1-based; 0 is "no attribute").
type Object struct {
	Box   [4]float32
	Class int
	Attrs []int
}

// Read parses the instances file at path (at most MaxFileSize bytes).
func Read(path string) (*Dataset, error) {
	b, err := ReadLimited(path)
	if err != nil {
		return nil, fmt.Errorf("coco: %w", err)
	}
	return Parse(path, b)
}

// ReadLimited reads a COCO-style JSON file of at most MaxFileSize bytes; a
// larger one is an error before it is all in memory.
func ReadLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxFileSize)
	}
	return b, nil
}

// Parse decodes and validates an instances file; name labels errors.
func Parse(name string, b []byte) (*Dataset, error) {
	var d Dataset
	if err := json.Unmarshal(b, &d); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("coco: %s: field %q: %w", name, te.Field, err)
		}
		return nil, fmt.Errorf("coco: %s: %w", name, err)
	}
	if err := d.validate(name); err != nil {
		return nil, err
	}
	return &d, nil
}

func (d *Dataset) validate(name string) error {
	if len(d.Categories) == 0 {
		return fmt.Errorf("coco: %s: no categories", name)
	}
	cats := map[int]bool{}
	for i, c := range d.Categories {
		if cats[c.ID] {
			return fmt.Errorf("coco: %s: categories[%d]: duplicate id %d", name, i, c.ID)
		}
		cats[c.ID] = true
	}
	attrs := map[int]bool{}
	for i, a := range d.Attributes {
		if attrs[a.ID] {
			return fmt.Errorf("coco: %s: attributes[%d]: duplicate id %d", name, i, a.ID)
		}
		attrs[a.ID] = true
	}
	images := map[int64]*Image{}
	for i := range d.Images {
		im := &d.Images[i]
		if images[im.ID] != nil {
			return fmt.Errorf("coco: %s: images[%d]: duplicate id %d", name, i, im.ID)
		}
		if im.Width <= 0 || im.Height <= 0 || im.Width > 1<<16 || im.Height > 1<<16 {
			return fmt.Errorf("coco: %s: images[%d] (id %d): size %dx%d outside [1, 65536]", name, i, im.ID, im.Width, im.Height)
		}
		if im.FileName == "" {
			return fmt.Errorf("coco: %s: images[%d] (id %d): empty file_name", name, i, im.ID)
		}
		images[im.ID] = im
	}
	for i, a := range d.Annotations {
		where := fmt.Sprintf("coco: %s: annotations[%d] (id %d)", name, i, a.ID)
		im := images[a.ImageID]
		switch {
		case im == nil:
			return fmt.Errorf("%s: image_id %d is not in images", where, a.ImageID)
		case !cats[a.CategoryID]:
			return fmt.Errorf("%s: category_id %d is not in categories", where, a.CategoryID)
		}
		x, y, w, h := a.BBox[0], a.BBox[1], a.BBox[2], a.BBox[3]
		for _, v := range a.BBox {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s: bbox %v is not finite", where, a.BBox)
			}
		}
		if w <= 0 || h <= 0 || x < 0 || y < 0 || x+w > float64(im.Width)+1 || y+h > float64(im.Height)+1 {
			return fmt.Errorf("%s: bbox %v is empty or outside its %dx%d image", where, a.BBox, im.Width, im.Height)
		}
		for _, at := range a.AttributeIDs {
			if !attrs[at] {
				return fmt.Errorf("%s: attribute id %d is not in attributes", where, at)
			}
		}
	}
	return nil
}

// NumClasses is the detector's class count: the categories plus background.
func (d *Dataset) NumClasses() int { return len(d.Categories) + 1 }

// NumAttributes is the attribute count plus "no attribute".
func (d *Dataset) NumAttributes() int { return len(d.Attributes) + 1 }

// ClassNames lists the category names by contiguous class index
// ("__background__" first).
func (d *Dataset) ClassNames() []string {
	return names("__background__", d.Categories)
}

// AttributeNames lists the attribute names by contiguous index
// ("__no_attribute__" first).
func (d *Dataset) AttributeNames() []string {
	return names("__no_attribute__", d.Attributes)
}

func names(first string, cs []Category) []string {
	s := sorted(cs)
	out := []string{first}
	for _, c := range s {
		out = append(out, c.Name)
	}
	return out
}

func sorted(cs []Category) []Category {
	s := append([]Category(nil), cs...)
	sort.Slice(s, func(i, j int) bool { return s[i].ID < s[j].ID })
	return s
}

func index(cs []Category) map[int]int {
	m := map[int]int{}
	for i, c := range sorted(cs) {
		m[c.ID] = i + 1
	}
	return m
}

// Objects returns each image's non-crowd annotations as detector objects,
// by image id.
func (d *Dataset) Objects() map[int64][]Object {
	ci, ai := index(d.Categories), index(d.Attributes)
	out := map[int64][]Object{}
	for _, a := range d.Annotations {
		if a.IsCrowd != 0 {
			continue
		}
		x1, y1 := a.BBox[0], a.BBox[1]
		o := Object{Box: [4]float32{float32(x1), float32(y1), float32(x1 + math.Max(0, a.BBox[2]-1)), float32(y1 + math.Max(0, a.BBox[3]-1))},
			Class: ci[a.CategoryID]}
		for _, at := range a.AttributeIDs {
			o.Attrs = append(o.Attrs, ai[at])
		}
		out[a.ImageID] = append(out[a.ImageID], o)
	}
	return out
}
