package weights

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// TorchCheckpoint is what a torch.save file of the original code holds.
type TorchCheckpoint struct {
	// StateDict maps the keys exactly as stored (with "module." etc.) to
	// tensors; Keys lists them in file order.
	StateDict map[string]*Tensor
	Keys      []string
	// Optimizer is the repo AdamW state_dict, nil if the file has none.
	Optimizer *OptimizerState
	// ValidationMonitor holds the numeric entries of "validation_monitor"
	// (best_epoch, best_val), nil if absent.
	ValidationMonitor map[string]float64
	// Aliases maps a state_dict key to an earlier key whose tensor is the
	// same view of the same storage (tied weights, modules registered twice).
	// Both keys still have their own copy in StateDict.
	Aliases map[string]string
	// Format is "zip" (torch >= 1.6 default) or "legacy" (the pre-1.6 stream).
	Format string
	// Raw is true when the file is a bare state_dict (no "state_dict" key),
	// like the ResNet backbone or a BERT pytorch_model.bin.
	Raw bool
}

// OptimizerState is optimizer.state_dict() of common/nlp/bert/optimization.AdamW.
type OptimizerState struct {
	State       map[int]*AdamState // keyed by parameter index (position in the concatenated param_groups params)
	ParamGroups []ParamGroup
}

// AdamState is the per-parameter AdamW state.
type AdamState struct {
	Step             int
	ExpAvg, ExpAvgSq *Tensor
	Extra            map[string]*Tensor // any other tensor entries (e.g. an SGD momentum_buffer)
}

// ParamGroup is one entry of optimizer param_groups.
type ParamGroup struct {
	LR          float64
	Betas       [2]float64
	Eps         float64
	WeightDecay float64
	CorrectBias bool
	InitialLR   float64
	Params      []int
}

// legacyMagic is torch.serialization.MAGIC_NUMBER.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

const legacyProtocol = 1001

// maxPickleBytes bounds the decompressed data.pkl of a zip checkpoint.
const maxPickleBytes = 1 << 30

// ReadTorch reads a torch.save file: the legacy stream of PyTorch < 1.6 or
// the zip format. Errors name the file; malformed input never panics. Zip
// records are checked against their CRC-32, and a state_dict tensor holding
// NaN or Inf is an error naming it (ReadTorchFrom, the decoder, allows them).
func ReadTorch(path string) (*TorchCheckpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("weights: %s is a directory, not a checkpoint file", path)
	}
	ck, err := ReadTorchFrom(f, st.Size(), path)
	if err != nil {
		return nil, err
	}
	for _, k := range ck.Keys {
		if err := CheckFinite(k, ck.StateDict[k]); err != nil {
			return nil, fmt.Errorf("weights: %s: %w", path, err)
		}
	}
	return ck, nil
}

// ReadTorchFrom is ReadTorch over size bytes of r; name is used in errors.
func ReadTorchFrom(r io.ReaderAt, size int64, name string) (ck *TorchCheckpoint, err error) {
	defer func() {
		if p := recover(); p != nil {
			ck, err = nil, fmt.Errorf("weights: %s: malformed checkpoint (%v)", name, p)
		}
	}()
	obj, s, err := loadTorchSession(r, size)
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", name, err)
	}
	ck, err = checkpointFrom(obj, s.viewOf)
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", name, err)
	}
	ck.Format = s.format
	return ck, nil
}

// loadTorchSession detects the format and unpickles the saved object, with
// every tensor materialised.
func loadTorchSession(r io.ReaderAt, size int64) (any, *session, error) {
	s := newSession()
	if size == 0 {
		return nil, nil, fmt.Errorf("empty file (an interrupted download or save?)")
	}
	head := make([]byte, min(size, 512))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return nil, nil, err
	}
	trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff")
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		s.format = "zip"
		obj, err := loadZip(r, size, s)
		return obj, s, err
	case head[0] == 0x80:
		s.format = "legacy"
		obj, err := loadLegacy(r, size, s)
		return obj, s, err
	case len(trimmed) > 0 && trimmed[0] == '<':
		return nil, nil, fmt.Errorf("this is an HTML/XML page (it starts with %q), not a PyTorch checkpoint: the download probably failed or saved an error page; "+
			"PyTorch reports this file as \"invalid load key, '<'\"; download it again", firstLine(trimmed))
	case bytes.HasPrefix(head, []byte("version https://git-lfs")):
		return nil, nil, fmt.Errorf("this is a Git LFS pointer, not the checkpoint itself: run `git lfs pull` or download the file directly")
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return nil, nil, fmt.Errorf("tar-format checkpoint (PyTorch <= 0.3) is not supported: re-save it with a newer PyTorch")
	}
	if len(head) >= 9 && head[8] == '{' {
		n := binary.LittleEndian.Uint64(head[:8])
		return nil, nil, fmt.Errorf("not a PyTorch checkpoint but a safetensors file (its header starts with '{') whose header length %d does not fit the %d-byte file: the file is truncated or corrupt", n, size)
	}
	return nil, nil, fmt.Errorf("not a PyTorch checkpoint: unexpected first byte 0x%02x (PyTorch would say \"invalid load key, '%c'\"); the file may be truncated, corrupted or of another format", head[0], head[0])
}

