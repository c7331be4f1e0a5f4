package infer

import (
	"context"
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
)

// Regions are one image's regions in original-image pixels, without the
// whole-image box (the pipeline adds it as the datasets do).
type Regions struct {
	ImageW, ImageH int
	Boxes          []float32 // [N*4] x1, y1, x2, y2
	Features       []float32 // [N*F], F the model's NETWORK.IMAGE_FEAT_DIM (2048 by default)
	// ImageBoxFeature is the whole-image feature [F]; nil means the mean of
	// Features, as the datasets do for files without image_box_feature.
	ImageBoxFeature []float32
	// Image is the decoded image when the regions came from one (for drawing).
	Image *visual.RGBImage
	// Labels optionally names each box for drawing (a detector's class and
	// attribute); nil or "" draws the number only.
	Labels []string
}

// N is the number of regions.
func (r *Regions) N() int { return len(r.Boxes) / 4 }

// RegionsFromRecord takes a decoded bottom-up-attention record (features.ParseJSON
// or the TSV readers with Features set). The pipeline checks the feature width
// against its model's when the regions are used; callers that know the source's
// name check it earlier with features.CheckFeatureDim.
func RegionsFromRecord(rec *features.Record) (*Regions, error) {
	if rec.Features == nil {
		return nil, inputErrorf("the feature record has no features")
	}
	return &Regions{ImageW: rec.ImageW, ImageH: rec.ImageH, Boxes: rec.Boxes, Features: rec.Features,
		ImageBoxFeature: rec.ImageBoxFeature}, nil
}

// ParseFeatures decodes one bottom-up per-image JSON record within the region
// limit; its features must have the model's width (FeatureDim).
func (p *Pipeline) ParseFeatures(name string, js []byte) (*Regions, error) {
	rec, err := features.ParseJSON(name, js, features.Options{Features: true, MaxBoxes: p.Limits.MaxRegions}.WithFeatureDim())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if err := features.CheckFeatureDim(name, rec, p.FeatureDim()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	return RegionsFromRecord(rec)
}

// FeatureDim is the region feature width the model reads (NETWORK.IMAGE_FEAT_DIM).
func (p *Pipeline) FeatureDim() int { return p.Model.FeatureDim() }

// check validates regions against the limits and the model.
func (p *Pipeline) check(r *Regions) error {
	if r == nil {
		return inputErrorf("no regions")
	}
	n, F := r.N(), p.FeatureDim()
	switch {
	case r.ImageW <= 0 || r.ImageH <= 0:
		return inputErrorf("image size %dx%d, want positive", r.ImageW, r.ImageH)
	case len(r.Boxes)%4 != 0:
		return inputErrorf("%d box coordinates, not a multiple of 4", len(r.Boxes))
	case n == 0:
		return inputErrorf("no boxes")
	case n > p.Limits.MaxRegions:
		return inputErrorf("%d regions, over the limit of %d", n, p.Limits.MaxRegions)
	case len(r.Features) != n*F:
		return inputErrorf("%d feature values for %d boxes, want %d (%d each: the model's NETWORK.IMAGE_FEAT_DIM)", len(r.Features), n, n*F, F)
	case r.ImageBoxFeature != nil && len(r.ImageBoxFeature) != F:
		return inputErrorf("image box feature has %d values, want %d (NETWORK.IMAGE_FEAT_DIM)", len(r.ImageBoxFeature), F)
	}
	for i, v := range r.Boxes {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return inputErrorf("box %d has a non-finite coordinate", i/4)
		}
	}
	for i, v := range r.Features {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return inputErrorf("feature %d of box %d is not finite", i%F, i/F)
		}
	}
	return nil
}

// imageBox reports whether the config adds the whole image as box 0
// (ADD_IMAGE_AS_A_BOX, true in every shipped config).
func (p *Pipeline) imageBox() bool {
	return len(p.Config.Datasets) == 0 || p.Config.Dataset().AddImageAsABox
}

