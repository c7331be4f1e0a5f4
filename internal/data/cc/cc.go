// Package cc reads Conceptual Captions for pretraining: the JSON-lines
// annotations (train_frcnn.json, val_frcnn.json) and, per image, the
// bottom-up-attention JSON with boxes, class scores and (precomputed mode)
// features; Dataset builds masked image-caption examples as the original
// conceptual_captions.py.
package cc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Record is one annotation line: {"image": "train_image.zip@/00001234.jpg",
// "caption": ["word", ...], "frcnn": "train_frcnn.zip@/00001234.json"}.
type Record struct {
	Image   string   `json:"image"`
	Caption []string `json:"caption"`
	Frcnn   string   `json:"frcnn"`
}

// MaxLineBytes bounds one annotation line.
const MaxLineBytes = 1 << 20

// ReadJSONL parses JSON-lines annotations. Blank lines are skipped; a bad line
// is an error naming name and the 1-based line. requireFrcnn demands the frcnn
// field (the *_frcnn.json files; train.json/val.json lack it).
func ReadJSONL(r io.Reader, name string, requireFrcnn bool) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	var out []Record
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("cc: %s line %d: %w", name, line, err)
		}
		switch {
		case rec.Caption == nil:
			return nil, fmt.Errorf("cc: %s line %d: missing caption", name, line)
		case requireFrcnn && rec.Frcnn == "":
			return nil, fmt.Errorf("cc: %s line %d: missing frcnn", name, line)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cc: %s line %d: %w", name, line+1, err)
	}
	return out, nil
}

// LoadJSONL reads the annotation file at path (see ReadJSONL).
func LoadJSONL(path string, requireFrcnn bool) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cc: %w", err)
	}
	defer f.Close()
	return ReadJSONL(f, path, requireFrcnn)
}
