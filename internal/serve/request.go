package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/visual"
)

// RegionsInput is the image part of every request: either one image's record
// in the bottom-up-attention per-image JSON format (features), or a base64
// JPEG/PNG (image) with boxes [[x1, y1, x2, y2], ...] in its pixels.
type RegionsInput struct {
	// Features is decoded in the same pass as the request (unknown keys
	// refused), so a large record is scanned once, not once per check.
	Features *features.JSONRecord `json:"features,omitempty"`
	Image    string               `json:"image,omitempty"`
	Boxes    [][]float64          `json:"boxes,omitempty"`
}

// VQARequest is the body of POST /v1/vqa.
type VQARequest struct {
	Question string `json:"question"`
	TopK     int    `json:"top_k,omitempty"` // default 5; at most the answer count
	RegionsInput
}

// GroundRequest is the body of POST /v1/ground.
type GroundRequest struct {
	Expression string `json:"expression"`
	RegionsInput
}

// VCRRequest is the body of POST /v1/vcr.
type VCRRequest struct {
	Question string   `json:"question"`
	Choices  []string `json:"choices"`
	RegionsInput
}

// AttentionRequest is the body of POST /v1/attention.
type AttentionRequest struct {
	Text  string `json:"text"`
	Layer *int   `json:"layer,omitempty"` // one layer (0-based); all layers when absent
	RegionsInput
}

// requestError is a client error with its HTTP status.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{400, fmt.Sprintf(format, args...)}
}

// decodeJSON decodes exactly one JSON object from body into v, rejecting unknown
// fields and trailing data.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid JSON body: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("invalid JSON body: data after the request object")
	}
	return nil
}

func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON"
	case errors.As(err, &se):
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %q: cannot use a JSON %s as %s", te.Field, te.Value, te.Type)
		}
		return fmt.Sprintf("cannot use a JSON %s as %s", te.Value, te.Type)
	}
	// "json: unknown field \"x\"" already names the field.
	return strings.TrimPrefix(err.Error(), "json: ")
}

// regionSpec is a decoded RegionsInput: a feature record, or an image and boxes.
type regionSpec struct {
	record *features.Record
	image  *visual.RGBImage
	boxes  []float32
}

// Limits bound what a request may carry.
type Limits struct {
	MaxBodyBytes   int64 // whole request body (default 16 MiB)
	MaxRegions     int   // boxes besides the whole-image box (default 100)
	MaxImagePixels int64 // decoded image width·height (default 4 megapixels)
	MaxTokens      int   // wordpieces of the text (default 64)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 16 << 20
	}
	if l.MaxRegions <= 0 {
		l.MaxRegions = 100
	}
	if l.MaxImagePixels <= 0 {
		l.MaxImagePixels = 4_000_000
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = 64
	}
	return l
}

// decodeRegions checks and decodes the image part of a request. canUseImage
// says whether the checkpoint has the visual network: without it an image is
// refused before it is decoded.
func decodeRegions(in *RegionsInput, lim Limits, canUseImage bool, featDim int) (*regionSpec, error) {
	return decodeRegionsDetect(in, lim, canUseImage, false, featDim)
}

