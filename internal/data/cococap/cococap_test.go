package cococap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testCaptions = `{"images":[{"id":9},{"id":3},{"id":5}],
"annotations":[{"id":1,"image_id":9,"caption":"a dog"},{"id":2,"image_id":3,"caption":"first cat"},
{"id":3,"image_id":3,"caption":"second cat"},{"id":4,"image_id":5,"caption":"nothing here"}]}`

const testInstances = `{"images":[{"id":9,"file_name":"nine.png","width":20,"height":10},
{"id":3,"file_name":"three.png","width":30,"height":40},{"id":5,"file_name":"five.png","width":8,"height":8}],
"categories":[{"id":90,"name":"toothbrush"},{"id":1,"name":"person"},{"id":18,"name":"dog"}],
"annotations":[{"id":1,"image_id":3,"category_id":90,"bbox":[1,2,10,0.5],"area":5},
{"id":2,"image_id":9,"category_id":18,"bbox":[0,0,5,5],"area":25,"iscrowd":1},
{"id":3,"image_id":3,"category_id":1,"bbox":[4,4,3,3],"area":9}]}`

func writeSet(t *testing.T, caps, inst string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "annotations"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"captions_val2017.json": caps, "instances_val2017.json": inst} {
		if err := os.WriteFile(filepath.Join(dir, "annotations", name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoad(t *testing.T) {
	dir := writeSet(t, testCaptions, testInstances)
	items, err := Load(dir, "val")
	if err != nil {
		t.Fatal(err)
	}
	// Ascending ids; image 5 has no instance and is dropped; the crowd box counts.
	if len(items) != 2 || items[0].ImageID != 3 || items[1].ImageID != 9 {
		t.Fatalf("items %+v", items)
	}
	a := items[0]
	if a.Caption != "first cat" || a.ImagePath != filepath.Join(dir, "val2017", "three.png") || a.Width != 30 || a.Height != 40 {
		t.Fatalf("item 0 %+v", a)
	}
	// x2 = x + max(0, w-1): [1,2,10,0.5] -> (1,2,10,2); classes by sorted category id 1,18,90.
	want := []float32{1, 2, 10, 2, 4, 4, 6, 6}
	for i, v := range want {
		if a.Boxes[i] != v {
			t.Fatalf("boxes %v, want %v", a.Boxes, want)
		}
	}
	if a.Classes[0] != 3 || a.Classes[1] != 1 || items[1].Classes[0] != 2 {
		t.Fatalf("classes %v %v", a.Classes, items[1].Classes)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct{ caps, inst, set, want string }{
		{testCaptions, testInstances, "test", `image set "test"`},
		{`{"images":[{"id":1}],"annotations":[{"id":7,"image_id":2,"caption":"x"}]}`, testInstances, "val", "captions_val2017.json: annotations[0] (id 7): image_id 2"},
		{`{"images":[{"id":1}],"annotations":[{"id":7,"image_id":1,"caption":3}]}`, testInstances, "val", `captions_val2017.json: field "annotations.caption"`},
		{`{"images":[{"id":3}],"annotations":[]}`, testInstances, "val", "image 3 has instances but no caption"},
		{testCaptions, `{"images":[],"categories":[]}`, "val", "instances_val2017.json: no categories"},
	} {
		_, err := Load(writeSet(t, c.caps, c.inst), c.set)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	if _, err := Load(t.TempDir(), "val"); err == nil || !strings.Contains(err.Error(), "captions_val2017.json") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseCaptions(f *testing.F) {
	f.Add([]byte(testCaptions))
	f.Add([]byte(`{"images":[{"id":1},{"id":1}]}`))
	f.Add([]byte(`{"annotations":[{"image_id":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCaptions("fuzz", b)
		if err != nil {
			return
		}
		ims := map[int64]bool{}
		for _, im := range c.Images {
			ims[im.ID] = true
		}
		for _, a := range c.Annotations {
			if !ims[a.ImageID] {
				t.Fatalf("accepted a caption of unknown image %d", a.ImageID)
			}
		}
	})
}
