// Package npy reads and writes NumPy .npy arrays and .npz archives.
//
// It exists for parity work with the original PyTorch code: golden vectors, the
// `vlbert forward` inputs and outputs, and attention-map dumps are .npy/.npz files.
// Float arrays of any width are held as float32 in F32; integer and bool arrays as
// int64 in I64. Only C-order (row-major) little-endian arrays are supported, which is
// what numpy writes by default.
package npy

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vlbert/vlbert/internal/atomicfile"
)

// MaxBytes bounds the data of one array, so that a corrupt header cannot make a
// reader allocate without limit.
const MaxBytes = 8 << 30

// Array is one n-dimensional array.
type Array struct {
	Shape []int
	DType string    // numpy descr, e.g. "<f4", "<i8", "|b1"
	F32   []float32 // float dtypes (converted to float32)
	I64   []int64   // integer and bool dtypes
}

// NewF32 wraps data (not copied) as a float32 array of the given shape.
func NewF32(data []float32, shape ...int) *Array {
	if numel(shape) != len(data) {
		panic(fmt.Sprintf("npy: %d values for shape %v", len(data), shape))
	}
	return &Array{Shape: append([]int{}, shape...), DType: "<f4", F32: data}
}

// NewI64 wraps data (not copied) as an int64 array of the given shape.
func NewI64(data []int64, shape ...int) *Array {
	if numel(shape) != len(data) {
		panic(fmt.Sprintf("npy: %d values for shape %v", len(data), shape))
	}
	return &Array{Shape: append([]int{}, shape...), DType: "<i8", I64: data}
}

// Len is the number of elements.
func (a *Array) Len() int { return numel(a.Shape) }

// IsFloat reports whether the array holds float data.
func (a *Array) IsFloat() bool { return a.F32 != nil || strings.Contains(a.DType, "f") }

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

var magic = []byte("\x93NUMPY")

// Read decodes one .npy stream.
func Read(r io.Reader) (*Array, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("npy: reading magic: %w", err)
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, errors.New("npy: not a .npy file (bad magic)")
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: reading header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: reading header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d.%d", pre[6], pre[7])
	}
	if hlen > 1<<20 {
		return nil, fmt.Errorf("npy: header of %d bytes is too large", hlen)
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("npy: reading header: %w", err)
	}
	descr, fortran, shape, err := parseHeader(string(header))
	if err != nil {
		return nil, err
	}
	if fortran {
		return nil, errors.New("npy: Fortran-order arrays are not supported (save with np.ascontiguousarray)")
	}
	size, err := itemSize(descr)
	if err != nil {
		return nil, err
	}
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > MaxBytes/d) {
			return nil, fmt.Errorf("npy: shape %v is too large", shape)
		}
		n *= d
	}
	if n > MaxBytes/size {
		return nil, fmt.Errorf("npy: shape %v is too large", shape)
	}
	want := int64(n * size)
	// ReadAll grows as data arrives, so a lying header cannot force a huge allocation.
	raw, err := io.ReadAll(io.LimitReader(r, want))
	if err != nil {
		return nil, fmt.Errorf("npy: reading data: %w", err)
	}
	if int64(len(raw)) != want {
		return nil, fmt.Errorf("npy: truncated data: %d of %d bytes for shape %v %s", len(raw), want, shape, descr)
	}
	a := &Array{Shape: shape, DType: descr}
	if err := decode(a, raw, n); err != nil {
		return nil, err
	}
	return a, nil
}

var (
	reDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	reFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	reShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

func parseHeader(h string) (descr string, fortran bool, shape []int, err error) {
	m := reDescr.FindStringSubmatch(h)
	if m == nil {
		return "", false, nil, fmt.Errorf("npy: header has no descr: %q", h)
	}
	descr = m[1]
	if f := reFortran.FindStringSubmatch(h); f != nil {
		fortran = f[1] == "True"
	}
	s := reShape.FindStringSubmatch(h)
	if s == nil {
		return "", false, nil, fmt.Errorf("npy: header has no shape: %q", h)
	}
	shape = []int{}
	for _, part := range strings.Split(s[1], ",") {
		part = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), "L"))
		if part == "" {
			continue
		}
		d, err := strconv.Atoi(part)
		if err != nil || d < 0 {
			return "", false, nil, fmt.Errorf("npy: bad shape %q", s[1])
		}
		shape = append(shape, d)
	}
	return descr, fortran, shape, nil
}

