package features

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// JSONRecord mirrors the per-image JSON. The arrays stay base64 strings so that
// only requested fields are decoded; numbers are float64 so that "640.0" reads as
// 640. A caller that embeds a record in a larger document (the server's
// requests) decodes it in the same pass as the document and calls Record.
type JSONRecord struct {
	ImageID         json.RawMessage `json:"image_id"`
	ImageW          *float64        `json:"image_w"`
	ImageH          *float64        `json:"image_h"`
	NumBoxes        *float64        `json:"num_boxes"`
	Boxes           *string         `json:"boxes"`
	Features        *string         `json:"features"`
	Classes         *string         `json:"classes"`
	Attrs           *string         `json:"attrs"`
	ImageBoxFeature *string         `json:"image_box_feature"`
	// The detector's labels under LXMERT's names (vlbert detect writes them in
	// its TSV): accepted, not read.
	ObjectsID   json.RawMessage `json:"objects_id,omitempty"`
	ObjectsConf json.RawMessage `json:"objects_conf,omitempty"`
	AttrsID     json.RawMessage `json:"attrs_id,omitempty"`
	AttrsConf   json.RawMessage `json:"attrs_conf,omitempty"`
}

// Record checks and decodes the record's fields as ParseJSON does.
func (j *JSONRecord) Record(opt Options) (*Record, error) { return fromJSON(j, opt) }

func ParseJSON(name string, data []byte, opt Options) (*Record, error) {
	var j JSONRecord
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("features: %s: %w", name, err)
	}
	r, err := fromJSON(&j, opt)
	if err != nil {
		return nil, fmt.Errorf("features: %s: %w", name, err)
	}
	return r, nil
}

func intField(key string, v *float64) (int, error) {
	if v == nil {
		return 0, fmt.Errorf("missing field %s", key)
	}
	if *v != math.Trunc(*v) || math.Abs(*v) > 1<<31 {
		return 0, fmt.Errorf("field %s = %v is not an integer", key, *v)
	}
	return int(*v), nil
}

func fromJSON(j *JSONRecord, opt Options) (*Record, error) {
	featDim, numCls, numAttr, maxBoxes := opt.dims()
	r := &Record{}
	var err error
	if j.ImageID == nil {
		return nil, fmt.Errorf("missing field image_id")
	}
	// image_id is an integer; accept 12.0 too, since writers differ.
	if r.ImageID, err = strconv.ParseInt(string(j.ImageID), 10, 64); err != nil {
		f, ferr := strconv.ParseFloat(string(j.ImageID), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, fmt.Errorf("field image_id = %.40s is not an integer", j.ImageID)
		}
		r.ImageID = int64(f)
	}
	if r.ImageW, err = intField("image_w", j.ImageW); err != nil {
		return nil, err
	}
	if r.ImageH, err = intField("image_h", j.ImageH); err != nil {
		return nil, err
	}
	if r.NumBoxes, err = intField("num_boxes", j.NumBoxes); err != nil {
		return nil, err
	}
	if err := checkHeader(r, maxBoxes); err != nil {
		return nil, err
	}
	if j.Boxes == nil {
		return nil, fmt.Errorf("missing field boxes")
	}
	if r.Boxes, _, err = decodeFloats("boxes", []byte(*j.Boxes), r.NumBoxes, 4); err != nil {
		return nil, err
	}
	if opt.Features {
		if j.Features == nil {
			return nil, fmt.Errorf("missing field features")
		}
		if r.Features, r.FeatureDim, err = decodeFloats("features", []byte(*j.Features), r.NumBoxes, featDim); err != nil {
			return nil, err
		}
		if j.ImageBoxFeature != nil {
			if r.ImageBoxFeature, _, err = decodeFloats("image_box_feature", []byte(*j.ImageBoxFeature), 1, r.FeatureDim); err != nil {
				return nil, err
			}
		}
	}
	if opt.Classes {
		if j.Classes == nil {
			return nil, fmt.Errorf("missing field classes")
		}
		if r.Classes, r.NumClasses, err = decodeFloats("classes", []byte(*j.Classes), r.NumBoxes, numCls); err != nil {
			return nil, err
		}
	}
	if opt.Attrs && j.Attrs != nil {
		if r.Attrs, r.NumAttrs, err = decodeFloats("attrs", []byte(*j.Attrs), r.NumBoxes, numAttr); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Reader reads files by path; *zipfs.FS implements it, so do os.ReadFile wrappers.
type Reader interface {
	ReadFile(path string) ([]byte, error)
}

// LoadJSON reads and decodes the per-image JSON at path through fs (which
// resolves `archive.zip@/inner` paths).
func LoadJSON(fs Reader, path string, opt Options) (*Record, error) {
	data, err := fs.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	return ParseJSON(path, data, opt)
}
