package vcr

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// MaxMetadataBytes bounds one per-image metadata file (real ones are tens of KB).
const MaxMetadataBytes = 64 << 20

// Point is one polygon vertex (x, y) in original image pixels.
type Point [2]float64

// Metadata is a per-image VCR metadata JSON file (vcr1images/<movie>/<image>.json).
type Metadata struct {
	// Boxes holds one [x1, y1, x2, y2, score] row per detection, in original pixels.
	Boxes [][5]float64
	// Segms holds, per detection, its polygons; each polygon is a list of vertices.
	Segms  [][][]Point
	Names  []string // detector class names (unused by the model)
	Width  int      // image size as recorded (the original uses the decoded image's size instead)
	Height int
}

// ReadMetadata reads and validates one metadata file.
func ReadMetadata(path string) (*Metadata, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vcr: %w", err)
	}
	defer f.Close()
	return ParseMetadata(f, path)
}

// ParseMetadata decodes a metadata JSON document from r; name is used in errors. Every
// box must have 5 numbers, every vertex 2, and there must be one segms entry per box.
func ParseMetadata(r io.Reader, name string) (*Metadata, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("vcr: %s: %w", name, err)
	}
	if len(data) > MaxMetadataBytes {
		return nil, fmt.Errorf("vcr: %s: metadata larger than %d bytes", name, MaxMetadataBytes)
	}
	var raw struct {
		Boxes  [][]float64     `json:"boxes"`
		Segms  [][][][]float64 `json:"segms"`
		Names  []string        `json:"names"`
		Width  float64         `json:"width"`
		Height float64         `json:"height"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("vcr: %s: %w", name, err)
	}
	if raw.Boxes == nil {
		return nil, fmt.Errorf("vcr: %s: missing key boxes", name)
	}
	if len(raw.Segms) != len(raw.Boxes) {
		return nil, fmt.Errorf("vcr: %s: %d segms for %d boxes", name, len(raw.Segms), len(raw.Boxes))
	}
	m := &Metadata{
		Boxes: make([][5]float64, len(raw.Boxes)),
		Segms: make([][][]Point, len(raw.Segms)),
		Names: raw.Names, Width: int(raw.Width), Height: int(raw.Height),
	}
	for i, b := range raw.Boxes {
		if len(b) != 5 {
			return nil, fmt.Errorf("vcr: %s: boxes[%d] has %d numbers, want 5 (x1, y1, x2, y2, score)", name, i, len(b))
		}
		copy(m.Boxes[i][:], b)
	}
	for i, polys := range raw.Segms {
		m.Segms[i] = make([][]Point, len(polys))
		for j, poly := range polys {
			pts := make([]Point, len(poly))
			for k, p := range poly {
				if len(p) != 2 {
					return nil, fmt.Errorf("vcr: %s: segms[%d][%d][%d] has %d numbers, want 2 (x, y)", name, i, j, k, len(p))
				}
				pts[k] = Point{p[0], p[1]}
			}
			m.Segms[i][j] = pts
		}
	}
	return m, nil
}
