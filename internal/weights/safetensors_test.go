package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleTensors() map[string]*Tensor {
	return map[string]*Tensor{
		"a.weight":            NewF32([]float32{1, -2.5, 3e-8, 4}, 2, 2),
		"b.bias":              NewF32([]float32{0.5}, 1),
		"scalar":              NewF32([]float32{7}),
		"empty":               NewF32([]float32{}, 0, 3),
		"num_batches_tracked": NewI64([]int64{1 << 40}),
		"mask":                {Shape: []int{3}, DType: "BOOL", I64: []int64{1, 0, 1}},
		"ids":                 {Shape: []int{2}, DType: "I32", I64: []int64{-5, 1 << 30}},
		"half_read_as_f32":    {Shape: []int{1}, DType: "F16", F32: []float32{0.25}},
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	in := sampleTensors()
	meta := map[string]string{"step": "3", "note": "<ok>"}
	if err := WriteSafetensors(path, in, meta); err != nil {
		t.Fatal(err)
	}
	out, gotMeta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) || gotMeta["step"] != "3" || gotMeta["note"] != "<ok>" {
		t.Fatalf("got %d tensors, meta %v", len(out), gotMeta)
	}
	for k, w := range in {
		g := out[k]
		wantDT := w.DType
		if w.IsFloat() {
			wantDT = "F32" // floats are written as F32
		}
		if g == nil || !g.Equal(w) || g.DType != wantDT {
			t.Errorf("%s: got %+v, want %+v (%s)", k, g, w, wantDT)
		}
	}
	// Header layout: 8-byte aligned data, offsets in sorted-name order.
	raw, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(raw)
	if n%8 != 0 {
		t.Errorf("header length %d not 8-aligned", n)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(hdr["a.weight"]), `"data_offsets":[0,16]`) || !strings.Contains(string(hdr["ids"]), `"dtype":"I32"`) {
		t.Errorf("header %s / %s", hdr["a.weight"], hdr["ids"])
	}
}

func TestSafetensorsWriteErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tensors := range map[string]map[string]*Tensor{
		"overflow":  {"x": {Shape: []int{1}, DType: "I8", I64: []int64{300}}},
		"count":     {"x": {Shape: []int{3}, DType: "F32", F32: []float32{1}}},
		"reserved":  {"__metadata__": NewF32([]float32{1}, 1)},
		"nil":       {"x": nil},
		"bad_dtype": {"x": {Shape: []int{1}, DType: "C64", I64: []int64{1}}},
	} {
		path := filepath.Join(dir, name)
		if err := WriteSafetensors(path, tensors, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s: failed write left a file", name)
		}
	}
}

// st builds a safetensors file from a raw header and data section.
func st(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestSafetensorsMalformed(t *testing.T) {
	eight := make([]byte, 8)
	for name, c := range map[string]struct {
		file []byte
		want string
	}{
		"short":        {[]byte{1, 2}, "too short"},
		"huge_header":  {append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, eight...), "header length"},
		"bad_json":     {st(`{"a":`, nil), "header JSON"},
		"bad_meta":     {st(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		"dtype":        {st(`{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,8]}}`, eight), "unsupported dtype"},
		"missing":      {st(`{"a":{"dtype":"F32","shape":[2]}}`, eight), "required"},
		"unknown":      {st(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, eight), "unknown field"},
		"out_of_range": {st(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, eight), "outside"},
		"shape":        {st(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight), "needs 12 bytes"},
		"negative":     {st(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), "does not fit"},
		"huge_shape":   {st(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight), "does not fit"},
		"overlap":      {st(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "overlaps"},
		"hole":         {st(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "hole"},
		"trailing":     {st(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, eight), "tensors cover 4"},
	} {
		_, _, err := ReadSafetensorsFrom(bytes.NewReader(c.file), int64(len(c.file)), name+".safetensors")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), name+".safetensors") {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}

// Files of the reference implementation use F16/BF16/I64 too; those read back as F32/I64.
func TestSafetensorsReadsHalf(t *testing.T) {
	f := st(`{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"__metadata__":{"format":"pt"}}  `, []byte{0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f})
	ts, meta, err := ReadSafetensorsFrom(bytes.NewReader(f), int64(len(f)), "h")
	if err != nil {
		t.Fatal(err)
	}
	if h := ts["h"]; h.DType != "F16" || h.F32[0] != 1 || h.F32[1] != -2 || ts["b"].F32[0] != 1 || meta["format"] != "pt" {
		t.Errorf("got %+v %+v %v", ts["h"], ts["b"], meta)
	}
}

func FuzzReadSafetensors(f *testing.F) {
	var b bytes.Buffer
	if err := EncodeSafetensors(&b, sampleTensors(), map[string]string{"k": "v"}); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add(st(`{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, []byte{0, 0x3c, 0, 0xc0}))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, _, err := ReadSafetensorsFrom(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		for k, tn := range ts {
			if len(tn.F32)+len(tn.I64) != tn.Numel() {
				t.Fatalf("%s: %d values for shape %v", k, len(tn.F32)+len(tn.I64), tn.Shape)
			}
		}
		// What reads must write and read back identically.
		var out bytes.Buffer
		if err := EncodeSafetensors(&out, ts, nil); err != nil {
			return // e.g. F16 values are written as F32: fine; only dtype errors possible here
		}
		back, _, err := ReadSafetensorsFrom(bytes.NewReader(out.Bytes()), int64(out.Len()), "again")
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		for k, tn := range ts {
			if !back[k].Equal(tn) {
				t.Fatalf("%s changed on round trip", k)
			}
		}
	})
}
