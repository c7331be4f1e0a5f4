package features

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
)

// TSVFields are the columns of the classic bottom-up-attention TSV
// (generate_tsv.py; the FIELDNAMES of the original vqa.py), in order.
var TSVFields = []string{"image_id", "image_w", "image_h", "num_boxes", "boxes", "features"}

// LXMERTFields are the columns of LXMERT's *_obj36.tsv. img_id is a name such as
// COCO_val2014_000000000042 (kept in Record.ImageName; ImageID is parsed from its
// trailing digits); the object and attribute columns are skipped.
var LXMERTFields = []string{"img_id", "img_h", "img_w", "objects_id", "objects_conf", "attrs_id", "attrs_conf", "num_boxes", "boxes", "features"}

// DefaultMaxTSVLine bounds one TSV line: 100 boxes × 2048 floats in base64 is
// about 1.1 MB, so 64 MiB leaves room for 1000 boxes and wide features.
const DefaultMaxTSVLine = 64 << 20

// ReadTSV streams records from a TSV with the columns TSVFields, calling fn for
// each; ReadTSVFields reads other column layouts such as LXMERTFields. name is used in errors together with the 1-based line number. Features
// are decoded only when opt.Features is set; opt.Classes and opt.Attrs do not
// apply (the TSV has no such columns). maxLine bounds a line (0: DefaultMaxTSVLine).
func ReadTSV(r io.Reader, name string, opt Options, maxLine int, fn func(*Record) error) error {
	return ReadTSVFields(r, name, TSVFields, opt, maxLine, fn)
}

// ReadTSVFields is ReadTSV for the column names fields, which must include an
// id (image_id or img_id), a width (image_w or img_w), a height (image_h or
// img_h), num_boxes and boxes; features is needed when opt.Features is set.
// Other columns are ignored.
func ReadTSVFields(r io.Reader, name string, fields []string, opt Options, maxLine int, fn func(*Record) error) error {
	col, err := tsvColumns(fields)
	if err != nil {
		return fmt.Errorf("features: %s: %w", name, err)
	}
	if opt.Features && col.features < 0 {
		return fmt.Errorf("features: %s: no features column in %v", name, fields)
	}
	if maxLine <= 0 {
		maxLine = DefaultMaxTSVLine
	}
	featDim, _, _, maxBoxes := opt.dims()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(1<<20, maxLine)), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimRight(sc.Bytes(), "\r")
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		rec, err := parseTSVLine(text, fields, col, opt, featDim, maxBoxes)
		if err != nil {
			return fmt.Errorf("features: %s line %d: %w", name, line, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return fmt.Errorf("features: %s line %d: line longer than %d bytes", name, line+1, maxLine)
		}
		return fmt.Errorf("features: %s line %d: %w", name, line+1, err)
	}
	return nil
}

type tsvCols struct{ id, w, h, n, boxes, features int }

func tsvColumns(fields []string) (tsvCols, error) {
	c := tsvCols{-1, -1, -1, -1, -1, -1}
	for i, f := range fields {
		switch f {
		case "image_id", "img_id":
			c.id = i
		case "image_w", "img_w":
			c.w = i
		case "image_h", "img_h":
			c.h = i
		case "num_boxes":
			c.n = i
		case "boxes":
			c.boxes = i
		case "features":
			c.features = i
		}
	}
	if c.id < 0 || c.w < 0 || c.h < 0 || c.n < 0 || c.boxes < 0 {
		return c, fmt.Errorf("columns %v lack an id, width, height, num_boxes or boxes", fields)
	}
	return c, nil
}

func parseTSVLine(text []byte, fields []string, col tsvCols, opt Options, featDim, maxBoxes int) (*Record, error) {
	cols := bytes.Split(text, []byte{'\t'})
	if len(cols) != len(fields) {
		return nil, fmt.Errorf("%d tab-separated columns, want %d (%v)", len(cols), len(fields), fields)
	}
	r := &Record{ImageName: string(bytes.TrimSpace(cols[col.id]))}
	id, err := strconv.ParseInt(r.ImageName, 10, 64)
	if err != nil {
		// LXMERT names: the image id is the trailing digits.
		k := len(r.ImageName)
		for k > 0 && r.ImageName[k-1] >= '0' && r.ImageName[k-1] <= '9' {
			k--
		}
		if id, err = strconv.ParseInt(r.ImageName[k:], 10, 64); err != nil {
			return nil, fmt.Errorf("image id %.40q has no numeric part", r.ImageName)
		}
	}
	r.ImageID = id
	var vals [3]int
	for k, c := range []int{col.w, col.h, col.n} {
		v, err := strconv.ParseInt(string(bytes.TrimSpace(cols[c])), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", fields[c], err)
		}
		if v < 0 || v > 1<<20 {
			return nil, fmt.Errorf("column %s = %d is out of range", fields[c], v)
		}
		vals[k] = int(v)
	}
	r.ImageW, r.ImageH, r.NumBoxes = vals[0], vals[1], vals[2]
	if err := checkHeader(r, maxBoxes); err != nil {
		return nil, err
	}
	if r.Boxes, _, err = decodeFloats("boxes", cols[col.boxes], r.NumBoxes, 4); err != nil {
		return nil, err
	}
	if opt.Features {
		if r.Features, r.FeatureDim, err = decodeFloats("features", cols[col.features], r.NumBoxes, featDim); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// LoadTSV reads a whole TSV file into a map keyed by image_id (as the original's
// load_precomputed_boxes). A repeated image_id is an error.
func LoadTSV(path string, opt Options) (map[int64]*Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	defer f.Close()
	out := map[int64]*Record{}
	err = ReadTSV(f, path, opt, 0, func(r *Record) error {
		if _, dup := out[r.ImageID]; dup {
			return fmt.Errorf("features: %s: image_id %d appears twice", path, r.ImageID)
		}
		out[r.ImageID] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
