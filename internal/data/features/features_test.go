package features

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type osReader struct{}

func (osReader) ReadFile(p string) ([]byte, error) { return os.ReadFile(p) }

func TestLoadJSONFixtures(t *testing.T) {
	vqa, cc := fixtureImages()
	for _, im := range vqa {
		path := filepath.Join("testdata", jsonName(im.ID))
		r, err := LoadJSON(osReader{}, path, VQAOptions())
		if err != nil {
			t.Fatal(err)
		}
		if r.ImageID != im.ID || r.ImageW != im.W || r.ImageH != im.H || r.NumBoxes != im.N || r.FeatureDim != 2048 {
			t.Errorf("%s: header %+v", path, *r)
		}
		if !slices.Equal(r.Boxes, im.Boxes) || !slices.Equal(r.Features, im.Feats) {
			t.Errorf("%s: decoded arrays differ from what was written", path)
		}
		if r.Classes != nil || r.ImageBoxFeature != nil {
			t.Errorf("%s: unexpected optional fields", path)
		}
	}
	path := filepath.Join("testdata", "cc_00001234.json")
	r, err := LoadJSON(osReader{}, path, Options{Features: true, Classes: true, Attrs: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Classes, cc.Classes) || r.NumClasses != 1601 || !slices.Equal(r.Attrs, cc.Attrs) || r.NumAttrs != 401 {
		t.Errorf("classes/attrs differ")
	}
	// Without Features the big array is skipped.
	r, err = LoadJSON(osReader{}, path, CCOptions(false))
	if err != nil || r.Features != nil || r.Classes == nil {
		t.Errorf("CCOptions(false): %v", err)
	}
}

func jsonName(id int64) string { return strings.TrimSpace(string(must(json.Marshal(id)))) + ".json" }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestImageBoxFeatureAndInferDim(t *testing.T) {
	m := map[string]any{"image_id": 5, "image_w": 10.0, "image_h": 20, "num_boxes": 2,
		"boxes":             encodeFloats([]float32{0, 0, 1, 1, 2, 2, 3, 3}),
		"features":          encodeFloats([]float32{1, 2, 3, 4, 5, 6}),
		"image_box_feature": encodeFloats([]float32{7, 8, 9})}
	data := must(json.Marshal(m))
	r, err := ParseJSON("x.json", data, Options{Features: true, FeatureDim: -1})
	if err != nil {
		t.Fatal(err)
	}
	if r.FeatureDim != 3 || !slices.Equal(r.ImageBoxFeature, []float32{7, 8, 9}) {
		t.Errorf("got dim %d, image box %v", r.FeatureDim, r.ImageBoxFeature)
	}
	if _, err := ParseJSON("x.json", data, Options{Features: true, FeatureDim: 4}); err == nil ||
		!strings.Contains(err.Error(), "x.json") || !strings.Contains(err.Error(), "features") {
		t.Errorf("wrong dim: err = %v", err)
	}
}

func TestMalformedJSON(t *testing.T) {
	good := must(os.ReadFile(filepath.Join("testdata", "42.json")))
	var m map[string]any
	if err := json.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(map[string]any)) []byte {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		f(c)
		return must(json.Marshal(c))
	}
	feats := m["features"].(string)
	cases := map[string]struct {
		data []byte
		want string
	}{
		"truncated base64":    {mutate(func(c map[string]any) { c["features"] = feats[:len(feats)-7] }), "features"},
		"wrong float count":   {mutate(func(c map[string]any) { c["num_boxes"] = 4 }), "want num_boxes"},
		"bad base64 char":     {mutate(func(c map[string]any) { c["boxes"] = "AAAA*AAA" }), "base64"},
		"missing boxes":       {mutate(func(c map[string]any) { delete(c, "boxes") }), "missing field boxes"},
		"missing features":    {mutate(func(c map[string]any) { delete(c, "features") }), "missing field features"},
		"negative num_boxes":  {mutate(func(c map[string]any) { c["num_boxes"] = -1 }), "num_boxes"},
		"huge num_boxes":      {mutate(func(c map[string]any) { c["num_boxes"] = 1e9 }), "num_boxes"},
		"fractional size":     {mutate(func(c map[string]any) { c["image_w"] = 1.5 }), "image_w"},
		"string image_id":     {mutate(func(c map[string]any) { c["image_id"] = "abc" }), "image_id"},
		"truncated json":      {good[:len(good)/2], "unexpected end"},
		"not json":            {[]byte("hello"), "invalid character"},
		"boxes not a string":  {mutate(func(c map[string]any) { c["boxes"] = 3 }), "boxes"},
		"zero-size image":     {mutate(func(c map[string]any) { c["image_h"] = 0 }), "image size"},
		"features odd length": {mutate(func(c map[string]any) { c["features"] = "AAAAAAA=" }), "float32"},
	}
	for name, c := range cases {
		_, err := ParseJSON("img/42.json", c.data, VQAOptions())
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), "img/42.json") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q should name the file and contain %q", name, err, c.want)
		}
	}
	_, err := LoadJSON(osReader{}, filepath.Join("testdata", "nope.json"), VQAOptions())
	if err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestTSVFixture(t *testing.T) {
	vqa, _ := fixtureImages()
	recs, err := LoadTSV(filepath.Join("testdata", "obj.tsv"), VQAOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(vqa) {
		t.Fatalf("%d records", len(recs))
	}
	for _, im := range vqa {
		r := recs[im.ID]
		if r == nil || r.NumBoxes != im.N || !slices.Equal(r.Boxes, im.Boxes) || !slices.Equal(r.Features, im.Feats) {
			t.Errorf("image %d differs", im.ID)
		}
	}
}

func TestMalformedTSV(t *testing.T) {
	good := must(os.ReadFile(filepath.Join("testdata", "obj.tsv")))
	lines := strings.SplitAfter(string(good), "\n")
	cols := strings.Split(strings.TrimRight(lines[1], "\n"), "\t")
	bad := func(i int, v string) string {
		c := slices.Clone(cols)
		c[i] = v
		return strings.Join(c, "\t") + "\n"
	}
	cases := map[string]struct{ line, want string }{
		"few columns":       {"1\t2\t3\n", "columns"},
		"bad int":           {bad(1, "x"), "image_w"},
		"truncated base64":  {bad(5, cols[5][:len(cols[5])-10]), "features"},
		"wrong float count": {bad(3, "2"), "want num_boxes"},
		"too many boxes":    {bad(3, "99999999"), "out of range"},
	}
	for name, c := range cases {
		err := ReadTSV(strings.NewReader(lines[0]+c.line), "obj.tsv", VQAOptions(), 0, func(*Record) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "obj.tsv line 2") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// A line over the limit is an error, not a silent stop.
	err := ReadTSV(bytes.NewReader(good), "obj.tsv", VQAOptions(), 1000, func(*Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("long line: %v", err)
	}
	// Duplicate ids.
	dir := t.TempDir()
	p := filepath.Join(dir, "dup.tsv")
	if err := os.WriteFile(p, []byte(lines[0]+lines[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTSV(p, VQAOptions()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := LoadTSV(filepath.Join(dir, "missing.tsv"), VQAOptions()); err == nil || !strings.Contains(err.Error(), "missing.tsv") {
		t.Errorf("missing: %v", err)
	}
}

// TestLXMERTTSV reads LXMERT's 10-column layout (named image ids, h before w,
// extra object/attribute columns that are skipped).
func TestLXMERTTSV(t *testing.T) {
	vqa, _ := fixtureImages()
	im := vqa[1]
	strip := func(s string) string { return strings.ReplaceAll(s, "\n", "") }
	line := strings.Join([]string{"COCO_val2014_000000000042", "375", "500", strip(encodeFloats([]float32{1, 2, 3})),
		strip(encodeFloats([]float32{.5, .5, .5})), "x", "y", "3", strip(encodeFloats(im.Boxes)), strip(encodeFloats(im.Feats))}, "\t") + "\n"
	var got []*Record
	err := ReadTSVFields(strings.NewReader(line), "obj36.tsv", LXMERTFields, VQAOptions(), 0, func(r *Record) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if r.ImageID != 42 || r.ImageName != "COCO_val2014_000000000042" || r.ImageW != 500 || r.ImageH != 375 ||
		!slices.Equal(r.Boxes, im.Boxes) || !slices.Equal(r.Features, im.Feats) {
		t.Errorf("record %d %q %dx%d", r.ImageID, r.ImageName, r.ImageW, r.ImageH)
	}
	if err := ReadTSVFields(strings.NewReader(line), "x.tsv", []string{"a", "b"}, VQAOptions(), 0, nil); err == nil {
		t.Error("field list without required columns accepted")
	}
}

func TestBase64Variants(t *testing.T) {
	for _, s := range []string{"AACAPw==", "AACAPw", "AAC\nAPw==\n", " AACA\r\nPw== "} {
		v, _, err := decodeFloats("f", []byte(s), 1, 1)
		if err != nil || len(v) != 1 || v[0] != 1 {
			t.Errorf("%q: %v %v", s, v, err)
		}
	}
}

func FuzzParseJSON(f *testing.F) {
	f.Add(must(os.ReadFile(filepath.Join("testdata", "42.json"))))
	f.Add([]byte(`{"image_id":1,"image_w":2,"image_h":3,"num_boxes":1,"boxes":"AAAAAAAAAAAAAAAAAAAAAA==","features":"AACAPw=="}`))
	f.Add([]byte(`{"image_id":1e30,"num_boxes":-3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseJSON("fuzz.json", data, Options{Features: true, Classes: false, FeatureDim: -1})
		if err == nil && (len(r.Boxes) != 4*r.NumBoxes || len(r.Features) != r.NumBoxes*r.FeatureDim) {
			t.Fatalf("inconsistent record %d boxes %d feats", len(r.Boxes), len(r.Features))
		}
	})
}

func FuzzReadTSV(f *testing.F) {
	good := must(os.ReadFile(filepath.Join("testdata", "obj.tsv")))
	f.Add(good[:bytes.IndexByte(good, '\n')+1])
	f.Add([]byte("1\t2\t3\t1\tAAAAAAAAAAAAAAAAAAAAAA==\tAACAPw==\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = ReadTSV(bytes.NewReader(data), "fuzz.tsv", Options{Features: true, FeatureDim: -1}, 1<<16, func(r *Record) error {
			if len(r.Boxes) != 4*r.NumBoxes || len(r.Features) != r.NumBoxes*r.FeatureDim {
				t.Fatalf("inconsistent record")
			}
			return nil
		})
	})
}

// TestCheckFeatureDim checks the record-width test the datasets run against
// the model's NETWORK.IMAGE_FEAT_DIM after reading with WithFeatureDim.
func TestCheckFeatureDim(t *testing.T) {
	m := map[string]any{"image_id": 5, "image_w": 10.0, "image_h": 20, "num_boxes": 2,
		"boxes":    encodeFloats([]float32{0, 0, 1, 1, 2, 2, 3, 3}),
		"features": encodeFloats([]float32{1, 2, 3, 4, 5, 6})}
	data := must(json.Marshal(m))
	r, err := ParseJSON("x.json", data, Options{Features: true}.WithFeatureDim())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFeatureDim("x.json", r, 3); err != nil {
		t.Errorf("matching width: %v", err)
	}
	for _, want := range []int{0, 256} {
		err := CheckFeatureDim("x.json", r, want)
		if err == nil {
			t.Fatalf("want %d: no error for 3-d features", want)
		}
		for _, s := range []string{"x.json", "3-d", "NETWORK.IMAGE_FEAT_DIM"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("want %d: error %q does not name %s", want, err, s)
			}
		}
	}
	if o := (Options{Features: true, FeatureDim: 128}).WithFeatureDim(); o.FeatureDim != 128 {
		t.Errorf("WithFeatureDim changed an explicit width to %d", o.FeatureDim)
	}
	r.Features = nil
	if err := CheckFeatureDim("x.json", r, 256); err != nil {
		t.Errorf("record without features: %v", err)
	}
}
