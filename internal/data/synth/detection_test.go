package synth

import (
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/data/coco"
)

// TestDetectionRoundTrip: the world's detection labels go through the COCO
// reader a user's data set would use and come back as the scenes' objects.
func TestDetectionRoundTrip(t *testing.T) {
	cfg := Config{Seed: 5, TrainScenes: 3, ValScenes: 2, ImageSize: 64, MinObjects: 2, MaxObjects: 3}
	w, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteDetection(w, dir); err != nil {
		t.Fatal(err)
	}
	d, err := coco.Read(filepath.Join(dir, "instances_val.json"))
	if err != nil {
		t.Fatal(err)
	}
	objs := d.Objects()
	names, attrs := d.ClassNames(), d.AttributeNames()
	for _, s := range w.Val {
		got := objs[int64(s.ID)]
		if len(got) != len(s.Objects) {
			t.Fatalf("scene %d: %d objects, want %d", s.ID, len(got), len(s.Objects))
		}
		for i, o := range s.Objects {
			g := got[i]
			if g.Box != o.Box || names[g.Class] != Shapes[o.Shape] || attrs[g.Attrs[0]] != Colors[o.Color] || attrs[g.Attrs[1]] != Sizes[o.Size] {
				t.Fatalf("scene %d object %d: %+v, want %+v", s.ID, i, g, o)
			}
		}
	}
}
