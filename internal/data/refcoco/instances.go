package refcoco

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxJSONBytes bounds one instances or proposals JSON file (COCO's
// instances_train2014.json is about 330 MB).
var MaxJSONBytes int64 = 4 << 30

// Image is a COCO image record.
type Image struct {
	ID       int64  `json:"id"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	FileName string `json:"file_name"`
}

// Annotation is a COCO object annotation; segmentation is not kept.
type Annotation struct {
	ID         int64
	ImageID    int64
	CategoryID int64
	BBox       [4]float64 // x, y, w, h in pixels
}

// Category is a COCO category.
type Category struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Instances is a COCO-style instances file: refcoco+/instances.json (the refs' objects)
// or annotations/instances_train2014.json (candidate GT boxes and image sizes).
type Instances struct {
	Images      map[int64]Image // a duplicated id keeps the last record, like a Python dict
	Annotations []Annotation    // file order
	Categories  []Category

	byID    map[int64]int   // annotation id -> index (last wins)
	byImage map[int64][]int // image id -> indices in file order (pycocotools imgToAnns)
}

// Annotation returns the annotation with the given id.
func (in *Instances) Annotation(id int64) (Annotation, bool) {
	i, ok := in.byID[id]
	if !ok {
		return Annotation{}, false
	}
	return in.Annotations[i], true
}

// ImageAnnotations returns the annotations of an image in file order.
func (in *Instances) ImageAnnotations(imageID int64) []Annotation {
	idx := in.byImage[imageID]
	out := make([]Annotation, len(idx))
	for k, i := range idx {
		out[k] = in.Annotations[i]
	}
	return out
}

// ReadInstances reads a COCO instances JSON file, streaming it element by element.
func ReadInstances(path string) (*Instances, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("refcoco: %w", err)
	}
	defer f.Close()
	return ParseInstances(f, path)
}

// ParseInstances decodes COCO instances JSON from r; name is used in errors. Keys other
// than images, annotations and categories are skipped.
func ParseInstances(r io.Reader, name string) (*Instances, error) {
	in := &Instances{Images: map[int64]Image{}, byID: map[int64]int{}, byImage: map[int64][]int{}}
	dec := newDecoder(r)
	err := decodeObject(dec, func(key string) error {
		switch key {
		case "images":
			return decodeArray(dec, func(i int) error {
				var im Image
				if err := dec.Decode(&im); err != nil {
					return fmt.Errorf("images[%d]: %w", i, err)
				}
				in.Images[im.ID] = im
				return nil
			})
		case "annotations":
			return decodeArray(dec, func(i int) error {
				var raw struct {
					ID         *int64    `json:"id"`
					ImageID    *int64    `json:"image_id"`
					CategoryID int64     `json:"category_id"`
					BBox       []float64 `json:"bbox"`
				}
				if err := dec.Decode(&raw); err != nil {
					return fmt.Errorf("annotations[%d]: %w", i, err)
				}
				if raw.ID == nil || raw.ImageID == nil {
					return fmt.Errorf("annotations[%d]: missing id or image_id", i)
				}
				if len(raw.BBox) != 4 {
					return fmt.Errorf("annotations[%d] (id %d): bbox has %d numbers, want 4", i, *raw.ID, len(raw.BBox))
				}
				a := Annotation{ID: *raw.ID, ImageID: *raw.ImageID, CategoryID: raw.CategoryID, BBox: [4]float64(raw.BBox)}
				in.byID[a.ID] = len(in.Annotations)
				in.byImage[a.ImageID] = append(in.byImage[a.ImageID], len(in.Annotations))
				in.Annotations = append(in.Annotations, a)
				return nil
			})
		case "categories":
			return dec.Decode(&in.Categories)
		default:
			var skip json.RawMessage
			return dec.Decode(&skip)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("refcoco: %s: %w", name, err)
	}
	return in, nil
}

// Proposals maps an image id to its detection boxes [x, y, w, h] in file order.
type Proposals map[int64][][4]float64

// ReadProposals reads the MAttNet detections file
// (refcoco+/proposal/res101_coco_minus_refer_notime_dets.json): a JSON list of
// {"image_id", "box": [x, y, w, h], ...}.
func ReadProposals(path string) (Proposals, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("refcoco: %w", err)
	}
	defer f.Close()
	return ParseProposals(f, path)
}

// ParseProposals decodes a detections list from r; name is used in errors.
func ParseProposals(r io.Reader, name string) (Proposals, error) {
	p := Proposals{}
	dec := newDecoder(r)
	err := decodeArray(dec, func(i int) error {
		var raw struct {
			ImageID *int64    `json:"image_id"`
			Box     []float64 `json:"box"`
		}
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
		if raw.ImageID == nil {
			return fmt.Errorf("[%d]: missing image_id", i)
		}
		if len(raw.Box) != 4 {
			return fmt.Errorf("[%d] (image_id %d): box has %d numbers, want 4", i, *raw.ImageID, len(raw.Box))
		}
		p[*raw.ImageID] = append(p[*raw.ImageID], [4]float64(raw.Box))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("refcoco: %s: %w", name, err)
	}
	return p, nil
}

// errTooLarge is returned by limitedReader past MaxJSONBytes.
var errTooLarge = errors.New("file larger than refcoco.MaxJSONBytes")

type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func newDecoder(r io.Reader) *json.Decoder {
	return json.NewDecoder(bufio.NewReaderSize(&limitedReader{r: r, left: MaxJSONBytes}, 1<<20))
}

// decodeObject reads a JSON object and calls field for each key, which must consume the
// value.
func decodeObject(dec *json.Decoder, field func(key string) error) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if err := field(key); err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// decodeArray reads a JSON array and calls elem for each element, which must consume it.
func decodeArray(dec *json.Decoder, elem func(i int) error) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for i := 0; dec.More(); i++ {
		if err := elem(i); err != nil {
			return err
		}
	}
	_, err := dec.Token() // ']'
	return err
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("got %v, want %q", t, string(want))
	}
	return nil
}
