package output

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/data/features"
)

// MaxJSONBytes bounds one per-image JSON file read back for resume
// (1000 boxes of 2048-d features are about 11 MB).
const MaxJSONBytes = 256 << 20

// float32Base64 is base64.b64encode of the little-endian float32 bytes.
func float32Base64(v []float32) string {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// EncodeJSON writes im as one vlbert/VL-BERT per-image JSON document.
func EncodeJSON(w io.Writer, im *Image) error {
	if err := im.check(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	var id json.RawMessage
	if n, err := strconv.ParseInt(im.ID, 10, 64); err == nil {
		id = json.RawMessage(strconv.FormatInt(n, 10))
	} else {
		id, _ = json.Marshal(im.ID)
	}
	doc := struct {
		ImageID  json.RawMessage `json:"image_id"`
		ImageW   int             `json:"image_w"`
		ImageH   int             `json:"image_h"`
		NumBoxes int             `json:"num_boxes"`
		Boxes    string          `json:"boxes"`
		Features string          `json:"features"`
		Classes  *string         `json:"classes,omitempty"`
		Attrs    *string         `json:"attrs,omitempty"`
	}{ImageID: id, ImageW: im.Width, ImageH: im.Height, NumBoxes: im.NumBoxes,
		Boxes: float32Base64(im.Boxes), Features: float32Base64(im.Features)}
	if im.Classes != nil {
		s := float32Base64(im.Classes)
		doc.Classes = &s
	}
	if im.Attrs != nil {
		s := float32Base64(im.Attrs)
		doc.Attrs = &s
	}
	enc := json.NewEncoder(w)
	return enc.Encode(&doc)
}

// JSONPath is the file WriteJSON writes for an image stem in dir.
func JSONPath(dir, stem string) string { return filepath.Join(dir, stem+".json") }

// WriteJSON writes im to JSONPath(dir, stem) atomically.
func WriteJSON(dir, stem string, im *Image) error {
	if err := im.check(); err != nil { // before any file is created
		return fmt.Errorf("output: %w", err)
	}
	p := JSONPath(dir, stem)
	if err := atomicfile.WriteFile(p, func(w io.Writer) error { return EncodeJSON(w, im) }); err != nil {
		return fmt.Errorf("output: %s: %w", p, err)
	}
	return nil
}

// CheckJSON parses one per-image JSON document as vlbert's precomputed
// reader does (boxes decoded, feature, class and attribute widths taken
// from the byte counts) and returns its image_id as written.
func CheckJSON(name string, data []byte) (id string, err error) {
	if len(data) > MaxJSONBytes {
		return "", fmt.Errorf("output: %s is %d bytes, more than %d", name, len(data), MaxJSONBytes)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("output: %s: %w", name, err)
	}
	raw := doc["image_id"]
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", fmt.Errorf("output: %s: image_id: %w", name, err)
		}
		// features.ParseJSON takes integer ids only; a stem without digits
		// is checked as 0.
		doc["image_id"] = json.RawMessage("0")
		if data, err = json.Marshal(doc); err != nil {
			return "", fmt.Errorf("output: %s: %w", name, err)
		}
	} else {
		id = string(raw)
	}
	// Widths are inferred from the byte counts; with no boxes there is
	// nothing to infer from and any width fits the empty arrays.
	width := -1
	if string(doc["num_boxes"]) == "0" {
		width = 1
	}
	opt := features.Options{Features: true, FeatureDim: width, NumAttrs: width, Attrs: true}
	if _, ok := doc["classes"]; ok {
		opt.Classes, opt.NumClasses = true, width
	}
	if _, err := features.ParseJSON(name, data, opt); err != nil {
		return "", fmt.Errorf("output: %w", err)
	}
	return id, nil
}

// DoneJSON lists the images already written to dir: stems whose .json is
// present and parseable. Files that exist but do not parse (written by
// another tool, or damaged) are returned in bad with the reason; they are
// not counted as done. A missing dir is an empty result.
func DoneJSON(dir string) (done map[string]bool, bad []string, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("output: %w", err)
	}
	done = map[string]bool{}
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		if info.Size() > MaxJSONBytes {
			bad = append(bad, fmt.Sprintf("%s: %d bytes, more than %d", p, info.Size(), MaxJSONBytes))
			continue
		}
		data, err := os.ReadFile(p)
		if err == nil {
			_, err = CheckJSON(p, data)
		}
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		done[stem] = true
	}
	sort.Strings(bad)
	return done, bad, nil
}
