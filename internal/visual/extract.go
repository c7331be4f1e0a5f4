package visual

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Region feature extraction: the e2e visual path run offline over user images
// and boxes, producing what the bottom-up-attention JSON files hold (boxes in
// original-image pixels and one pooled 2048-d vector per box), so that the
// precomputed-feature configs can consume features of new images.

// MaxExtractBoxes bounds the boxes of one image (the bottom-up files hold 10 to
// 100; internal/data/features refuses more than 1000).
const MaxExtractBoxes = 1000

// DefaultHeadChunk is how many RoIs go through the res5 head at once. The head
// keeps about 6 MB of activations per RoI, so chunking bounds the memory of an
// image with many boxes; results do not depend on it (RoIs are independent).
const DefaultHeadChunk = 32

// RegionFeatures is one image's extraction result.
type RegionFeatures struct {
	ImageW, ImageH int       // original image size
	NumBoxes       int       // R
	Boxes          []float32 // [R, 4] (x1, y1, x2, y2), original pixels, clamped into the image
	Features       []float32 // [R, FeatureDim] average-pooled res5 output
	FeatureDim     int
}

// CheckBoxes validates boxes [R, 4] (x1, y1, x2, y2) given in pixels of a
// w x h image and returns a clamped copy. The rules:
//   - every coordinate must be finite, and x2 >= x1, y2 >= y1 (an error names
//     the box index);
//   - a box must overlap the image [0, w−1] x [0, h−1] at least in a point
//     (a box wholly outside is an error: it usually means swapped or
//     normalised coordinates);
//   - coordinates are then clamped to [0, w−1] x [0, h−1], the range the
//     original datasets clamp to (in resized pixels) before RoIAlign;
//   - there must be between 1 and MaxExtractBoxes boxes.
func CheckBoxes(boxes []float32, w, h int) ([]float32, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("visual: invalid image size %dx%d", w, h)
	}
	if len(boxes)%4 != 0 {
		return nil, fmt.Errorf("visual: %d box coordinates, not a multiple of 4", len(boxes))
	}
	R := len(boxes) / 4
	if R == 0 {
		return nil, fmt.Errorf("visual: no boxes")
	}
	if R > MaxExtractBoxes {
		return nil, fmt.Errorf("visual: %d boxes, over the limit of %d", R, MaxExtractBoxes)
	}
	xmax, ymax := float32(w-1), float32(h-1)
	out := make([]float32, len(boxes))
	for r := 0; r < R; r++ {
		b := boxes[r*4 : r*4+4]
		for _, v := range b {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("visual: box %d %v has a non-finite coordinate", r, b)
			}
		}
		if b[2] < b[0] || b[3] < b[1] {
			return nil, fmt.Errorf("visual: box %d %v has x2 < x1 or y2 < y1 (want x1, y1, x2, y2)", r, b)
		}
		if b[2] < 0 || b[3] < 0 || b[0] > xmax || b[1] > ymax {
			return nil, fmt.Errorf("visual: box %d %v lies wholly outside the %dx%d image", r, b, w, h)
		}
		o := out[r*4 : r*4+4]
		o[0], o[1] = clampf(b[0], 0, xmax), clampf(b[1], 0, ymax)
		o[2], o[3] = clampf(b[2], 0, xmax), clampf(b[3], 0, ymax)
	}
	return out, nil
}

// Extractor computes region features with a Network in inference mode. It is
// not safe for concurrent use (the network owns its buffers); use one per
// goroutine.
type Extractor struct {
	Net       *Network
	Transform Transform // DefaultTransform (600/1000, no flip)
	HeadChunk int       // RoIs per head pass; <= 0 means DefaultHeadChunk
}

// NewExtractor wraps net (switching it to inference mode) with the default
// transform.
func NewExtractor(net *Network) *Extractor {
	net.SetInference(true)
	return &Extractor{Net: net, Transform: DefaultTransform()}
}

