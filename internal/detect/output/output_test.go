package output

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/features"
)

// testImage has n boxes of d-dim features, c classes and a attributes; box
// r's best foreground class is r%(c-1)+1, its best attribute r%(a-1)+1.
func testImage(id string, n, d, c, a int) *Image {
	im := &Image{ID: id, Name: "COCO_val2014_" + id, Width: 640, Height: 480, NumBoxes: n}
	for r := range n {
		x := float32(10 * r)
		im.Boxes = append(im.Boxes, x, x+1.5, x+100.25, x+50)
		for j := range d {
			im.Features = append(im.Features, float32(r*d+j)/7)
		}
		for j := range c {
			im.Classes = append(im.Classes, map[bool]float32{true: 0.9, false: 0.01}[j == r%(c-1)+1])
		}
		for j := range a {
			im.Attrs = append(im.Attrs, map[bool]float32{true: 0.6, false: 0.02}[j == r%(a-1)+1])
		}
	}
	return im
}

func TestJSONReadBackByVlbert(t *testing.T) {
	dir := t.TempDir()
	im := testImage("42", 3, 5, 6, 4)
	if err := WriteJSON(dir, "COCO_val2014_000000000042", im); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(JSONPath(dir, "COCO_val2014_000000000042"))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	})
	if want := []string{"attrs", "boxes", "classes", "features", "image_h", "image_id", "image_w", "num_boxes"}; !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	if keys["image_id"] != float64(42) {
		t.Errorf("image_id %v is not the number 42", keys["image_id"])
	}
	rec, err := features.ParseJSON("x.json", data, features.Options{Features: true, Classes: true, Attrs: true, FeatureDim: 5, NumClasses: 6, NumAttrs: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ImageID != 42 || rec.ImageW != 640 || rec.ImageH != 480 || rec.NumBoxes != 3 ||
		!slices.Equal(rec.Boxes, im.Boxes) || !slices.Equal(rec.Features, im.Features) ||
		!slices.Equal(rec.Classes, im.Classes) || !slices.Equal(rec.Attrs, im.Attrs) {
		t.Errorf("read back %+v", rec)
	}
	// A stem without digits stays a string id; resume still accepts it.
	im2 := testImage("dog", 2, 5, 6, 4)
	if err := WriteJSON(dir, "dog", im2); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(dir, "empty", testImage("5", 0, 5, 6, 4)); err != nil { // no boxes: still done
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "broken.json"), data[:len(data)/2], 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	done, bad, err := DoneJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 3 || !done["dog"] || !done["empty"] || !done["COCO_val2014_000000000042"] || len(bad) != 1 || !strings.Contains(bad[0], "broken.json") {
		t.Errorf("done %v, bad %v", done, bad)
	}
	if d, b, err := DoneJSON(filepath.Join(dir, "absent")); err != nil || len(d) != 0 || len(b) != 0 {
		t.Errorf("absent dir: %v %v %v", d, b, err)
	}
	bad3 := testImage("7", 2, 5, 6, 4)
	bad3.Features = bad3.Features[:9]
	if err := WriteJSON(dir, "7", bad3); err == nil || !strings.Contains(err.Error(), "features") {
		t.Errorf("ragged features: %v", err)
	}
	if _, err := os.Stat(JSONPath(dir, "7")); err == nil {
		t.Error("a rejected image left a file")
	}
}

func TestTSVAppendResume(t *testing.T) {
	p := filepath.Join(t.TempDir(), "val_obj36.tsv")
	w, st, err := OpenTSV(p)
	if err != nil || len(st.Done) != 0 {
		t.Fatal(st, err)
	}
	ims := []*Image{testImage("000000000042", 3, 5, 6, 4), testImage("000000000009", 2, 5, 6, 4)}
	for _, im := range ims {
		if err := w.Write(im); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	// vlbert's LXMERT reader reads the rows back.
	f, _ := os.Open(p)
	var recs []*features.Record
	err = features.ReadTSVFields(f, p, features.LXMERTFields, features.Options{Features: true, FeatureDim: 5}, 0, func(r *features.Record) error {
		recs = append(recs, r)
		return nil
	})
	f.Close()
	if err != nil || len(recs) != 2 {
		t.Fatal(len(recs), err)
	}
	if recs[0].ImageName != "COCO_val2014_000000000042" || recs[0].ImageID != 42 || recs[0].ImageW != 640 || recs[0].ImageH != 480 ||
		!slices.Equal(recs[0].Boxes, ims[0].Boxes) || !slices.Equal(recs[1].Features, ims[1].Features) {
		t.Errorf("read back %+v", recs[0])
	}
	// objects_id / attrs_id are int64 argmax over the foreground columns
	// (box r: class r%5+1 -> id r%5), conf float32.
	line, _ := os.ReadFile(p)
	cols := strings.Split(strings.SplitN(string(line), "\n", 2)[0], "\t")
	raw, _ := base64.StdEncoding.DecodeString(cols[3])
	conf, _ := base64.StdEncoding.DecodeString(cols[4])
	if len(raw) != 24 || binary.LittleEndian.Uint64(raw[8:]) != 1 || binary.LittleEndian.Uint32(conf[4:]) != 0x3f666666 {
		t.Errorf("objects_id %v conf %v", raw, conf)
	}
	attrs, _ := base64.StdEncoding.DecodeString(cols[5])
	if binary.LittleEndian.Uint64(attrs[16:]) != 2 {
		t.Errorf("attrs_id %v", attrs)
	}

	// A crash mid-row leaves a partial line: it is dropped, then appending
	// goes on after the complete rows.
	row, _ := EncodeTSVRow(testImage("000000000077", 2, 5, 6, 4))
	fa, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	fa.Write(row[:len(row)/2])
	fa.Close()
	w, st, err = OpenTSV(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 2 || !st.Done["COCO_val2014_000000000009"] || !strings.Contains(st.Dropped, "line 3") {
		t.Errorf("state %+v", st)
	}
	if err := w.Write(testImage("000000000077", 2, 5, 6, 4)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	st, err = DoneTSV(p)
	if err != nil || st.Rows != 3 || st.Dropped != "" || !st.Done["COCO_val2014_000000000077"] {
		t.Errorf("after resume: %+v %v", st, err)
	}

	// A damaged complete row is an error naming the line, not a silent skip.
	data, _ := os.ReadFile(p)
	lines := strings.SplitAfter(string(data), "\n")
	lines[1] = strings.Replace(lines[1], "\t2\t", "\t3\t", 1)
	bad := filepath.Join(t.TempDir(), "bad.tsv")
	os.WriteFile(bad, []byte(strings.Join(lines, "")), 0o644)
	if _, err := DoneTSV(bad); err == nil || !strings.Contains(err.Error(), "bad.tsv line 2") {
		t.Errorf("damaged row: %v", err)
	}
	dup := filepath.Join(t.TempDir(), "dup.tsv")
	os.WriteFile(dup, []byte(lines[0]+lines[0]), 0o644)
	if _, err := DoneTSV(dup); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate: %v", err)
	}
	noCls := testImage("1", 1, 5, 6, 4)
	noCls.Classes = nil
	if _, err := EncodeTSVRow(noCls); err == nil {
		t.Error("TSV row without class probabilities accepted")
	}
}

func FuzzScanTSV(f *testing.F) {
	row, _ := EncodeTSVRow(testImage("000000000042", 2, 3, 4, 3))
	f.Add(row)
	f.Add(append(slices.Clone(row), row[:20]...))
	f.Add([]byte("a\t1\t1\t\t\t\t\t0\t\t\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, n, err := ScanTSV(bytes.NewReader(b), "fuzz.tsv")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.tsv") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if n < 0 || n > int64(len(b)) || (n < int64(len(b))) != (st.Dropped != "") {
			t.Fatalf("complete %d of %d bytes, dropped %q", n, len(b), st.Dropped)
		}
		if n > 0 && b[n-1] != '\n' {
			t.Fatalf("complete prefix does not end a line")
		}
	})
}

func FuzzCheckJSON(f *testing.F) {
	var buf bytes.Buffer
	EncodeJSON(&buf, testImage("42", 2, 3, 4, 3))
	f.Add(buf.Bytes())
	f.Add([]byte(`{"image_id":"x","image_w":1,"image_h":1,"num_boxes":0,"boxes":"","features":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := CheckJSON("fuzz.json", b)
		if err != nil && !strings.Contains(err.Error(), "fuzz.json") {
			t.Fatalf("error without the file name: %v", err)
		}
	})
}
