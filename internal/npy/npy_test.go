package npy

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadGolden(t *testing.T) {
	a, err := ReadFile("../../testdata/golden/vqa_in_im_info.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Shape, []int{2, 4}) || a.DType != "<f4" || len(a.F32) != 8 {
		t.Fatalf("im_info: shape %v dtype %s len %d", a.Shape, a.DType, len(a.F32))
	}
	q, err := ReadFile("../../testdata/golden/vqa_in_question.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q.Shape, []int{2, 19}) || q.DType != "<i8" || len(q.I64) != 38 {
		t.Fatalf("question: shape %v dtype %s", q.Shape, q.DType)
	}
	for _, id := range q.I64 {
		if id < 0 || id >= 3072 {
			t.Fatalf("question id %d outside the small vocabulary", id)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	cases := []*Array{
		NewF32([]float32{1, -2.5, 3e-8, 4}, 2, 2),
		NewF32([]float32{7}, 1),
		NewF32([]float32{}, 0, 3),
		NewI64([]int64{-1, 0, 1 << 40}, 3),
		NewF32([]float32{42}),
	}
	for _, a := range cases {
		var buf bytes.Buffer
		if err := Write(&buf, a); err != nil {
			t.Fatal(err)
		}
		if buf.Len()%64 != (4*len(a.F32)+8*len(a.I64))%64 {
			t.Errorf("shape %v: data does not start on a 64-byte boundary", a.Shape)
		}
		b, err := Read(&buf)
		if err != nil {
			t.Fatalf("shape %v: %v", a.Shape, err)
		}
		if !reflect.DeepEqual(a.Shape, b.Shape) || len(a.F32) != len(b.F32) || len(a.I64) != len(b.I64) {
			t.Fatalf("round trip changed %v to %v", a, b)
		}
		for i := range a.F32 {
			if a.F32[i] != b.F32[i] {
				t.Fatalf("value %d: %v != %v", i, a.F32[i], b.F32[i])
			}
		}
		for i := range a.I64 {
			if a.I64[i] != b.I64[i] {
				t.Fatalf("value %d: %v != %v", i, a.I64[i], b.I64[i])
			}
		}
	}
}

func TestNpzAndDirectory(t *testing.T) {
	dir := t.TempDir()
	arrays := map[string]*Array{"boxes": NewF32([]float32{1, 2, 3, 4}, 1, 4), "question": NewI64([]int64{5, 6}, 1, 2)}
	path := filepath.Join(dir, "in.npz")
	if err := WriteNpz(path, arrays); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNpz(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["boxes"].F32[3] != 4 || got["question"].I64[1] != 6 {
		t.Fatalf("npz round trip: %+v", got)
	}
	sub := filepath.Join(dir, "arrays")
	os.Mkdir(sub, 0o755)
	if err := WriteFile(filepath.Join(sub, "boxes.npy"), arrays["boxes"]); err != nil {
		t.Fatal(err)
	}
	got, err = ReadNpz(sub)
	if err != nil || len(got) != 1 || got["boxes"].F32[0] != 1 {
		t.Fatalf("directory: %v %+v", err, got)
	}
}

func TestBadInput(t *testing.T) {
	var good bytes.Buffer
	Write(&good, NewF32([]float32{1, 2, 3, 4}, 4))
	cases := map[string][]byte{
		"empty":     nil,
		"html":      []byte("<!DOCTYPE html><html>"),
		"truncated": good.Bytes()[:good.Len()-3],
		"huge":      []byte("\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000,), }     \n"),
		"fortran":   []byte("\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }            \n\x00\x00\x00\x00"),
		"dtype":     []byte("\x93NUMPY\x01\x00\x46\x00{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }           \n"),
	}
	for name, data := range cases {
		if _, err := Read(bytes.NewReader(data)); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "npy: ") {
			t.Errorf("%s: error %q lacks context", name, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.npz")
	os.WriteFile(bad, []byte("not a zip"), 0o644)
	if _, err := ReadNpz(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt npz: %v", err)
	}
}

func TestFloat16(t *testing.T) {
	for h, want := range map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x0001: 5.9604645e-08, 0x7bff: 65504, 0x0000: 0} {
		if got := Float16ToFloat32(h); got != want {
			t.Errorf("%#04x: %v, want %v", h, got, want)
		}
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	Write(&buf, NewF32([]float32{1, 2}, 2))
	f.Add(buf.Bytes())
	buf.Reset()
	Write(&buf, NewI64([]int64{1, 2, 3, 4}, 2, 2))
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Read(bytes.NewReader(data))
		if err == nil && a.Len() != len(a.F32)+len(a.I64) {
			t.Fatalf("array of shape %v holds %d values", a.Shape, len(a.F32)+len(a.I64))
		}
	})
}
