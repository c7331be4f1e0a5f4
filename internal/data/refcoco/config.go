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

	dataPath string
	zip      bool
}

// FromConfig returns the files of cfg's data set.
func FromConfig(cfg *config.Config) Files {
	ds := cfg.Dataset()
	dir := filepath.Join(ds.DatasetPath, "refcoco+")
	return Files{
		Refs:      filepath.Join(dir, "refs(unc).p"),
		Instances: filepath.Join(dir, "instances.json"),
		COCO:      filepath.Join(ds.DatasetPath, "annotations", "instances_train2014.json"),
		Proposals: filepath.Join(dir, "proposal", "res101_coco_minus_refer_notime_dets.json"),
		Dir:       dir,
		dataPath:  ds.DatasetPath,
		zip:       ds.ZipMode,
	}
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
