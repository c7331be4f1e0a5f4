// Package vcr reads the Visual Commonsense Reasoning data (vcr/data/datasets/vcr.py) and turns one
// annotation into the model's text and region inputs the way the original
// vcr/data/datasets/vcr.py does: detection references replaced by class names (persons by
// gender-neutral names from a never-reset global counter), "and"-joined multi-object
// references, grounding tags, the Q2A / QA2R truncation rules, and 14×14 box-relative
// instance masks rasterised from the metadata polygons.
//
// What it does not do: image decoding, resizing, flipping and box clamping (the transforms
// of package data), collation into batches, and [CLS]/[SEP] insertion (the model builds
// "[CLS] query [SEP] choice [SEP]").
//
// Errors from the files name the file and line (or key); nothing here panics on bad data.
package vcr

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// NumChoices is the number of answer and rationale candidates per question.
const NumChoices = 4

// MaxLineBytes bounds one JSON line of an annotation file (real lines are a few KB).
const MaxLineBytes = 16 << 20

// Token is one entry of a VCR token list: a word, or (when Objects is non-nil) a
// reference to one or more detections by their index in Annotation.Objects.
type Token struct {
	Word    string
	Objects []int
}

// UnmarshalJSON accepts a JSON string (a word) or a non-empty list of integers.
func (t *Token) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		t.Objects = nil
		return json.Unmarshal(b, &t.Word)
	}
	if len(b) > 0 && b[0] == '[' {
		var objs []int
		if err := json.Unmarshal(b, &objs); err != nil {
			return fmt.Errorf("object reference %s: %w", b, err)
		}
		if len(objs) == 0 {
			return errors.New("empty object reference []")
		}
		t.Word, t.Objects = "", objs
		return nil
	}
	return fmt.Errorf("token %s is neither a string nor a list of detection indices", b)
}

// MarshalJSON writes the token back in the VCR form.
func (t Token) MarshalJSON() ([]byte, error) {
	if t.Objects != nil {
		return json.Marshal(t.Objects)
	}
	return json.Marshal(t.Word)
}

// Annotation is one line of train.jsonl / val.jsonl / test.jsonl (the fields the
// original reads; the others are ignored).
type Annotation struct {
	AnnotID          string    `json:"annot_id"`
	Objects          []string  `json:"objects"`     // COCO class name (space-less) of each detection
	ImgFn            string    `json:"img_fn"`      // relative to vcr1images/
	MetadataFn       string    `json:"metadata_fn"` // relative to vcr1images/
	Question         []Token   `json:"question"`
	AnswerChoices    [][]Token `json:"answer_choices"`    // NumChoices
	RationaleChoices [][]Token `json:"rationale_choices"` // NumChoices
	// AnswerLabel and RationaleLabel are in [0, NumChoices), or -1 in test mode.
	AnswerLabel    int `json:"-"`
	RationaleLabel int `json:"-"`
}

// ReadAnnotations reads a VCR .jsonl file. In test mode the labels are not required and
// are set to -1, as in the original (which ignores them even when present).
func ReadAnnotations(path string, testMode bool) ([]Annotation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vcr: %w", err)
	}
	defer f.Close()
	return ParseAnnotations(f, path, testMode)
}

// ParseAnnotations reads VCR JSON lines from r; name is used in error messages. Blank
// lines are skipped.
func ParseAnnotations(r io.Reader, name string, testMode bool) ([]Annotation, error) {
	var out []Annotation
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br, MaxLineBytes)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("vcr: %s line %d: %w", name, lineNo, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		a, err := parseAnnotation(line, testMode)
		if err != nil {
			return nil, fmt.Errorf("vcr: %s line %d: %w", name, lineNo, err)
		}
		out = append(out, a)
	}
}

func parseAnnotation(line []byte, testMode bool) (Annotation, error) {
	var raw struct {
		Annotation
		AnnotID        json.RawMessage `json:"annot_id"`
		AnswerLabel    *int            `json:"answer_label"`
		RationaleLabel *int            `json:"rationale_label"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return Annotation{}, err
	}
	a := raw.Annotation
	// annot_id is a string ("val-12") in the release; accept a number too.
	var id any
	if err := json.Unmarshal(raw.AnnotID, &id); err != nil || id == nil {
		return a, errors.New("missing annot_id")
	}
	switch v := id.(type) {
	case string:
		a.AnnotID = v
	case float64:
		a.AnnotID = string(bytes.TrimSpace(raw.AnnotID))
	default:
		return a, fmt.Errorf("annot_id %s is not a string", raw.AnnotID)
	}
	if len(a.AnswerChoices) != NumChoices {
		return a, fmt.Errorf("annot_id %s: %d answer_choices, want %d", a.AnnotID, len(a.AnswerChoices), NumChoices)
	}
	if len(a.RationaleChoices) != NumChoices {
		return a, fmt.Errorf("annot_id %s: %d rationale_choices, want %d", a.AnnotID, len(a.RationaleChoices), NumChoices)
	}
	check := func(what string, toks []Token) error {
		for i, t := range toks {
			for _, o := range t.Objects {
				if o < 0 || o >= len(a.Objects) {
					return fmt.Errorf("annot_id %s: %s token %d refers to detection %d of %d", a.AnnotID, what, i, o, len(a.Objects))
				}
			}
		}
		return nil
	}
	if err := check("question", a.Question); err != nil {
		return a, err
	}
	for k := range NumChoices {
		if err := check(fmt.Sprintf("answer %d", k), a.AnswerChoices[k]); err != nil {
			return a, err
		}
		if err := check(fmt.Sprintf("rationale %d", k), a.RationaleChoices[k]); err != nil {
			return a, err
		}
	}
	a.AnswerLabel, a.RationaleLabel = -1, -1
	if !testMode {
		for _, l := range []struct {
			name string
			v    *int
			dst  *int
		}{{"answer_label", raw.AnswerLabel, &a.AnswerLabel}, {"rationale_label", raw.RationaleLabel, &a.RationaleLabel}} {
			if l.v == nil {
				return a, fmt.Errorf("annot_id %s: missing %s (use test mode for test.jsonl)", a.AnnotID, l.name)
			}
			if *l.v < 0 || *l.v >= NumChoices {
				return a, fmt.Errorf("annot_id %s: %s %d outside [0, %d)", a.AnnotID, l.name, *l.v, NumChoices)
			}
			*l.dst = *l.v
		}
	}
	return a, nil
}

// readLine returns the next line without "\n" / "\r\n", or io.EOF at the end; a line
// longer than limit bytes is an error instead of an unbounded allocation.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit+2 {
			return nil, fmt.Errorf("line longer than %d bytes", limit)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(line[:len(line)-1], []byte("\r")), nil
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			if len(line) == 0 {
				return nil, io.EOF
			}
			return line, nil
		default:
			return nil, err
		}
	}
}