func firstLine(b []byte) string {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// readPickleAt scans the pickle stream that starts at off and returns its
// bytes; the stream can be no longer than the file.
func readPickleAt(r io.ReaderAt, off, size int64) ([]byte, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, off, size-off), 64<<10)
	n, err := scanPickle(br, size-off)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil, unexpectedEOF(err)
	}
	return buf, nil
}

func unpickleBytes(b []byte, s *session) (any, error) {
	u := pickle.NewUnpickler(bytes.NewReader(b))
	if s != nil {
		u.FindClass = s.findClass
		u.PersistentLoad = s.persistentLoad
	} else {
		u.FindClass = func(module, name string) (any, error) {
			return nil, fmt.Errorf("unexpected class %s.%s in header", module, name)
		}
	}
	return u.Load()
}

// loadLegacy reads the pre-1.6 stream: magic number, protocol, sys_info, the
// object pickle, the storage key list, then each storage as an int64 element
// count followed by its raw little-endian elements.
func loadLegacy(r io.ReaderAt, size int64, s *session) (any, error) {
	var off int64
	next := func(what string, s *session) (any, error) {
		b, err := readPickleAt(r, off, size)
		if err != nil {
			return nil, fmt.Errorf("legacy format, %s at offset %d: %w", what, off, err)
		}
		off += int64(len(b))
		v, err := unpickleBytes(b, s)
		if err != nil {
			return nil, fmt.Errorf("legacy format, %s: %w", what, err)
		}
		return v, nil
	}
	magic, err := next("magic number", nil)
	if err != nil {
		return nil, err
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, fmt.Errorf("not a PyTorch checkpoint: a pickle, but without the torch.save magic number")
	}
	proto, err := next("protocol version", nil)
	if err != nil {
		return nil, err
	}
	if p, ok := proto.(int); !ok || p != legacyProtocol {
		return nil, fmt.Errorf("unsupported torch.save protocol version %v (want %d)", proto, legacyProtocol)
	}
	sysInfo, err := next("sys_info", nil)
	if err != nil {
		return nil, err
	}
	if d, ok := sysInfo.(*types.Dict); ok {
		if le, ok := dictGet(d, "little_endian"); ok && le != true {
			return nil, fmt.Errorf("big-endian checkpoint is not supported")
		}
	}
	obj, err := next("object pickle", s)
	if err != nil {
		return nil, err
	}
	keysObj, err := next("storage key list", nil)
	if err != nil {
		return nil, err
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, fmt.Errorf("legacy format: storage key list is a %T", keysObj)
	}
	for _, k := range *keys {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("legacy format: storage key %v is not a string", k)
		}
		st := s.storages[key]
		if st == nil {
			return nil, fmt.Errorf("legacy format: storage %q is listed but no tensor uses it", key)
		}
		if st.raw != nil {
			return nil, fmt.Errorf("legacy format: storage %q is listed twice", key)
		}
		var cnt [8]byte
		if _, err := r.ReadAt(cnt[:], off); err != nil {
			return nil, fmt.Errorf("legacy format: storage %q at offset %d: file truncated (%w)", key, off, unexpectedEOF(err))
		}
		off += 8
		n := int64(binary.LittleEndian.Uint64(cnt[:]))
		es := int64(dtypeSize(st.dtype))
		if n != st.numel {
			return nil, fmt.Errorf("legacy format: storage %q has %d elements, its header said %d", key, n, st.numel)
		}
		if n < 0 || n > (size-off)/es {
			return nil, fmt.Errorf("legacy format: storage %q needs %d bytes at offset %d but the file has %d left: file truncated", key, n*es, off, size-off)
		}
		st.raw = make([]byte, n*es)
		if _, err := r.ReadAt(st.raw, off); err != nil {
			return nil, fmt.Errorf("legacy format: storage %q: %w", key, unexpectedEOF(err))
		}
		off += n * es
	}
	return s.resolve(obj)
}

