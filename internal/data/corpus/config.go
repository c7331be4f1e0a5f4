package corpus

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/config"
)

// FromConfig opens the text-only corpus of the DATASET entry ds for mode
// ("train" or "val"): its {TRAIN,VAL}_ANNOTATION_FILE ('+'-joined .doc files),
// SEQ_LEN and MIN_SEQ_LEN. The caller closes d.Corpus.
func FromConfig(ds *config.Dataset, mode string, tok Tokenizer) (*Dataset, error) {
	var ann string
	switch mode {
	case "train":
		ann = ds.TrainAnnotationFile
	case "val":
		ann = ds.ValAnnotationFile
	default:
		return nil, fmt.Errorf("corpus: mode %q is not train or val", mode)
	}
	c, err := Open(ann)
	if err != nil {
		return nil, err
	}
	d := NewDataset(c, tok)
	d.SeqLen, d.MinSeqLen = ds.SeqLen, ds.MinSeqLen
	return d, nil
}
