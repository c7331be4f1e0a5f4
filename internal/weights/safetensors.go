package weights

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/vlbert/vlbert/internal/atomicfile"
)

// Safetensors layout (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into the
// data section that follows) plus an optional "__metadata__" string map,
// then the raw little-endian tensor data.

// maxSafetensorsHeader is the largest JSON header accepted (the reference
// implementation's limit).
const maxSafetensorsHeader = 100 << 20

// ReadSafetensors reads a safetensors file. Floating point tensors come back
// in F32 (F16, BF16 and F64 converted), integer and bool tensors in I64. The
// data is checked against the SHA-256 in the metadata when the file has one
// (vlbert writes it), and a tensor holding NaN or Inf is an error naming it
// (ReadSafetensorsFrom, the decoder, allows them).
func ReadSafetensors(path string) (map[string]*Tensor, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("weights: %w", err)
	}
	tensors, meta, err := ReadSafetensorsFrom(f, st.Size(), path)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range sortedKeys(tensors) {
		if err := CheckFinite(k, tensors[k]); err != nil {
			return nil, nil, fmt.Errorf("weights: %s: %w", path, err)
		}
	}
	return tensors, meta, nil
}

// ReadSafetensorsMetadata reads only the "__metadata__" of a safetensors
// file's header (cheap: the data is not read or verified).
func ReadSafetensorsMetadata(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	var lenBuf [8]byte
	if _, err := f.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("weights: %s: safetensors: %v", path, unexpectedEOF(err))
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxSafetensorsHeader || int64(n) > st.Size()-8 {
		return nil, fmt.Errorf("weights: %s: safetensors: header length %d does not fit (file %d bytes, limit %d)", path, n, st.Size(), maxSafetensorsHeader)
	}
	header := make([]byte, n)
	if _, err := f.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("weights: %s: safetensors: header: %v", path, unexpectedEOF(err))
	}
	var h struct {
		Meta map[string]string `json:"__metadata__"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		return nil, fmt.Errorf("weights: %s: safetensors: header JSON: %v", path, err)
	}
	return h.Meta, nil
}

type stEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// ReadSafetensorsFrom is ReadSafetensors over size bytes of r; name is used
// in errors.
func ReadSafetensorsFrom(r io.ReaderAt, size int64, name string) (tensors map[string]*Tensor, meta map[string]string, err error) {
	defer func() {
		if p := recover(); p != nil { // not expected; the boundary guarantee holds regardless
			tensors, meta, err = nil, nil, fmt.Errorf("weights: %s: safetensors: malformed file (%v)", name, p)
		}
	}()
	fail := func(format string, args ...any) (map[string]*Tensor, map[string]string, error) {
		return nil, nil, fmt.Errorf("weights: %s: safetensors: %s", name, fmt.Sprintf(format, args...))
	}
	var lenBuf [8]byte
	if size < 8 {
		return fail("file of %d bytes is too short", size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return fail("%v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxSafetensorsHeader || int64(n) > size-8 {
		return fail("header length %d does not fit (file %d bytes, limit %d)", n, size, maxSafetensorsHeader)
	}
	header := make([]byte, n)
	if _, err := r.ReadAt(header, 8); err != nil {
		return fail("header: %v", unexpectedEOF(err))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return fail("header JSON: %v", err)
	}
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return fail("__metadata__ must map strings to strings: %v", err)
		}
		delete(raw, "__metadata__")
	}
	dataStart := 8 + int64(n)
	dataLen := size - dataStart
	type span struct {
		name       string
		begin, end int64
	}
	spans := make([]span, 0, len(raw))
	tensors = make(map[string]*Tensor, len(raw))
	for _, key := range sortedKeys(raw) {
		var e stEntry
		dec := json.NewDecoder(bytes.NewReader(raw[key]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return fail("tensor %q: %v", key, err)
		}
		if e.DType == nil || e.Shape == nil || e.DataOffsets == nil {
			return fail("tensor %q: dtype, shape and data_offsets are all required", key)
		}
		dt := *e.DType
		es := int64(dtypeSize(dt))
		if es == 0 {
			return fail("tensor %q: unsupported dtype %q", key, dt)
		}
		if len(*e.DataOffsets) != 2 {
			return fail("tensor %q: data_offsets must be [begin, end]", key)
		}
		begin, end := (*e.DataOffsets)[0], (*e.DataOffsets)[1]
		if begin < 0 || end < begin || end > dataLen {
			return fail("tensor %q: data_offsets [%d, %d] outside the %d data bytes", key, begin, end, dataLen)
		}
		shape := make([]int, len(*e.Shape))
		cnt := int64(1)
		for i, d := range *e.Shape {
			if d < 0 || (d > 0 && cnt > dataLen/d) {
				return fail("tensor %q: shape %v does not fit in the file", key, *e.Shape)
			}
			cnt *= d
			shape[i] = int(d)
		}
		if cnt*es != end-begin {
			return fail("tensor %q: shape %v of %s needs %d bytes, data_offsets give %d", key, *e.Shape, dt, cnt*es, end-begin)
		}
		t := &Tensor{Shape: shape, DType: dt}
		if isFloatDType(dt) {
			t.F32 = make([]float32, cnt)
		} else {
			t.I64 = make([]int64, cnt)
		}
		tensors[key] = t
		spans = append(spans, span{key, begin, end})
	}
	// The data section must be covered exactly: no overlaps, no holes.
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	var pos int64
	for _, s := range spans {
		if s.begin != pos {
			if s.begin < pos {
				return fail("tensor %q overlaps the previous tensor (offset %d < %d)", s.name, s.begin, pos)
			}
			return fail("hole in the data section before tensor %q (bytes %d..%d)", s.name, pos, s.begin)
		}
		pos = s.end
	}
	if pos != dataLen {
		return fail("data section has %d bytes, tensors cover %d", dataLen, pos)
	}
	// The spans cover the data section in order, so hashing them in turn
	// hashes the whole section.
	wantSum, hasSum := meta[MetaDataSHA256]
	h := sha256.New()
	for _, s := range spans {
		t := tensors[s.name]
		buf := make([]byte, s.end-s.begin)
		if _, err := r.ReadAt(buf, dataStart+s.begin); err != nil {
			return fail("tensor %q: %v", s.name, unexpectedEOF(err))
		}
		if hasSum {
			h.Write(buf)
		}
		decodeElements(t.DType, buf, t.F32, t.I64)
	}
	if hasSum {
		if got := hex.EncodeToString(h.Sum(nil)); got != wantSum {
			return fail("the data section's SHA-256 is %s, the metadata says %s: the file is corrupt (damaged on disk or in a copy)", got, wantSum)
		}
	}
	return tensors, meta, nil
}

// MetaDataSHA256 is the metadata key under which vlbert stores the hex
// SHA-256 of a safetensors file's data section (every byte after the header).
// ReadSafetensors verifies it when present; files from other tools lack it
// and load unverified.
const MetaDataSHA256 = "data_sha256"

// CheckFinite returns an error naming the tensor and the first element of a
// floating point tensor that is NaN or infinite.
func CheckFinite(name string, t *Tensor) error {
	for i, v := range t.F32 {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("tensor %q holds %v at element %d of %d: non-finite weights (a corrupt file, or a run that diverged)", name, v, i, len(t.F32))
		}
	}
	return nil
}

// WriteSafetensors writes tensors and metadata to path atomically (temp file,
// fsync, rename, fsync dir). Floating point tensors are written as F32
// whatever their DType; integer tensors keep an integer DType (I64, I32,
// I16, I8, U8, BOOL; values must fit) and default to I64.
func WriteSafetensors(path string, tensors map[string]*Tensor, metadata map[string]string) error {
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		if err := EncodeSafetensors(w, tensors, metadata); err != nil {
			return fmt.Errorf("weights: %s: %w", path, err)
		}
		return nil
	})
}

// EncodeSafetensors writes the safetensors encoding to w, tensors in sorted
// name order.
func EncodeSafetensors(w io.Writer, tensors map[string]*Tensor, metadata map[string]string) error {
	type entry struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
	}
	header := map[string]any{}
	keys := sortedKeys(tensors)
	dtypes := make([]string, len(keys))
	var off int64
	for i, k := range keys {
		t := tensors[k]
		if k == "__metadata__" {
			return fmt.Errorf("safetensors: a tensor cannot be named __metadata__")
		}
		if t == nil {
			return fmt.Errorf("safetensors: tensor %q is nil", k)
		}
		n := t.Numel()
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: tensor %q has negative shape %v", k, t.Shape)
			}
		}
		dt, err := writeDType(t)
		if err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", k, err)
		}
		if (isFloatDType(dt) && len(t.F32) != n) || (!isFloatDType(dt) && len(t.I64) != n) {
			return fmt.Errorf("safetensors: tensor %q: shape %v but %d values", k, t.Shape, max(len(t.F32), len(t.I64)))
		}
		dtypes[i] = dt
		size := int64(n * dtypeSize(dt))
		header[k] = entry{DType: dt, Shape: append([]int{}, t.Shape...), DataOffsets: [2]int64{off, off + size}}
		off += size
	}
	// The data's SHA-256 goes into the header, which precedes the data: hash
	// the encoding once, then write it.
	h := sha256.New()
	hb := bufio.NewWriterSize(h, 1<<16)
	writeData(hb, tensors, keys, dtypes)
	hb.Flush()
	meta := make(map[string]string, len(metadata)+1)
	for k, v := range metadata {
		meta[k] = v
	}
	meta[MetaDataSHA256] = hex.EncodeToString(h.Sum(nil))
	header["__metadata__"] = meta
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: header: %w", err)
	}
	for len(hj)%8 != 0 { // pad so the data section is 8-byte aligned
		hj = append(hj, ' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	binary.Write(bw, binary.LittleEndian, uint64(len(hj)))
	bw.Write(hj)
	writeData(bw, tensors, keys, dtypes)
	return bw.Flush()
}

// writeData writes the data section: each tensor of keys in its dtype.
func writeData(bw *bufio.Writer, tensors map[string]*Tensor, keys, dtypes []string) {
	var b [8]byte
	var chunk [4096]byte // float32s are encoded a chunk at a time: 4-byte writes cost a call each
	for i, k := range keys {
		t := tensors[k]
		switch dt := dtypes[i]; dt {
		case "F32":
			for s := t.F32; len(s) > 0; {
				n := min(len(s), len(chunk)/4)
				for j, v := range s[:n] {
					binary.LittleEndian.PutUint32(chunk[4*j:], math.Float32bits(v))
				}
				bw.Write(chunk[:4*n])
				s = s[n:]
			}
		default:
			es := dtypeSize(dt)
			for _, v := range t.I64 {
				binary.LittleEndian.PutUint64(b[:], uint64(v))
				bw.Write(b[:es]) // little-endian truncation; range checked in writeDType
			}
		}
	}
}

// writeDType picks the on-disk dtype for t and checks integer ranges.
func writeDType(t *Tensor) (string, error) {
	if t.IsFloat() || (t.DType == "" && t.F32 != nil) {
		return "F32", nil
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	dt := t.DType
	switch dt {
	case "I32":
		lo, hi = math.MinInt32, math.MaxInt32
	case "I16":
		lo, hi = math.MinInt16, math.MaxInt16
	case "I8":
		lo, hi = math.MinInt8, math.MaxInt8
	case "U8":
		lo, hi = 0, math.MaxUint8
	case "BOOL":
		lo, hi = 0, 1
	case "I64":
	case "":
		dt = "I64"
	default:
		return "", fmt.Errorf("unsupported dtype %q", t.DType)
	}
	for _, v := range t.I64 {
		if v < lo || v > hi {
			return "", fmt.Errorf("value %d does not fit in %s", v, dt)
		}
	}
	return dt, nil
}
