package refcoco

import (
	"fmt"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/config"
)

// Files are the RefCOCO+ files under a config's DATASET.DATASET_PATH, as the
// original names them (refcoco/data/datasets/refcoco.py, RefCOCO.__init__, and
// refer.py): the one place their paths live.
type Files struct {
	Refs      string // refcoco+/refs(unc).p
	Instances string // refcoco+/instances.json: the referred objects (refer.py)
	COCO      string // annotations/instances_train2014.json: image sizes, gt candidates
	Proposals string // refcoco+/proposal/res101_coco_minus_refer_notime_dets.json
	// Dir is the refcoco+ directory.
	Dir string
	// FeatureDir holds the precomputed per-image features (vlbert extension,
	// read with NETWORK.IMAGE_FEAT_PRECOMPUTED true; see Files.Features).
	FeatureDir string

	dataPath string
	zip      bool
}

// FromConfig returns the files of cfg's data set.
func FromConfig(cfg *config.Config) Files {
	ds := cfg.Dataset()
	dir := filepath.Join(ds.DatasetPath, "refcoco+")
	return Files{
		Refs:       filepath.Join(dir, "refs(unc).p"),
		Instances:  filepath.Join(dir, "instances.json"),
		COCO:       filepath.Join(ds.DatasetPath, "annotations", "instances_train2014.json"),
		Proposals:  filepath.Join(dir, "proposal", "res101_coco_minus_refer_notime_dets.json"),
		Dir:        dir,
		FeatureDir: filepath.Join(ds.DatasetPath, "vgbua_res101_precomputed", featureSet),
		dataPath:   ds.DatasetPath,
		zip:        ds.ZipMode,
	}
}

// featureSet is the bottom-up-attention folder of COCO train2014 (and
// val2014) features with 10 to 100 boxes per image, the one VQA's BOXES
// "10-100ada" reads (vqa/data/datasets/vqa.py): every RefCOCO+ image is a
// train2014 image, so RefCOCO+ reads its features from the same folder.
const featureSet = "trainval2014_resnet101_faster_rcnn_genome"

// Features is the precomputed feature file of imageID, in the
// bottom-up-attention per-image JSON format (internal/data/features):
// vgbua_res101_precomputed/trainval2014_resnet101_faster_rcnn_genome/{id}.json,
// or inside that folder's .zip in ZIP_MODE.
//
// This is a vlbert extension: the original trains RefCOCO+ only end to end
// (refcoco/data/datasets/refcoco.py). With NETWORK.IMAGE_FEAT_PRECOMPUTED
// true the file's detections are the candidate proposals (every *_BOXES must
// be "proposal") and its features their visual features; refcoco+/instances.json
// (refer.py's: the referred images with all their COCO annotations) gives the
// image sizes, so annotations/instances_train2014.json, the MAttNet proposals
// and the images are not read.
func (f Files) Features(imageID int64) string {
	name := fmt.Sprintf("%d.json", imageID)
	if f.zip {
		return f.FeatureDir + ".zip@/" + featureSet + "/" + name
	}
	return filepath.Join(f.FeatureDir, name)
}

// Image is the COCO train2014 image of imageID (every RefCOCO+ image is one):
// train2014/COCO_train2014_{id:012d}.jpg, or inside train2014.zip in ZIP_MODE.
func (f Files) Image(imageID int64) string {
	name := fmt.Sprintf("COCO_train2014_%012d.jpg", imageID)
	if f.zip {
		return filepath.Join(f.dataPath, "train2014.zip@", "train2014", name)
	}
	return filepath.Join(f.dataPath, "train2014", name)
}