// modelBoxes lays r out as the datasets do at test time: [whole image; boxes]
// with features, resized by SCALES (no flip), clamped, with im_info.
func (p *Pipeline) modelBoxes(r *Regions) model.Boxes {
	n, first := r.N(), 0
	if p.imageBox() {
		first = 1
	}
	nb := n + first
	F := p.FeatureDim()
	stride := 4 + F
	rows := make([]float32, nb*stride)
	for i := 0; i < n; i++ {
		row := rows[(first+i)*stride:]
		copy(row[:4], r.Boxes[4*i:4*i+4])
		copy(row[4:stride], r.Features[i*F:(i+1)*F])
	}
	if first == 1 {
		copy(rows[:4], []float32{0, 0, float32(r.ImageW - 1), float32(r.ImageH - 1)})
		if r.ImageBoxFeature != nil {
			copy(rows[4:stride], r.ImageBoxFeature)
		} else {
			data.MeanFeature(rows[4:stride], rows[stride:], n, stride, 4, F)
		}
	}
	tr := data.BoxTransform{}
	if s := p.Config.Scales; len(s) == 2 {
		tr.MinSize, tr.MaxSize = s[0], s[1]
	}
	info, _ := tr.Apply(nil, rows, nb, stride, r.ImageW, r.ImageH)
	return model.Boxes{B: 1, NB: nb, Data: rows, ImInfo: info[:], InfoW: 4}
}

// RegionsFromImage computes the features (FeatureDim wide) of boxes [N*4] (original-image
// pixels) and of the whole image with the visual network. It is slow on a few
// cores (ResNet-101 on a 600x1000 image) and runs one request at a time.
func (p *Pipeline) RegionsFromImage(ctx context.Context, img *visual.RGBImage, boxes []float32) (*Regions, error) {
	if img == nil {
		return nil, inputErrorf("no image")
	}
	n := len(boxes) / 4
	switch {
	case len(boxes)%4 != 0:
		return nil, inputErrorf("%d box coordinates, not a multiple of 4", len(boxes))
	case n == 0:
		return nil, inputErrorf("no boxes")
	case n > p.Limits.MaxRegions:
		return nil, inputErrorf("%d regions, over the limit of %d", n, p.Limits.MaxRegions)
	}
	for i := 0; i < n; i++ {
		b := boxes[4*i : 4*i+4]
		for _, v := range b {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, inputErrorf("box %d has a non-finite coordinate", i)
			}
		}
		if b[2] < b[0] || b[3] < b[1] {
			return nil, inputErrorf("box %d (%g, %g, %g, %g) has x2 < x1 or y2 < y1", i, b[0], b[1], b[2], b[3])
		}
	}
	p.visMu.Lock()
	defer p.visMu.Unlock()
	if p.vis == nil {
		return nil, fmt.Errorf("%w: image inputs need the ResNet weights (an e2e checkpoint, or a backbone file); this checkpoint takes precomputed features only", ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all := append([]float32{0, 0, float32(img.W - 1), float32(img.H - 1)}, boxes...)
	tr := visual.DefaultTransform()
	if s := p.Config.Scales; len(s) == 2 {
		tr.MinSize, tr.MaxSize = s[0], s[1]
	}
	prep, err := visual.Preprocess(img, all, tr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	rois := visual.RoIs([]*visual.Prepared{prep})
	feats := p.vis.Forward(prep.Image, 1, prep.H, prep.W, rois, n+1, nil)
	D := p.FeatureDim() // SetVisual checked the network's width against it
	r := &Regions{ImageW: img.W, ImageH: img.H, Boxes: append([]float32(nil), boxes...), Image: img,
		ImageBoxFeature: append([]float32(nil), feats[:D]...), Features: append([]float32(nil), feats[D:(n+1)*D]...)}
	return r, nil
}
