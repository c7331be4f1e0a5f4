// Package features reads precomputed bottom-up-attention region features: the
// per-image JSON files that VL-BERT uses (read by vqa/data/datasets/vqa.py and conceptual_captions.py) and the classic TSV of
// LXMERT/bottom-up-attention (`*_obj36.tsv`), which the original only carries as
// dead code but users have.
//
// Every array field is base64 (standard alphabet, possibly wrapped with
// newlines as Python's base64.encodebytes writes it) of little-endian float32
// values. Decoding checks that the byte count is exactly num_boxes·dim·4, so a
// truncated or mislabelled file fails with an error naming the file (and, for
// TSV, the line) instead of producing a wrong reshape.
package features

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Default dimensions of the bottom-up-attention Visual Genome detector.
const (
	DefaultFeatureDim = 2048 // pool5_flat
	DefaultNumClasses = 1601 // 1600 VG classes + background
	DefaultNumAttrs   = 401  // 400 VG attributes + background
	// DefaultMaxBoxes bounds num_boxes before anything is allocated from it.
	DefaultMaxBoxes = 1000
)

// Record is one image's detections. Arrays are row-major float32:
// Boxes [NumBoxes,4] (x1,y1,x2,y2 in original-image pixels), Features
// [NumBoxes,FeatureDim], Classes [NumBoxes,NumClasses], Attrs [NumBoxes,NumAttrs],
// ImageBoxFeature [FeatureDim]. A field that was absent or not requested is nil.
type Record struct {
	ImageID         int64
	ImageName       string // the id column as written (TSV only; LXMERT uses names)
	ImageW, ImageH  int
	NumBoxes        int
	Boxes           []float32
	Features        []float32
	FeatureDim      int
	Classes         []float32
	NumClasses      int
	Attrs           []float32
	NumAttrs        int
	ImageBoxFeature []float32
}

// Options selects which fields to decode and their expected widths. A dimension
// of 0 means the default above; -1 means "infer from the byte count" (the
// original's reshape(num_boxes, -1)), which still requires divisibility.
type Options struct {
	Features bool // decode `features` (and `image_box_feature`); needed for precomputed mode
	Classes  bool // decode `classes`; required when set (Conceptual Captions)
	Attrs    bool // decode `attrs` if present

	FeatureDim, NumClasses, NumAttrs int
	MaxBoxes                         int // 0 means DefaultMaxBoxes
}

// VQAOptions decodes boxes and features, as the VQA dataset in precomputed mode.
func VQAOptions() Options { return Options{Features: true} }

// CCOptions decodes boxes, classes and (for precomputed mode) features, as the
// Conceptual Captions dataset.
func CCOptions(precomputed bool) Options { return Options{Features: precomputed, Classes: true} }

// CheckFeatureDim reports a record whose region features are not want-d wide
// (the model's NETWORK.IMAGE_FEAT_DIM), naming the file, both widths and the
// key that changes the model's. want 0 means DefaultFeatureDim. A record
// without features passes.
func CheckFeatureDim(path string, rec *Record, want int) error {
	if want == 0 {
		want = DefaultFeatureDim
	}
	if rec.Features == nil || rec.FeatureDim == want {
		return nil
	}
	return fmt.Errorf("%s: region features are %d-d, the model takes %d-d (NETWORK.IMAGE_FEAT_DIM = %d; set it to %d to read these features)",
		path, rec.FeatureDim, want, want, rec.FeatureDim)
}

// WithFeatureDim returns o reading features of any width (-1, as the original's
// reshape(num_boxes, -1)) when it asks for the default, so that the caller's
// CheckFeatureDim can name the width the file has.
func (o Options) WithFeatureDim() Options {
	if o.Features && o.FeatureDim == 0 {
		o.FeatureDim = -1
	}
	return o
}

func (o Options) dims() (feat, cls, attr, maxBoxes int) {
	pick := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	return pick(o.FeatureDim, DefaultFeatureDim), pick(o.NumClasses, DefaultNumClasses),
		pick(o.NumAttrs, DefaultNumAttrs), pick(o.MaxBoxes, DefaultMaxBoxes)
}

// decodeFloats decodes base64 float32 data holding rows×dim values (dim -1:
// rows×anything). It returns the values and the row width.
func decodeFloats(field string, b64 []byte, rows, dim int) ([]float32, int, error) {
	raw, err := decodeBase64(b64)
	if err != nil {
		return nil, 0, fmt.Errorf("field %s: %w", field, err)
	}
	if len(raw)%4 != 0 {
		return nil, 0, fmt.Errorf("field %s: %d bytes is not a whole number of float32", field, len(raw))
	}
	n := len(raw) / 4
	if dim < 0 {
		if rows == 0 || n%rows != 0 {
			return nil, 0, fmt.Errorf("field %s: %d floats do not split into %d rows", field, n, rows)
		}
		dim = n / rows
	} else if n != rows*dim {
		return nil, 0, fmt.Errorf("field %s: %d floats, want num_boxes·%d = %d·%d = %d (%d bytes, want %d)",
			field, n, dim, rows, dim, rows*dim, len(raw), rows*dim*4)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, dim, nil
}

// decodeBase64 decodes standard base64, ignoring ASCII whitespace (line wraps),
// with or without trailing padding. Other non-alphabet bytes are an error
// (Python's decodebytes silently skips them; a corrupt file should not pass).
func decodeBase64(src []byte) ([]byte, error) {
	clean := make([]byte, 0, len(src))
	for _, c := range src {
		switch c {
		case ' ', '\n', '\r', '\t', '\v', '\f':
		default:
			clean = append(clean, c)
		}
	}
	enc := base64.StdEncoding
	if len(clean)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	dst := make([]byte, enc.DecodedLen(len(clean)))
	n, err := enc.Decode(dst, clean)
	if err != nil {
		var cie base64.CorruptInputError
		if errors.As(err, &cie) {
			return nil, fmt.Errorf("invalid base64 at byte %d of %d (truncated or corrupt)", int64(cie), len(clean))
		}
		return nil, err
	}
	return dst[:n], nil
}

// checkHeader validates the scalar fields before any array is decoded.
func checkHeader(r *Record, maxBoxes int) error {
	if r.NumBoxes < 0 || r.NumBoxes > maxBoxes {
		return fmt.Errorf("num_boxes %d outside [0, %d]", r.NumBoxes, maxBoxes)
	}
	if r.ImageW <= 0 || r.ImageH <= 0 || r.ImageW > 1<<20 || r.ImageH > 1<<20 {
		return fmt.Errorf("image size %dx%d is not positive and sane", r.ImageW, r.ImageH)
	}
	return nil
}
