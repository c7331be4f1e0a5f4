package dettrain

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/data/coco"
	"github.com/vlbert/vlbert/internal/detect"
	"github.com/vlbert/vlbert/internal/visual"
)

// Example is one annotated image, decoded.
type Example struct {
	ID      int64
	Image   *visual.RGBImage
	Objects []coco.Object
}

// DataSet is an instances file with its images decoded in memory (the
// synthetic world and small sets; a large set would decode per step).
type DataSet struct {
	Examples       []Example
	ClassNames     []string // by class index, background first
	AttributeNames []string // by attribute index, "no attribute" first
}

// LoadDataSet reads annotations (internal/data/coco) and decodes every image
// (file_name relative to root). Images without objects are kept: they train
// the background.
func LoadDataSet(annotations, root string) (*DataSet, error) {
	d, err := coco.Read(annotations)
	if err != nil {
		return nil, err
	}
	objs := d.Objects()
	ds := &DataSet{ClassNames: d.ClassNames(), AttributeNames: d.AttributeNames()}
	for _, im := range d.Images {
		path := filepath.Join(root, filepath.FromSlash(im.FileName))
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("detector data: %s: image %d: %w", annotations, im.ID, err)
		}
		img, err := visual.DecodeImage(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("detector data: %s: image %d (%s): %w", annotations, im.ID, path, err)
		}
		if img.W != im.Width || img.H != im.Height {
			return nil, fmt.Errorf("detector data: %s: image %d (%s) is %dx%d, the annotations say %dx%d", annotations, im.ID, path, img.W, img.H, im.Width, im.Height)
		}
		ds.Examples = append(ds.Examples, Example{ID: im.ID, Image: img, Objects: objs[im.ID]})
	}
	return ds, nil
}

// flipImage mirrors an image left-right.
func flipImage(img *visual.RGBImage) *visual.RGBImage {
	out := &visual.RGBImage{W: img.W, H: img.H, Pix: make([]uint8, len(img.Pix))}
	for y := 0; y < img.H; y++ {
		for x := 0; x < img.W; x++ {
			copy(out.Pix[(y*img.W+x)*3:(y*img.W+x)*3+3], img.Pix[(y*img.W+img.W-1-x)*3:(y*img.W+img.W-1-x)*3+3])
		}
	}
	return out
}

// prepare preprocesses an example for training (TRAIN.SCALES[scaleIdx],
// MAX_SIZE; flipped as lib/datasets/imdb.py, append_flipped_images: x1' =
// W − x2 − 1, x2' = W − x1 − 1) and scales its boxes by im_scale
// (lib/roi_data_layer/minibatch.py).
func prepare(ex Example, scale, maxSize int, flip bool) (*detect.Image, []GT, error) {
	img := ex.Image
	if flip {
		img = flipImage(img)
	}
	pre, err := detect.Preprocess(img, scale, maxSize)
	if err != nil {
		return nil, nil, fmt.Errorf("detector data: image %d: %w", ex.ID, err)
	}
	s := float32(pre.Scale)
	gts := make([]GT, 0, len(ex.Objects))
	for _, o := range ex.Objects {
		b := o.Box
		if flip {
			w := float32(ex.Image.W)
			b[0], b[2] = w-o.Box[2]-1, w-o.Box[0]-1
		}
		gts = append(gts, GT{Box: detect.Box{b[0] * s, b[1] * s, b[2] * s, b[3] * s}, Class: o.Class, Attrs: o.Attrs})
	}
	return pre, gts, nil
}
