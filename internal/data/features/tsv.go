package features

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
)

// TSVFields are the columns of the classic bottom-up-attention TSV, in order.
var TSVFields = []string{"image_id", "image_w", "image_h", "num_boxes", "boxes", "features"}

// DefaultMaxTSVLine bounds one TSV line: 100 boxes × 2048 floats in base64 is
// about 1.1 MB, so 64 MiB leaves room for 1000 boxes and wide features.
const DefaultMaxTSVLine = 64 << 20

// ReadTSV streams records from a TSV with the columns TSVFields, calling fn for
// each. name is used in errors together with the 1-based line number. Features
// are decoded only when opt.Features is set; opt.Classes and opt.Attrs do not
// apply (the TSV has no such columns). maxLine bounds a line (0: DefaultMaxTSVLine).
func ReadTSV(r io.Reader, name string, opt Options, maxLine int, fn func(*Record) error) error {
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
		rec, err := parseTSVLine(text, opt, featDim, maxBoxes)
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

func parseTSVLine(text []byte, opt Options, featDim, maxBoxes int) (*Record, error) {
	cols := bytes.Split(text, []byte{'\t'})
	if len(cols) != len(TSVFields) {
		return nil, fmt.Errorf("%d tab-separated columns, want %d (%v)", len(cols), len(TSVFields), TSVFields)
	}
	ints := make([]int64, 4)
	for i := range 4 {
		v, err := strconv.ParseInt(string(bytes.TrimSpace(cols[i])), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", TSVFields[i], err)
		}
		ints[i] = v
	}
	if ints[1] > 1<<20 || ints[2] > 1<<20 || ints[3] > int64(maxBoxes) || ints[3] < 0 {
		return nil, fmt.Errorf("image %dx%d with %d boxes is out of range", ints[1], ints[2], ints[3])
	}
	r := &Record{ImageID: ints[0], ImageW: int(ints[1]), ImageH: int(ints[2]), NumBoxes: int(ints[3])}
	if err := checkHeader(r, maxBoxes); err != nil {
		return nil, err
	}
	var err error
	if r.Boxes, _, err = decodeFloats("boxes", cols[4], r.NumBoxes, 4); err != nil {
		return nil, err
	}
	if opt.Features {
		if r.Features, r.FeatureDim, err = decodeFloats("features", cols[5], r.NumBoxes, featDim); err != nil {
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
