// Package refcoco reads the RefCOCO+ (UNC split) data of the original
// refcoco/data/datasets/refcoco.py and refer.py: the refs(unc).p pickle,
// COCO-style instances JSON files, and the MAttNet detection proposals; it builds the
// per-sentence database, the candidate boxes (ground truth, proposals, or proposals
// followed by ground truth, with the whole image as box 0), the referring expression's
// wordpieces, the IoU > 0.5 training labels and the IoU ≥ 0.5 evaluation accuracy, all
// with the +1-pixel IoU convention.
//
// Not here: image decoding, resizing/flipping/clamping of boxes (package data), batching.
// Errors name the file and the record; parsers never panic on bad data.
package refcoco

import (
	"fmt"
	"github.com/vlbert/vlbert/internal/data"
	"io"
	"os"

	"github.com/nlpodyssey/gopickle/types"
)

// MaxPickleBytes bounds refs(unc).p (the real RefCOCO+ file is about 20 MB).
const MaxPickleBytes = 1 << 30

// Sentence is one referring expression of a Ref.
type Sentence struct {
	SentID int64
	Raw    string   // as typed by the annotator
	Sent   string   // normalised (lower case, punctuation removed)
	Tokens []string // Sent split into words; the model input is strings.Join(Tokens, " ")
}

// Ref is one referred object with its expressions.
type Ref struct {
	RefID      int64
	AnnID      int64 // the object's annotation id in refcoco+/instances.json
	ImageID    int64
	Split      string // train, val, testA, testB
	CategoryID int64
	Sentences  []Sentence
}

// ReadRefs reads refs(unc).p.
func ReadRefs(path string) ([]Ref, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("refcoco: %w", err)
	}
	defer f.Close()
	return ParseRefs(f, path)
}

// ParseRefs decodes a refs pickle (a list of dicts; any pickle protocol, Python 2 byte
// strings or unicode) from r; name is used in errors.
func ParseRefs(r io.Reader, name string) ([]Ref, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPickleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("refcoco: %s: %w", name, err)
	}
	if len(data) > MaxPickleBytes {
		return nil, fmt.Errorf("refcoco: %s: larger than %d bytes", name, MaxPickleBytes)
	}
	v, err := unpickle(data)
	if err != nil {
		return nil, fmt.Errorf("refcoco: %s: %w", name, err)
	}
	// Memo references can share one list many times over; bound the work by the size of
	// the file (every real element costs at least a byte of pickle).
	c := &converter{budget: len(data) + 1024}
	refs, err := c.refs(v)
	if err != nil {
		return nil, fmt.Errorf("refcoco: %s: %w", name, err)
	}
	return refs, nil
}

type converter struct{ budget int }

func (c *converter) spend(n int) error {
	c.budget -= n
	if c.budget < 0 {
		return fmt.Errorf("pickle expands to more elements than its size allows")
	}
	return nil
}

func (c *converter) list(v any, what string) ([]any, error) {
	var l []any
	switch x := v.(type) {
	case *types.List:
		l = *x
	case *types.Tuple:
		l = *x
	default:
		return nil, fmt.Errorf("%s is %T, want a list", what, v)
	}
	return l, c.spend(len(l))
}

func (c *converter) refs(v any) ([]Ref, error) {
	items, err := c.list(v, "top level")
	if err != nil {
		return nil, err
	}
	refs := make([]Ref, len(items))
	for i, item := range items {
		if err := c.ref(item, &refs[i]); err != nil {
			return nil, fmt.Errorf("ref %d: %w", i, err)
		}
	}
	return refs, nil
}

// fields returns the string-keyed entries of a pickled dict.
func fields(v any) (map[string]any, error) {
	var entries []types.DictEntry
	switch d := v.(type) {
	case *types.Dict:
		entries = *d
	default:
		return nil, fmt.Errorf("%T, want a dict", v)
	}
	m := make(map[string]any, len(entries))
	for _, e := range entries {
		if k, ok := e.Key.(string); ok {
			m[k] = e.Value
		}
	}
	return m, nil
}

func intField(m map[string]any, key string) (int64, error) {
	v, ok := m[key]
	if !ok {
		return 0, fmt.Errorf("missing key %q", key)
	}
	if n, ok := data.PickleInt(v); ok {
		return n, nil
	}
	return 0, fmt.Errorf("key %q is %T, want an int", key, v)
}

func strField(m map[string]any, key string) (string, error) {
	v, ok := m[key]
	if !ok {
		return "", fmt.Errorf("missing key %q", key)
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(latin1IfInvalid(x)), nil
	}
	return "", fmt.Errorf("key %q is %T, want a string", key, v)
}

func (c *converter) ref(v any, r *Ref) error {
	m, err := fields(v)
	if err != nil {
		return err
	}
	if r.RefID, err = intField(m, "ref_id"); err != nil {
		return err
	}
	if r.AnnID, err = intField(m, "ann_id"); err != nil {
		return fmt.Errorf("ref_id %d: %w", r.RefID, err)
	}
	if r.ImageID, err = intField(m, "image_id"); err != nil {
		return fmt.Errorf("ref_id %d: %w", r.RefID, err)
	}
	if r.CategoryID, err = intField(m, "category_id"); err != nil {
		return fmt.Errorf("ref_id %d: %w", r.RefID, err)
	}
	if r.Split, err = strField(m, "split"); err != nil {
		return fmt.Errorf("ref_id %d: %w", r.RefID, err)
	}
	sents, err := c.list(m["sentences"], "sentences")
	if err != nil {
		return fmt.Errorf("ref_id %d: %w", r.RefID, err)
	}
	r.Sentences = make([]Sentence, len(sents))
	for j, sv := range sents {
		if err := c.sentence(sv, &r.Sentences[j]); err != nil {
			return fmt.Errorf("ref_id %d sentence %d: %w", r.RefID, j, err)
		}
	}
	return nil
}

func (c *converter) sentence(v any, s *Sentence) error {
	m, err := fields(v)
	if err != nil {
		return err
	}
	if s.SentID, err = intField(m, "sent_id"); err != nil {
		return err
	}
	if s.Raw, err = strField(m, "raw"); err != nil {
		return err
	}
	if s.Sent, err = strField(m, "sent"); err != nil {
		return err
	}
	toks, err := c.list(m["tokens"], "tokens")
	if err != nil {
		return err
	}
	s.Tokens = make([]string, len(toks))
	for k, tv := range toks {
		if s.Tokens[k], err = strField(map[string]any{"token": tv}, "token"); err != nil {
			return fmt.Errorf("token %d: %w", k, err)
		}
	}
	return nil
}
