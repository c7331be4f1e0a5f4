package train

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/tokenizer"
)

// The synthetic world of internal/data/synth keeps the original file formats
// but its own layout (image sets "train" and "val", features in frcnn/). A
// VQA DATASET_PATH that holds a world (its COMPLETE marker) is read in that
// layout; Conceptual Captions and the corpus need no adapter.

func synthVQAFiles(dir, set string) (questions, annotations string) {
	q := filepath.Join(dir, synth.Layout.VQA, "v2_OpenEnded_mscoco_"+set+"_questions.json")
	a := filepath.Join(dir, synth.Layout.VQA, "v2_mscoco_"+set+"_annotations.json")
	return q, a
}

func synthAnswerFile(dir string) string { return filepath.Join(dir, synth.Layout.Answers) }

// Tokenizer is the BERT tokenizer of NETWORK.BERT_MODEL_NAME: its vocab.txt
// when the directory has one (the original from_pretrained layout), else the
// embedded bert-base-uncased vocabulary.
func Tokenizer(cfg *config.Config) (*tokenizer.Tokenizer, error) {
	path := filepath.Join(cfg.Network.BertModelName, "vocab.txt")
	f, err := os.Open(path)
	if err != nil {
		return tokenizer.Default(true), nil
	}
	defer f.Close()
	tok, err := tokenizer.New(f, true)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return tok, nil
}
