package synth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/data/coco"
	"github.com/vlbert/vlbert/internal/parallel"
)

// Detection labels of the world, for training a detector: object classes are
// the shapes, attributes the colours and sizes (Visual Genome style: a list
// per object), boxes the scenes' tight boxes. WriteDetection stores them as
// COCO-style instances JSON (internal/data/coco reads them back), with each
// scene rendered to a PNG:
//
//	<dir>/images/<split>/<scene id>.png
//	<dir>/instances_<split>.json      (file_name relative to <dir>)

// DetectionAttributes lists the attribute names in id order (ids 1..).
func DetectionAttributes() []string {
	return append(append([]string(nil), Colors...), Sizes...)
}

// Detection returns the instances data set of scenes (split names the
// image directory).
func Detection(split string, scenes []Scene) *coco.Dataset {
	d := &coco.Dataset{Images: []coco.Image{}, Annotations: []coco.Annotation{}}
	for i, s := range Shapes {
		d.Categories = append(d.Categories, coco.Category{ID: i + 1, Name: s})
	}
	for i, a := range DetectionAttributes() {
		d.Attributes = append(d.Attributes, coco.Category{ID: i + 1, Name: a})
	}
	id := int64(1)
	for _, s := range scenes {
		d.Images = append(d.Images, coco.Image{ID: int64(s.ID), FileName: filepath.ToSlash(filepath.Join("images", split, fmt.Sprintf("%d.png", s.ID))), Width: s.Width, Height: s.Height})
		for _, o := range s.Objects {
			w, h := float64(o.Box[2]-o.Box[0]+1), float64(o.Box[3]-o.Box[1]+1)
			d.Annotations = append(d.Annotations, coco.Annotation{
				ID: id, ImageID: int64(s.ID), CategoryID: o.Shape + 1,
				BBox: [4]float64{float64(o.Box[0]), float64(o.Box[1]), w, h}, Area: w * h,
				AttributeIDs: []int{o.Color + 1, len(Colors) + o.Size + 1},
			})
			id++
		}
	}
	return d
}

// WriteDetection writes the world's detection data set under dir: the images
// on all cores, then instances_train.json / instances_val.json atomically
// (an instances file names only images written before it).
func WriteDetection(w *World, dir string) error {
	for _, sp := range []struct {
		name   string
		scenes []Scene
	}{{"train", w.Train}, {"val", w.Val}} {
		if err := os.MkdirAll(filepath.Join(dir, "images", sp.name), 0o755); err != nil {
			return fmt.Errorf("synth: detection: %w", err)
		}
		errs := make([]error, len(sp.scenes))
		parallel.For(len(sp.scenes), 8, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				s := sp.scenes[i]
				var b bytes.Buffer
				err := png.Encode(&b, Render(s))
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, "images", sp.name, fmt.Sprintf("%d.png", s.ID)), b.Bytes(), 0o644)
				}
				if err != nil {
					errs[i] = fmt.Errorf("synth: detection: scene %d: %w", s.ID, err)
				}
			}
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
		d := Detection(sp.name, sp.scenes)
		path := filepath.Join(dir, "instances_"+sp.name+".json")
		if err := atomicfile.WriteFile(path, func(f io.Writer) error { return json.NewEncoder(f).Encode(d) }); err != nil {
			return fmt.Errorf("synth: detection: %w", err)
		}
	}
	return nil
}