// decodeRegionsDetect is decodeRegions for a server that may also detect the
// regions of an image sent without boxes (canDetect: Config.Detector is set).
// A features record must be featDim wide, the model's NETWORK.IMAGE_FEAT_DIM.
func decodeRegionsDetect(in *RegionsInput, lim Limits, canUseImage, canDetect bool, featDim int) (*regionSpec, error) {
	hasFeat := in.Features != nil
	hasImage := in.Image != ""
	switch {
	case hasFeat && hasImage:
		return nil, badRequest("give either \"features\" or \"image\" with \"boxes\", not both")
	case !hasFeat && !hasImage:
		if len(in.Boxes) > 0 {
			return nil, badRequest("\"boxes\" needs an \"image\"")
		}
		return nil, badRequest("missing \"features\" (a bottom-up per-image record) or \"image\" with \"boxes\"")
	case hasFeat:
		if len(in.Boxes) > 0 {
			return nil, badRequest("\"boxes\" goes with \"image\"; a features record has its own boxes")
		}
		rec, err := in.Features.Record(features.Options{Features: true, MaxBoxes: lim.MaxRegions}.WithFeatureDim())
		if err != nil {
			return nil, badRequest("features: %s", err)
		}
		if rec.FeatureDim != featDim {
			return nil, badRequest("features: %d-d region features, want num_boxes·%d floats (the model's NETWORK.IMAGE_FEAT_DIM is %d)", rec.FeatureDim, featDim, featDim)
		}
		if rec.NumBoxes == 0 {
			return nil, badRequest("features: num_boxes is 0")
		}
		for i := 0; i < rec.NumBoxes; i++ {
			b := rec.Boxes[4*i : 4*i+4]
			if err := checkBox("features: box", i, float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])); err != nil {
				return nil, err
			}
		}
		return &regionSpec{record: rec}, nil
	}
	if len(in.Boxes) == 0 && !canDetect {
		return nil, badRequest("\"image\" needs \"boxes\": [[x1, y1, x2, y2], ...] (or a server started with --detector)")
	}
	if len(in.Boxes) > lim.MaxRegions {
		return nil, badRequest("%d boxes, over the limit of %d", len(in.Boxes), lim.MaxRegions)
	}
	boxes := make([]float32, 0, 4*len(in.Boxes))
	for i, b := range in.Boxes {
		if len(b) != 4 {
			return nil, badRequest("box %d has %d numbers, want 4 (x1, y1, x2, y2)", i, len(b))
		}
		if err := checkBox("box", i, b[0], b[1], b[2], b[3]); err != nil {
			return nil, err
		}
		boxes = append(boxes, float32(b[0]), float32(b[1]), float32(b[2]), float32(b[3]))
	}
	if len(boxes) > 0 && !canUseImage {
		return nil, fmt.Errorf("%w: image inputs need the ResNet weights (an e2e checkpoint, or vlbert serve --backbone); this checkpoint takes precomputed \"features\" only", infer.ErrUnsupported)
	}
	s := in.Image
	if i := strings.Index(s, ";base64,"); strings.HasPrefix(s, "data:") && i >= 0 {
		s = s[i+len(";base64,"):]
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, badRequest("\"image\" is not standard base64: %v", err)
	}
	img, err := visual.DecodeImageLimit(bytes.NewReader(raw), lim.MaxImagePixels)
	if err != nil {
		if errors.Is(err, visual.ErrImageTooLarge) {
			return nil, &requestError{413, fmt.Sprintf("image too large: %v (limit %d pixels)", err, lim.MaxImagePixels)}
		}
		return nil, badRequest("\"image\": %v", err)
	}
	return &regionSpec{image: img, boxes: boxes}, nil
}

// maxCoord bounds box coordinates (pixels) on both request paths.
const maxCoord = 1e6

// checkBox is the one box rule of both request paths: finite coordinates
// within [0, 1e6] pixels, x1 <= x2 and y1 <= y2.
func checkBox(what string, i int, x1, y1, x2, y2 float64) error {
	for _, v := range [4]float64{x1, y1, x2, y2} {
		if math.IsNaN(v) || v < 0 || v > maxCoord {
			return badRequest("%s %d has coordinate %g outside [0, %g]", what, i, v, float64(maxCoord))
		}
	}
	if x2 < x1 || y2 < y1 {
		return badRequest("%s %d has x2 < x1 or y2 < y1", what, i)
	}
	return nil
}

// checkText applies the character bound before tokenization (the token bound is
// the pipeline's).
func checkText(field, s string, lim Limits) error {
	if strings.TrimSpace(s) == "" {
		return badRequest("missing %q", field)
	}
	// A wordpiece is at least one character; this bounds the tokenizer's work.
	if len(s) > 16*lim.MaxTokens+256 {
		return badRequest("%q has %d bytes, too long (limit %d wordpieces)", field, len(s), lim.MaxTokens)
	}
	return nil
}