// Extract validates boxes [R, 4] in original pixels of img (CheckBoxes),
// preprocesses the image as the original (resize to 600/1000, BGR, Caffe means;
// boxes scaled into the resized image and clamped), runs the backbone once and
// the head over the RoIs in chunks, and returns the features.
func (e *Extractor) Extract(img *RGBImage, boxes []float32) (*RegionFeatures, error) {
	if img == nil {
		return nil, fmt.Errorf("visual: extract: nil image")
	}
	clamped, err := CheckBoxes(boxes, img.W, img.H)
	if err != nil {
		return nil, err
	}
	p, err := Preprocess(img, clamped, e.Transform)
	if err != nil {
		return nil, err
	}
	return e.ExtractPrepared(p, img.W, img.H, clamped), nil
}

// ExtractPrepared runs the network on an already preprocessed image whose
// Boxes are in resized pixels; origBoxes [R, 4] are the boxes in original
// pixels reported in the result (w0 x h0 is the original size).
func (e *Extractor) ExtractPrepared(p *Prepared, w0, h0 int, origBoxes []float32) *RegionFeatures {
	R := len(p.Boxes) / 4
	checkLen("original boxes", len(origBoxes), R*4)
	K := e.Net.Cfg.FeatureDim()
	res := &RegionFeatures{ImageW: w0, ImageH: h0, NumBoxes: R, FeatureDim: K,
		Boxes: append([]float32(nil), origBoxes[:R*4]...), Features: make([]float32, R*K)}
	feat, FH, FW := e.Net.Backbone(p.Image, 1, p.H, p.W)
	e.head(res.Features, feat, FH, FW, p.Boxes)
	return res
}

// head runs RoIAlign, the res5 head and the average pool over boxes [R, 4]
// (resized pixels, image 0 of the body4 map feat [1, C, FH, FW]) in chunks of
// HeadChunk RoIs, writing out [R, FeatureDim].
func (e *Extractor) head(out, feat []float32, FH, FW int, boxes []float32) {
	R, K := len(boxes)/4, e.Net.Cfg.FeatureDim()
	checkLen("features", len(out), R*K)
	chunk := e.HeadChunk
	if chunk <= 0 {
		chunk = DefaultHeadChunk
	}
	rois := make([]float32, 0, min(chunk, R)*5)
	for lo := 0; lo < R; lo += chunk {
		hi := min(lo+chunk, R)
		rois = rois[:0]
		for r := lo; r < hi; r++ {
			rois = append(rois, 0)
			rois = append(rois, boxes[r*4:r*4+4]...)
		}
		f := e.Net.ForwardFromFeatures(feat, 1, FH, FW, rois, hi-lo, nil)
		copy(out[lo*K:hi*K], f[:(hi-lo)*K])
	}
}

// InitRandom fills the parameters with a deterministic random initialisation
// (He-normal convolutions, BatchNorm near the identity). The features it gives
// are meaningless; it exists for tests, demos and timing.
func (n *Network) InitRandom(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x76697375616c)) // "visual"
	for _, p := range n.Params.Params {
		switch {
		case strings.HasSuffix(p.Name, ".running_var"):
			for i := range p.Data {
				p.Data[i] = 1
			}
		case strings.HasSuffix(p.Name, ".running_mean"), strings.HasSuffix(p.Name, ".bias"):
			clear(p.Data)
		case strings.HasSuffix(p.Name, ".bn3.weight"):
			// Damp the residual branches so 33 blocks do not blow activations up.
			for i := range p.Data {
				p.Data[i] = 0.2
			}
		case len(p.Shape) == 4:
			std := math.Sqrt(2 / float64(p.Shape[1]*p.Shape[2]*p.Shape[3]))
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64() * std)
			}
		default: // BN weight
			for i := range p.Data {
				p.Data[i] = 1
			}
		}
	}
}
