package train

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/tokenizer"
)

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
