// Package cococap reads the coco_captions data set of the original's attention
// visualisation (pretrain/data/datasets/coco_captions.py, COCOCaptionsDataset):
//
//	DATA_PATH/annotations/captions_{set}2017.json   captions (COCO caption format)
//	DATA_PATH/annotations/instances_{set}2017.json  ground-truth instances
//	DATA_PATH/{set}2017/<file_name>                  images (file_name from instances)
//
// with set "train" or "val". As the original: the items are the caption file's
// image ids in ascending order, less the images with no instance annotation
// (crowd ones count); each item's caption is the image's first caption in file
// order; its boxes are every instance of the image, crowd included, in file
// order, converted from [x, y, w, h] to inclusive corners (x2 = x + max(0, w-1)),
// and its classes the contiguous category index (1-based in category id order),
// the one-hot column of the original's 81-class scores. Only the e2e
// (image) branch exists: the original's precomputed branch asserts.
package cococap

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"

	"github.com/vlbert/vlbert/internal/data/coco"
)

// MaxFileSize bounds each JSON file read (COCO train2017 instances are ~450 MiB).
const MaxFileSize = coco.MaxFileSize

// Item is one image of the data set.
type Item struct {
	ImageID   int64
	ImagePath string // DATA_PATH/{set}2017/file_name
	Width     int    // from the instances file
	Height    int
	Caption   string
	Boxes     []float32 // [N*4] x1, y1, x2, y2 (inclusive corners, original pixels)
	Classes   []int     // [N] contiguous class, 1..len(categories)
}

// Captions is a parsed captions_{set}2017.json.
type Captions struct {
	Images []struct {
		ID int64 `json:"id"`
	} `json:"images"`
	Annotations []struct {
		ID      int64  `json:"id"`
		ImageID int64  `json:"image_id"`
		Caption string `json:"caption"`
	} `json:"annotations"`
}

// ParseCaptions decodes a captions file; name labels errors. Every caption
// must name a listed image and be a string.
func ParseCaptions(name string, b []byte) (*Captions, error) {
	var c Captions
	if err := json.Unmarshal(b, &c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("cococap: %s: field %q: %w", name, te.Field, err)
		}
		return nil, fmt.Errorf("cococap: %s: %w", name, err)
	}
	ims := make(map[int64]bool, len(c.Images))
	for i, im := range c.Images {
		if ims[im.ID] {
			return nil, fmt.Errorf("cococap: %s: images[%d]: duplicate id %d", name, i, im.ID)
		}
		ims[im.ID] = true
	}
	for i, a := range c.Annotations {
		if !ims[a.ImageID] {
			return nil, fmt.Errorf("cococap: %s: annotations[%d] (id %d): image_id %d is not in images", name, i, a.ID, a.ImageID)
		}
	}
	return &c, nil
}

// Build joins a captions file and an instances file into the data set's items,
// in the original's order and filtering (see the package doc). imageDir is
// DATA_PATH/{set}2017; capName names the captions file in errors.
func Build(capName string, caps *Captions, inst *coco.Dataset, imageDir string) ([]Item, error) {
	first := map[int64]string{}
	for _, a := range caps.Annotations {
		if _, ok := first[a.ImageID]; !ok {
			first[a.ImageID] = a.Caption
		}
	}
	cls := map[int]int{}
	catIDs := make([]int, 0, len(inst.Categories))
	for _, c := range inst.Categories {
		catIDs = append(catIDs, c.ID)
	}
	sort.Ints(catIDs)
	for i, id := range catIDs {
		cls[id] = i + 1
	}
	type objs struct {
		boxes   []float32
		classes []int
	}
	byImage := map[int64]*objs{}
	for _, a := range inst.Annotations {
		o := byImage[a.ImageID]
		if o == nil {
			o = &objs{}
			byImage[a.ImageID] = o
		}
		x, y := a.BBox[0], a.BBox[1]
		o.boxes = append(o.boxes, float32(x), float32(y), float32(x+math.Max(0, a.BBox[2]-1)), float32(y+math.Max(0, a.BBox[3]-1)))
		o.classes = append(o.classes, cls[a.CategoryID])
	}
	instImages := map[int64]*coco.Image{}
	for i := range inst.Images {
		instImages[inst.Images[i].ID] = &inst.Images[i]
	}
	ids := make([]int64, 0, len(caps.Images))
	for _, im := range caps.Images {
		ids = append(ids, im.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var items []Item
	for _, id := range ids {
		o := byImage[id]
		if o == nil {
			continue // "filter images without detection annotations"
		}
		capText, ok := first[id]
		if !ok {
			return nil, fmt.Errorf("cococap: %s: image %d has instances but no caption", capName, id)
		}
		im := instImages[id] // coco.Parse guarantees every annotation's image is listed
		items = append(items, Item{ImageID: id, ImagePath: filepath.Join(imageDir, im.FileName), Width: im.Width,
			Height: im.Height, Caption: capText, Boxes: o.boxes, Classes: o.classes})
	}
	return items, nil
}

// Load reads the data set of image set set ("train" or "val") under dataPath.
func Load(dataPath, set string) ([]Item, error) {
	if set != "train" && set != "val" {
		return nil, fmt.Errorf("cococap: image set %q: the original knows only train and val", set)
	}
	capPath := filepath.Join(dataPath, "annotations", "captions_"+set+"2017.json")
	b, err := readLimited(capPath)
	if err != nil {
		return nil, err
	}
	caps, err := ParseCaptions(capPath, b)
	if err != nil {
		return nil, err
	}
	inst, err := coco.Read(filepath.Join(dataPath, "annotations", "instances_"+set+"2017.json"))
	if err != nil {
		return nil, err
	}
	return Build(capPath, caps, inst, filepath.Join(dataPath, set+"2017"))
}

func readLimited(path string) ([]byte, error) {
	b, err := coco.ReadLimited(path)
	if err != nil {
		return nil, fmt.Errorf("cococap: %w", err)
	}
	return b, nil
}