// loadZip reads the torch >= 1.6 format: <archive>/data.pkl plus one record
// <archive>/data/<key> per storage. The archive folder name is arbitrary.
func loadZip(r io.ReaderAt, size int64, s *session) (any, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("zip format: %w (file truncated or corrupted?)", err)
	}
	records := make(map[string]*zip.File, len(zr.File))
	var pkl *zip.File
	for _, f := range zr.File {
		records[f.Name] = f
		if (f.Name == "data.pkl" || strings.HasSuffix(f.Name, "/data.pkl")) && (pkl == nil || len(f.Name) < len(pkl.Name)) {
			pkl = f
		}
	}
	if pkl == nil {
		if _, ok := records["constants.pkl"]; ok {
			return nil, fmt.Errorf("TorchScript archives are not supported")
		}
		return nil, fmt.Errorf("zip format: no data.pkl record (is this a torch.save file?)")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	if bo, ok := records[prefix+"byteorder"]; ok {
		b, err := readZipRecord(bo, 16, size)
		if err != nil {
			return nil, fmt.Errorf("zip format: byteorder: %w", err)
		}
		if string(b) != "little" {
			return nil, fmt.Errorf("zip format: byte order %q is not supported", b)
		}
	}
	if pkl.UncompressedSize64 > maxPickleBytes {
		return nil, fmt.Errorf("zip format: %s is %d bytes, more than the %d allowed", pkl.Name, pkl.UncompressedSize64, maxPickleBytes)
	}
	data, err := readZipRecord(pkl, int64(pkl.UncompressedSize64), size)
	if err != nil {
		return nil, fmt.Errorf("zip format: %s: %w", pkl.Name, err)
	}
	n, err := scanPickle(bufio.NewReader(bytes.NewReader(data)), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("zip format: %s: %w", pkl.Name, err)
	}
	obj, err := unpickleBytes(data[:n], s)
	if err != nil {
		return nil, fmt.Errorf("zip format: %s: %w", pkl.Name, err)
	}
	for _, key := range s.order {
		st := s.storages[key]
		rec := records[prefix+"data/"+key]
		if rec == nil {
			return nil, fmt.Errorf("zip format: storage record %sdata/%s is missing (file truncated?)", prefix, key)
		}
		want := st.numel * int64(dtypeSize(st.dtype))
		if want < 0 || want/int64(dtypeSize(st.dtype)) != st.numel {
			return nil, fmt.Errorf("zip format: storage %q: invalid element count %d", key, st.numel)
		}
		if rec.UncompressedSize64 < uint64(want) {
			return nil, fmt.Errorf("zip format: storage %q holds %d bytes, %d elements of %s need %d", key, rec.UncompressedSize64, st.numel, st.dtype, want)
		}
		if st.raw, err = readZipRecord(rec, want, size); err != nil {
			return nil, fmt.Errorf("zip format: storage %q: %w", key, err)
		}
	}
	return s.resolve(obj)
}

// readZipRecord reads the first n bytes of a record. n is checked against
// what the record can hold before anything is allocated: a stored record
// cannot be larger than the file, a deflated one not larger than deflate's
// maximum ratio allows.
func readZipRecord(f *zip.File, n, fileSize int64) ([]byte, error) {
	limit := fileSize
	if f.Method != zip.Store {
		limit = min(int64(f.CompressedSize64), fileSize) * 1100
	}
	if n < 0 || n > limit || uint64(n) > f.UncompressedSize64 {
		return nil, fmt.Errorf("record %s: %d bytes requested, the record can hold at most %d", f.Name, n, min(limit, int64(min(f.UncompressedSize64, 1<<62))))
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, zipError(err))
	}
	// archive/zip checks the record's CRC-32 when the reader reaches its end:
	// read what is left (bounded by the size checked above) to get there.
	if _, err := io.Copy(io.Discard, io.LimitReader(rc, limit)); err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, zipError(err))
	}
	return buf, nil
}

// zipError explains a checksum failure.
func zipError(err error) error {
	if errors.Is(err, zip.ErrChecksum) {
		return fmt.Errorf("CRC-32 mismatch: the file is corrupt (damaged on disk or in a copy; PyTorch would refuse it too)")
	}
	return unexpectedEOF(err)
}
