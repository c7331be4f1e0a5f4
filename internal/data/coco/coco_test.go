package coco

import (
	"strings"
	"testing"
)

const sample = `{"images":[{"id":7,"file_name":"a.png","width":96,"height":80}],
"annotations":[{"id":1,"image_id":7,"category_id":3,"bbox":[10,20,30,15],"area":450,"iscrowd":0,"attribute_ids":[5,2]},
{"id":2,"image_id":7,"category_id":1,"bbox":[0,0,96,80],"area":1,"iscrowd":1}],
"categories":[{"id":1,"name":"circle"},{"id":3,"name":"square"}],
"attributes":[{"id":2,"name":"red"},{"id":5,"name":"small"}]}`

func TestParseObjects(t *testing.T) {
	d, err := Parse("sample.json", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	objs := d.Objects()[7]
	if len(objs) != 1 {
		t.Fatalf("got %d objects, want 1 (the crowd one skipped)", len(objs))
	}
	o := objs[0]
	if o.Box != [4]float32{10, 20, 39, 34} || o.Class != 2 || len(o.Attrs) != 2 || o.Attrs[0] != 2 || o.Attrs[1] != 1 {
		t.Fatalf("object %+v", o)
	}
	if got := d.ClassNames(); strings.Join(got, ",") != "__background__,circle,square" {
		t.Fatalf("class names %v", got)
	}
	if d.NumClasses() != 3 || d.NumAttributes() != 3 {
		t.Fatalf("sizes %d %d", d.NumClasses(), d.NumAttributes())
	}
}

func TestErrorsNameTheAnnotation(t *testing.T) {
	for _, c := range []struct{ edit, want string }{
		{`"category_id":3,`, `annotations[0] (id 1): category_id 9`},
		{`"image_id":7,"category_id":3`, `annotations[0] (id 1): image_id 8`},
		{`[10,20,30,15]`, `annotations[0] (id 1): bbox [10 20 0 15]`},
		{`"attribute_ids":[5,2]`, `attribute id 4`},
		{`"width":96`, `images[0] (id 7): size 0x80`},
		{`"bbox":[10,20,30,15]`, `field "annotations.bbox"`},
	} {
		bad := map[string]string{
			`"category_id":3,`:             `"category_id":9,`,
			`"image_id":7,"category_id":3`: `"image_id":8,"category_id":3`,
			`[10,20,30,15]`:                `[10,20,0,15]`,
			`"attribute_ids":[5,2]`:        `"attribute_ids":[4]`,
			`"width":96`:                   `"width":0`,
			`"bbox":[10,20,30,15]`:         `"bbox":"x"`,
		}[c.edit]
		_, err := Parse("s.json", []byte(strings.Replace(sample, c.edit, bad, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "s.json") {
			t.Errorf("edit %s: error %v, want it to name the file and %q", c.edit, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`{"images":[],"annotations":[],"categories":[{"id":1,"name":"x"}]}`))
	f.Add([]byte(`{"annotations":[{"bbox":[1e400,0,1,1]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse("fuzz.json", b)
		if err != nil {
			return
		}
		for _, objs := range d.Objects() {
			for _, o := range objs {
				if o.Class < 1 || o.Class >= d.NumClasses() || !(o.Box[2] >= o.Box[0]) || !(o.Box[3] >= o.Box[1]) {
					t.Fatalf("invalid object %+v", o)
				}
			}
		}
	})
}