func itemSize(descr string) (int, error) {
	if len(descr) < 3 {
		return 0, fmt.Errorf("npy: unsupported dtype %q", descr)
	}
	if descr[0] == '>' {
		return 0, fmt.Errorf("npy: big-endian dtype %q is not supported", descr)
	}
	switch descr[1:] {
	case "f2", "i2", "u2":
		return 2, nil
	case "f4", "i4", "u4":
		return 4, nil
	case "f8", "i8", "u8":
		return 8, nil
	case "i1", "u1", "b1":
		return 1, nil
	}
	return 0, fmt.Errorf("npy: unsupported dtype %q", descr)
}

func decode(a *Array, raw []byte, n int) error {
	le := binary.LittleEndian
	switch a.DType[1:] {
	case "f2":
		a.F32 = make([]float32, n)
		for i := range a.F32 {
			a.F32[i] = Float16ToFloat32(le.Uint16(raw[2*i:]))
		}
	case "f4":
		a.F32 = make([]float32, n)
		for i := range a.F32 {
			a.F32[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case "f8":
		a.F32 = make([]float32, n)
		for i := range a.F32 {
			a.F32[i] = float32(math.Float64frombits(le.Uint64(raw[8*i:])))
		}
	default:
		a.I64 = make([]int64, n)
		for i := range a.I64 {
			switch a.DType[1:] {
			case "i1":
				a.I64[i] = int64(int8(raw[i]))
			case "u1", "b1":
				a.I64[i] = int64(raw[i])
			case "i2":
				a.I64[i] = int64(int16(le.Uint16(raw[2*i:])))
			case "u2":
				a.I64[i] = int64(le.Uint16(raw[2*i:]))
			case "i4":
				a.I64[i] = int64(int32(le.Uint32(raw[4*i:])))
			case "u4":
				a.I64[i] = int64(le.Uint32(raw[4*i:]))
			case "i8", "u8":
				a.I64[i] = int64(le.Uint64(raw[8*i:]))
			}
		}
	}
	return nil
}

// Float16ToFloat32 converts an IEEE 754 half-precision value.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: renormalize
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		frac &= 0x3ff
		return math.Float32frombits(sign | e<<23 | frac<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// ReadFile reads one .npy file.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Write encodes a as a version 1.0 .npy stream. Float arrays are written as "<f4"
// and integer arrays as "<i8".
func Write(w io.Writer, a *Array) error {
	var descr string
	var data []byte
	switch {
	case a.F32 != nil || (a.I64 == nil && a.IsFloat()):
		if len(a.F32) != a.Len() {
			return fmt.Errorf("npy: %d float values for shape %v", len(a.F32), a.Shape)
		}
		descr = "<f4"
		data = make([]byte, 4*len(a.F32))
		for i, v := range a.F32 {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		}
	default:
		if len(a.I64) != a.Len() {
			return fmt.Errorf("npy: %d int values for shape %v", len(a.I64), a.Shape)
		}
		descr = "<i8"
		data = make([]byte, 8*len(a.I64))
		for i, v := range a.I64 {
			binary.LittleEndian.PutUint64(data[8*i:], uint64(v))
		}
	}
	dims := make([]string, len(a.Shape))
	for i, d := range a.Shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := strings.Join(dims, ", ")
	if len(a.Shape) == 1 {
		shape += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape)
	// Pad so that the data starts on a 64-byte boundary, ending the header with '\n'.
	total := len(magic) + 2 + 2 + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	buf := make([]byte, 0, len(magic)+4+len(header))
	buf = append(buf, magic...)
	buf = append(buf, 1, 0)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(header)))
	buf = append(buf, header...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// WriteFile writes a to path atomically.
func WriteFile(path string, a *Array) error {
	return atomicfile.WriteFile(path, func(w io.Writer) error { return Write(w, a) })
}

// ReadNpz reads every array of a .npz archive, or of a directory of .npy files.
// Keys are the member names without the .npy suffix.
func ReadNpz(path string) (map[string]*Array, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	out := map[string]*Array{}
	if st.IsDir() {
		names, err := filepath.Glob(filepath.Join(path, "*.npy"))
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			a, err := ReadFile(name)
			if err != nil {
				return nil, err
			}
			out[strings.TrimSuffix(filepath.Base(name), ".npy")] = a
		}
		return out, nil
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable .npz (zip) archive: %w", path, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".npy") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		a, err := Read(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: array %q: %w", path, strings.TrimSuffix(f.Name, ".npy"), err)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = a
	}
	return out, nil
}

// WriteNpz writes arrays as an uncompressed .npz archive (as numpy.savez), atomically.
func WriteNpz(path string, arrays map[string]*Array) error {
	names := make([]string, 0, len(arrays))
	for name := range arrays {
		names = append(names, name)
	}
	sort.Strings(names)
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, name := range names {
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
			if err != nil {
				return err
			}
			if err := Write(fw, arrays[name]); err != nil {
				return fmt.Errorf("npy: array %q: %w", name, err)
			}
		}
		return zw.Close()
	})
}
