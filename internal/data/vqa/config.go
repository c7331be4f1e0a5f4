package vqa

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
)

// FromConfig builds the dataset of mode ("train", "val" or "test") as the
// original make_dataloader: image sets from DATASET.{TRAIN,VAL,TEST}_IMAGE_SET,
// files under DATASET_PATH, image sizes from the COCO annotations, the answer
// vocabulary normalised (USE_IMDB false), resize from SCALES and the mode's
// FLIP_PROB. With USE_IMDB the questions come from the pythia imdb files (see
// ReadIMDB) and the answer vocabulary is used as written.
func FromConfig(cfg *config.Config, mode string, tok Tokenizer, fs features.Reader) (*Dataset, error) {
	ds := cfg.Dataset()
	sp, err := cfg.Split(ds, mode)
	if err != nil {
		return nil, fmt.Errorf("vqa: %w", err)
	}
	sets, flip := sp.ImageSet, sp.FlipProb
	if len(cfg.Scales) != 2 {
		return nil, fmt.Errorf("vqa: SCALES has %d values, want 2", len(cfg.Scales))
	}
	testMode := mode == "test"
	cat := Catalog{DataPath: ds.DatasetPath, Boxes: ds.Boxes, ZipMode: ds.ZipMode}
	load := cat.LoadEntries
	if ds.UseIMDB {
		load = cat.LoadIMDBEntries
	}
	entries, err := load(sets, testMode, true)
	if err != nil {
		return nil, err
	}
	d := &Dataset{
		Entries: entries, Tok: tok, FS: fs,
		BoxFile: func(e *Entry) string {
			p, _ := cat.BoxFile(e.ImageSet, e.ImageID) // sets were checked by LoadEntries
			return p
		},
		ImageFile: func(e *Entry) string {
			p, _ := cat.ImageFile(e.ImageSet, e.ImageID)
			return p
		},
		Precomputed: cfg.Network.ImageFeatPrecomputed,
		FeatureDim:  cfg.Network.ImageFeatDim,
		AddImageBox: ds.AddImageAsABox,
		Transform:   data.BoxTransform{MinSize: cfg.Scales[0], MaxSize: cfg.Scales[1], FlipProb: flip},
		TestMode:    testMode,
		LeftRight:   true,
	}
	if !testMode || ds.AnswerVocabFile != "" {
		if d.Vocab, err = LoadAnswerVocab(ds.AnswerVocabFile, !ds.UseIMDB); err != nil {
			return nil, err
		}
	}
	return d, nil
}
