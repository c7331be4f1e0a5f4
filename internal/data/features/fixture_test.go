package features

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata fixtures")

// encodeFloats writes float32 values as Python's base64.encodebytes does:
// standard alphabet, a newline after every 76 characters and at the end.
func encodeFloats(v []float32) string {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	s := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76])
		b.WriteByte('\n')
		s = s[76:]
	}
	b.WriteString(s)
	b.WriteByte('\n')
	return b.String()
}

// fakeImage draws a deterministic detection set for image id.
type fakeImage struct {
	ID             int64
	W, H, N        int
	Boxes, Feats   []float32
	Classes, Attrs []float32
}

func makeFakeImage(id int64, w, h, n, featDim, numCls, numAttr int) fakeImage {
	rng := rand.New(rand.NewPCG(uint64(id), 7))
	im := fakeImage{ID: id, W: w, H: h, N: n}
	for range n {
		x1 := float32(rng.IntN(w/2)) + 0.25
		y1 := float32(rng.IntN(h/2)) + 0.5
		x2 := x1 + float32(rng.IntN(w/2)) + 1
		y2 := y1 + float32(rng.IntN(h/2)) + 1
		im.Boxes = append(im.Boxes, x1, y1, x2, y2)
	}
	for range n * featDim {
		v := float32(0)
		if rng.Float32() < 0.4 { // pool5 features are ReLU outputs, mostly sparse
			v = rng.Float32() * 3
		}
		im.Feats = append(im.Feats, v)
	}
	softmax := func(k int) []float32 {
		row := make([]float32, k)
		var s float64
		for i := range row {
			e := math.Exp(rng.NormFloat64() * 3)
			row[i] = float32(e)
			s += e
		}
		for i := range row {
			row[i] = float32(float64(row[i]) / s)
		}
		return row
	}
	for range n {
		im.Classes = append(im.Classes, softmax(numCls)...)
	}
	for range n {
		im.Attrs = append(im.Attrs, softmax(numAttr)...)
	}
	return im
}

func (im fakeImage) json(withClasses bool) []byte {
	m := map[string]any{
		"image_id": im.ID, "image_w": im.W, "image_h": im.H, "num_boxes": im.N,
		"boxes": encodeFloats(im.Boxes), "features": encodeFloats(im.Feats),
	}
	if withClasses {
		m["classes"] = encodeFloats(im.Classes)
		m["attrs"] = encodeFloats(im.Attrs)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func (im fakeImage) tsv() string {
	strip := func(s string) string { return strings.ReplaceAll(s, "\n", "") }
	return fmt.Sprintf("%d\t%d\t%d\t%d\t%s\t%s\n", im.ID, im.W, im.H, im.N, strip(encodeFloats(im.Boxes)), strip(encodeFloats(im.Feats)))
}

// fixtureImages are the images written under testdata/: two VQA-style files with
// 2048-d features, one CC-style file with classes and attrs, and a TSV of two.
func fixtureImages() (vqa []fakeImage, cc fakeImage) {
	vqa = []fakeImage{
		makeFakeImage(9, 640, 480, 4, DefaultFeatureDim, DefaultNumClasses, DefaultNumAttrs),
		makeFakeImage(42, 500, 375, 3, DefaultFeatureDim, DefaultNumClasses, DefaultNumAttrs),
	}
	cc = makeFakeImage(1234, 400, 600, 3, DefaultFeatureDim, DefaultNumClasses, DefaultNumAttrs)
	return vqa, cc
}

func TestWriteFixtures(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata")
	}
	vqa, cc := fixtureImages()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var tsv strings.Builder
	for _, im := range vqa {
		write(fmt.Sprintf("%d.json", im.ID), im.json(false))
		tsv.WriteString(im.tsv())
	}
	write("cc_00001234.json", cc.json(true))
	write("obj.tsv", []byte(tsv.String()))
}
