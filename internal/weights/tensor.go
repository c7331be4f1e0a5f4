package weights

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Tensor is a dense row-major tensor read from or written to a weights file.
// Exactly one of F32 (floating point dtypes) and I64 (integer and bool dtypes)
// holds the len(Shape)-product elements; a scalar has an empty Shape.
type Tensor struct {
	Shape []int
	DType string // on-disk dtype in safetensors spelling: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL
	F32   []float32
	I64   []int64
}

// NewF32 returns an F32 tensor that uses data (not copied).
func NewF32(data []float32, shape ...int) *Tensor {
	if numel(shape) != len(data) {
		panic(fmt.Sprintf("weights: NewF32: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: slices.Clone(shape), DType: "F32", F32: data}
}

// NewI64 returns an I64 tensor that uses data (not copied).
func NewI64(data []int64, shape ...int) *Tensor {
	if numel(shape) != len(data) {
		panic(fmt.Sprintf("weights: NewI64: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: slices.Clone(shape), DType: "I64", I64: data}
}

// Numel is the number of elements (1 for a scalar).
func (t *Tensor) Numel() int { return numel(t.Shape) }

// IsFloat reports whether the tensor holds floating point values (in F32).
func (t *Tensor) IsFloat() bool { return isFloatDType(t.DType) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: slices.Clone(t.Shape), DType: t.DType, F32: slices.Clone(t.F32), I64: slices.Clone(t.I64)}
}

// Equal reports whether two tensors have the same shape, value kind and
// bit-identical values (NaNs compare by bits).
func (t *Tensor) Equal(u *Tensor) bool {
	if !slices.Equal(t.Shape, u.Shape) || t.IsFloat() != u.IsFloat() || len(t.F32) != len(u.F32) || len(t.I64) != len(u.I64) {
		return false
	}
	for i := range t.F32 {
		if math.Float32bits(t.F32[i]) != math.Float32bits(u.F32[i]) {
			return false
		}
	}
	return slices.Equal(t.I64, u.I64)
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func isFloatDType(d string) bool {
	switch d {
	case "F32", "F16", "BF16", "F64":
		return true
	}
	return false
}

// dtypeSize is the on-disk element size in bytes, 0 for unknown dtypes.
func dtypeSize(d string) int {
	switch d {
	case "F64", "I64":
		return 8
	case "F32", "I32":
		return 4
	case "F16", "BF16", "I16":
		return 2
	case "I8", "U8", "BOOL":
		return 1
	}
	return 0
}

// float16ToFloat32 converts an IEEE 754 binary16 value (exact).
func float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf, nan
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: value = mant * 2^-24, normal in float32.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// decodeElements converts n little-endian elements of dtype from raw into
// dst (an F32 or I64 slice chosen by dtype). raw must hold n*dtypeSize bytes.
func decodeElements(dtype string, raw []byte, f32 []float32, i64 []int64) {
	le := binary.LittleEndian
	switch dtype {
	case "F32":
		for i := range f32 {
			f32[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case "F16":
		for i := range f32 {
			f32[i] = float16ToFloat32(le.Uint16(raw[2*i:]))
		}
	case "BF16":
		for i := range f32 {
			f32[i] = math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
		}
	case "F64":
		for i := range f32 {
			f32[i] = float32(math.Float64frombits(le.Uint64(raw[8*i:])))
		}
	case "I64":
		for i := range i64 {
			i64[i] = int64(le.Uint64(raw[8*i:]))
		}
	case "I32":
		for i := range i64 {
			i64[i] = int64(int32(le.Uint32(raw[4*i:])))
		}
	case "I16":
		for i := range i64 {
			i64[i] = int64(int16(le.Uint16(raw[2*i:])))
		}
	case "I8":
		for i := range i64 {
			i64[i] = int64(int8(raw[i]))
		}
	case "U8", "BOOL":
		for i := range i64 {
			i64[i] = int64(raw[i])
		}
	default:
		panic("weights: decodeElements: unknown dtype " + dtype)
	}
}
