package vqa

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/tokenizer"
)

// tallReader serves feature files with image_w and image_h swapped for paths
// containing tall, and counts reads.
type tallReader struct {
	fs    *zipfs.FS
	tall  string
	reads atomic.Int64
}

func (r *tallReader) ReadFile(path string) ([]byte, error) {
	r.reads.Add(1)
	b, err := r.fs.ReadFile(path)
	if err != nil || !strings.Contains(path, r.tall) {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["image_w"], m["image_h"] = m["image_h"], m["image_w"]
	return json.Marshal(m)
}

// TestFillImageSizes: entries without COCO sizes get their feature files'
// image_w × image_h, each file read once, and GroupIDs follows them (group 1
// for the image made taller than wide).
func TestFillImageSizes(t *testing.T) {
	d := testDataset(t, tokenizer.Default(true), 0)
	rd := &tallReader{fs: zipfs.New(), tall: "/42.json"}
	d.FS = rd
	want := map[int64][2]int{}
	for i := range d.Entries {
		e := &d.Entries[i]
		want[e.ImageID] = [2]int{e.Width, e.Height}
		e.Width, e.Height = 0, 0
	}
	if len(want) >= len(d.Entries) {
		t.Fatal("the fixture needs two questions on one image")
	}
	if err := d.FillImageSizes(); err != nil {
		t.Fatal(err)
	}
	if n := rd.reads.Load(); n != int64(len(want)) {
		t.Errorf("%d reads for %d images", n, len(want))
	}
	g := d.GroupIDs()
	for i, e := range d.Entries {
		w := want[e.ImageID]
		if e.ImageID == 42 {
			w[0], w[1] = w[1], w[0]
		}
		if e.Width != w[0] || e.Height != w[1] {
			t.Errorf("image %d: size %dx%d, want %dx%d", e.ImageID, e.Width, e.Height, w[0], w[1])
		}
		if wantG := map[bool]int{true: 1, false: 0}[e.ImageID == 42]; g[i] != wantG {
			t.Errorf("image %d: group %d, want %d", e.ImageID, g[i], wantG)
		}
	}
	// Known sizes are kept without a read.
	if err := d.FillImageSizes(); err != nil || rd.reads.Load() != int64(len(want)) {
		t.Errorf("second fill: %v, %d reads", err, rd.reads.Load())
	}
	d.Entries[0].Width = 0
	d.BoxFile = func(*Entry) string { return "testdata/missing.json" }
	if err := d.FillImageSizes(); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing feature file: %v", err)
	}
}
