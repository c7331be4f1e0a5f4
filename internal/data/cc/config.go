package cc

import (
	"fmt"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
)

// FromConfig builds the Conceptual Captions dataset of mode ("train" or "val";
// the original has no test split) for the DATASET entry ds of cfg: annotations
// {DATASET_PATH}/{train,val}_frcnn.json chosen by the mode's image set, SEQ_LEN,
// the NETWORK task switches, resize from SCALES and the mode's FLIP_PROB.
func FromConfig(cfg *config.Config, ds *config.Dataset, mode string, tok Tokenizer, fs features.Reader) (*Dataset, error) {
	if mode == "test" {
		return nil, fmt.Errorf("cc: mode %q is not train or val", mode)
	}
	sp, err := cfg.Split(ds, mode)
	if err != nil {
		return nil, fmt.Errorf("cc: %w", err)
	}
	set, flip := sp.ImageSet, sp.FlipProb
	annot := map[string]string{"train": "train_frcnn.json", "val": "val_frcnn.json"}[set]
	if annot == "" {
		return nil, fmt.Errorf("cc: image set %q is not train or val", set)
	}
	if len(cfg.Scales) != 2 {
		return nil, fmt.Errorf("cc: SCALES has %d values, want 2", len(cfg.Scales))
	}
	records, err := LoadJSONL(filepath.Join(ds.DatasetPath, annot), true)
	if err != nil {
		return nil, err
	}
	d := New(records, ds.DatasetPath, fs, tok, cfg.Network.ImageFeatPrecomputed, ds.ZipMode)
	d.AddImageBox = ds.AddImageAsABox
	d.FeatureDim = cfg.Network.ImageFeatDim
	d.SeqLen = ds.SeqLen
	d.Transform = data.BoxTransform{MinSize: cfg.Scales[0], MaxSize: cfg.Scales[1], FlipProb: flip}
	d.WithRelTask, d.WithMLM, d.WithMVRC = cfg.Network.WithRelLoss, cfg.Network.WithMLMLoss, cfg.Network.WithMVRCLoss
	return d, nil
}
