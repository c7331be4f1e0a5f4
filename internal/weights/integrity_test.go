package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A zip checkpoint whose data fails its CRC-32 is refused (PyTorch refuses it
// too); before, the flipped bytes loaded as weights.
func TestZipCRCVerified(t *testing.T) {
	b, err := os.ReadFile(golden + "vqa_ckpt_zip.model")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var rec *zip.File
	for _, f := range zr.File {
		if strings.Contains(f.Name, "/data/") && f.Method == zip.Store && f.UncompressedSize64 > 64 && (rec == nil || f.UncompressedSize64 > rec.UncompressedSize64) {
			rec = f
		}
	}
	if rec == nil {
		t.Fatal("no stored data record in the golden zip")
	}
	off, err := rec.DataOffset()
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), b...)
	bad[off+int64(rec.UncompressedSize64)/2] ^= 0x40
	path := filepath.Join(t.TempDir(), "flipped.model")
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadTorch(path)
	if err == nil || !strings.Contains(err.Error(), "CRC-32 mismatch") || !strings.Contains(err.Error(), path) {
		t.Fatalf("flipped zip record: %v", err)
	}
}

// vlbert's safetensors carry the data's SHA-256; a flipped data byte is caught.
func TestSafetensorsSHA256(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	if err := WriteSafetensors(path, sampleTensors(), map[string]string{"format": "x"}); err != nil {
		t.Fatal(err)
	}
	_, meta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta[MetaDataSHA256]) != 64 || meta["format"] != "x" {
		t.Fatalf("metadata %v", meta)
	}
	b, _ := os.ReadFile(path)
	hlen := binary.LittleEndian.Uint64(b[:8])
	for _, at := range []int{int(8 + hlen), len(b) - 1} { // first and last data byte
		bad := append([]byte(nil), b...)
		bad[at] ^= 1
		p := filepath.Join(dir, "bad.safetensors")
		os.WriteFile(p, bad, 0o644)
		if _, _, err := ReadSafetensors(p); err == nil || !strings.Contains(err.Error(), "SHA-256") {
			t.Errorf("byte %d flipped: %v", at, err)
		}
	}
	// Files from other tools have no checksum and load as before.
	plain := st(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, []byte{0, 0, 128, 63})
	ts, _, err := ReadSafetensorsFrom(bytes.NewReader(plain), int64(len(plain)), "plain")
	if err != nil || ts["a"].F32[0] != 1 {
		t.Fatalf("file without a checksum: %v", err)
	}
}

// Non-finite weights are an error naming the tensor; the decoders still
// decode them (fp16 infinities are part of the format).
func TestNonFiniteWeightsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nan.safetensors")
	ts := sampleTensors()
	ts["layer.weight"] = NewF32([]float32{1, 2, float32(math.NaN()), 4}, 2, 2)
	if err := WriteSafetensors(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := ReadSafetensors(path)
	if err == nil || !strings.Contains(err.Error(), `tensor "layer.weight" holds NaN at element 2`) {
		t.Fatalf("NaN weights: %v", err)
	}
	if _, err := ReadModelWeights(path); err == nil {
		t.Fatal("ReadModelWeights loaded NaN weights")
	}
	b, _ := os.ReadFile(path)
	if _, _, err := ReadSafetensorsFrom(bytes.NewReader(b), int64(len(b)), "decoder"); err != nil {
		t.Fatalf("the decoder refused a well-formed file: %v", err)
	}
}

// A safetensors file with a damaged header length is reported as a damaged
// safetensors file, not as "not a PyTorch checkpoint".
func TestSafetensorsBadHeaderLengthNamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	if err := WriteSafetensors(path, sampleTensors(), nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	binary.LittleEndian.PutUint64(b[:8], 1<<40)
	os.WriteFile(path, b, 0o644)
	if !IsSafetensors(path) {
		t.Fatal("IsSafetensors: false for a safetensors file with a bad header length")
	}
	if _, err := ReadModelWeights(path); err == nil || !strings.Contains(err.Error(), "safetensors: header length") {
		t.Fatalf("ReadModelWeights: %v", err)
	}
	// Even a caller that sniffs it wrongly and asks the torch reader learns what it is.
	if _, err := ReadTorch(path); err == nil || !strings.Contains(err.Error(), "safetensors file") {
		t.Fatalf("ReadTorch: %v", err)
	}
}
