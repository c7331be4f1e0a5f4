package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/vlbert/vlbert/internal/weights"
)

// builder appends nodes and initializers to a graph. Value names are unique:
// "<scope>/<op>_<n>" for intermediate values, the checkpoint key for weights, so a
// graph viewer (Netron) shows where each value comes from.
type builder struct {
	g       *Graph
	n       int
	scope   string
	weights Weights
	used    map[string]bool   // checkpoint keys turned into initializers
	consts  map[string]string // dedup of small constants by their encoding
	err     error             // the first weight error; later calls are no-ops
}

// Weight is one checkpoint tensor: its shape and float32 values (row-major).
type Weight struct {
	Shape []int
	Data  []float32
}

// Weights maps original checkpoint keys (without "module.") to tensors.
type Weights map[string]Weight

func newBuilder(w Weights) *builder {
	return &builder{g: &Graph{}, weights: w, used: map[string]bool{}, consts: map[string]string{}}
}

func (b *builder) name(op string) string {
	b.n++
	if b.scope == "" {
		return fmt.Sprintf("%s_%d", op, b.n)
	}
	return fmt.Sprintf("%s/%s_%d", b.scope, op, b.n)
}

// op adds a node with one output and returns the output's name.
func (b *builder) op(opType string, inputs []string, attrs ...*Attribute) string {
	return b.opN(opType, inputs, 1, attrs...)[0]
}

// opN adds a node with n outputs.
func (b *builder) opN(opType string, inputs []string, n int, attrs ...*Attribute) []string {
	outs := make([]string, n)
	base := b.name(opType)
	for i := range outs {
		outs[i] = base
		if i > 0 {
			outs[i] = fmt.Sprintf("%s:%d", base, i)
		}
	}
	b.g.Nodes = append(b.g.Nodes, &Node{OpType: opType, Name: base, Inputs: inputs, Outputs: outs, Attrs: attrs})
	return outs
}

func aInt(name string, v int64) *Attribute { return &Attribute{Name: name, Type: attrInt, I: v} }
func aFloat(name string, v float32) *Attribute {
	return &Attribute{Name: name, Type: attrFloat, F: v}
}
func aInts(name string, v ...int64) *Attribute {
	return &Attribute{Name: name, Type: attrInts, Ints: v}
}

// initializer adds a named tensor.
func (b *builder) initializer(name string, dtype int32, dims []int64, raw []byte) string {
	b.g.Initializer = append(b.g.Initializer, &Tensor{Name: name, DataType: dtype, Dims: dims, RawData: raw})
	return name
}

// i64 is a 1-D int64 constant; s64 a 0-D one; f32 a float constant of the given
// shape (nil shape: 0-D).
func (b *builder) i64(v ...int64) string {
	return b.constant(Int64, []int64{int64(len(v))}, int64Bytes(v))
}
func (b *builder) s64(v int64) string { return b.constant(Int64, nil, int64Bytes([]int64{v})) }
func (b *builder) f32(shape []int64, v ...float32) string {
	return b.constant(Float, shape, float32Bytes(v))
}
func (b *builder) sf(v float32) string { return b.f32(nil, v) }

func (b *builder) constant(dtype int32, dims []int64, raw []byte) string {
	key := fmt.Sprint(dtype, dims, string(raw))
	if n, ok := b.consts[key]; ok {
		return n
	}
	n := fmt.Sprintf("const_%d", len(b.consts))
	b.consts[key] = n
	return b.initializer(n, dtype, dims, raw)
}

// weight returns the initializer of checkpoint key name, checking its shape.
func (b *builder) weight(name string, shape ...int) string {
	w, ok := b.lookup(name, shape)
	if !ok {
		return name
	}
	if !b.used[name] {
		b.used[name] = true
		b.initializer(name, Float, dims64(shape), float32Bytes(w.Data))
	}
	return name
}

func (b *builder) lookup(name string, shape []int) (Weight, bool) {
	if b.err != nil {
		return Weight{}, false
	}
	w, ok := b.weights[name]
	if !ok { // vlbert.encoder... for VCR's vlbert._module.encoder..., as weights.CanonicalKey spells it
		w, ok = b.weights[weights.CanonicalKey(name)]
	}
	switch {
	case !ok:
		b.err = fmt.Errorf("onnx: the checkpoint has no tensor %q", name)
	case !slices.Equal(w.Shape, shape):
		b.err = fmt.Errorf("onnx: checkpoint tensor %q has shape %v, the config wants %v", name, w.Shape, shape)
	case len(w.Data) != numel(shape):
		b.err = fmt.Errorf("onnx: checkpoint tensor %q has %d values, want %d", name, len(w.Data), numel(shape))
	}
	return w, b.err == nil
}

// linear is y = x·Wᵀ + b for the checkpoint's Linear prefix (weight [out,in]); the
// weight is stored transposed ([in,out]) so that MatMul reads it directly.
func (b *builder) linear(x, prefix string, in, out int) string {
	wt := b.linearWeightT(prefix, in, out)
	bias := b.weight(prefix+".bias", out)
	return b.op("Add", []string{b.op("MatMul", []string{x, wt}), bias})
}

func (b *builder) linearWeightT(prefix string, in, out int) string {
	name := prefix + ".weight"
	w, ok := b.lookup(name, []int{out, in})
	if !ok {
		return name
	}
	tname := name + "_T"
	if b.used[tname] {
		return tname
	}
	b.used[name], b.used[tname] = true, true
	t := make([]float32, in*out)
	for o := 0; o < out; o++ {
		for i := 0; i < in; i++ {
			t[i*out+o] = w.Data[o*in+i]
		}
	}
	return b.initializer(tname, Float, []int64{int64(in), int64(out)}, float32Bytes(t))
}

// layerNorm is LayerNormalization over the last axis with the checkpoint's gamma
// and beta (eps 1e-12, as everywhere in VL-BERT).
func (b *builder) layerNorm(x, prefix string, h int) string {
	return b.op("LayerNormalization", []string{x, b.weight(prefix+".weight", h), b.weight(prefix+".bias", h)},
		aInt("axis", -1), aFloat("epsilon", 1e-12))
}

// gelu is BERT's exact GELU, x·0.5·(1+erf(x/√2)), in standard ops (Gelu is opset 20).
func (b *builder) gelu(x string) string {
	e := b.op("Erf", []string{b.op("Div", []string{x, b.sf(float32(math.Sqrt2))})})
	return b.op("Mul", []string{b.op("Mul", []string{x, b.op("Add", []string{e, b.sf(1)})}), b.sf(0.5)})
}

// Shape helpers. dim returns dimension axis of x as a 1-D int64 [1]; dimScalar as 0-D.
func (b *builder) dim(x string, axis int64) string {
	if axis == -1 {
		return b.op("Shape", []string{x}, aInt("start", -1))
	}
	return b.op("Shape", []string{x}, aInt("start", axis), aInt("end", axis+1))
}
func (b *builder) dimScalar(x string, axis int64) string {
	return b.op("Squeeze", []string{b.dim(x, axis), b.i64(0)})
}

func (b *builder) unsqueeze(x string, axes ...int64) string {
	return b.op("Unsqueeze", []string{x, b.i64(axes...)})
}
func (b *builder) squeeze(x string, axes ...int64) string {
	return b.op("Squeeze", []string{x, b.i64(axes...)})
}

// slice is x[start:end] along axis (end may be a 1-D int64 value name).
func (b *builder) slice(x string, axis, start int64, end string) string {
	return b.op("Slice", []string{x, b.i64(start), end, b.i64(axis)})
}
func (b *builder) sliceC(x string, axis, start, end int64) string {
	return b.slice(x, axis, start, b.i64(end))
}

func (b *builder) cast(x string, to int64) string { return b.op("Cast", []string{x}, aInt("to", to)) }

func (b *builder) bin(op, x, y string) string { return b.op(op, []string{x, y}) }

func (b *builder) where(cond, x, y string) string { return b.op("Where", []string{cond, x, y}) }

// sumKeep is ReduceSum over axis with keepdims (axes is an input since opset 13).
func (b *builder) sumKeep(x string, axis int64) string {
	return b.op("ReduceSum", []string{x, b.i64(axis)}, aInt("keepdims", 1))
}

// maxAll is the maximum of every element as a 0-D tensor (ReduceMax takes axes as
// an attribute up to opset 17).
func (b *builder) maxAll(x string) string { return b.op("ReduceMax", []string{x}, aInt("keepdims", 0)) }

// arange is Range(0, n) for a 0-D int64 n.
func (b *builder) arange(n string) string { return b.op("Range", []string{b.s64(0), n, b.s64(1)}) }

// compactOrder returns, for a validity mask valid (float 0/1 [..., S]), the first k
// (a 1-D int64 [1]) indices along the last axis of the order that puts the valid
// positions first, in their original order, and the invalid ones after them: TopK
// of valid·2^20 − position (distinct keys, exact in float32 for S < 2^20).
func (b *builder) compactOrder(valid, k string) string {
	pos := b.cast(b.arange(b.dimScalar(valid, -1)), Float)
	key := b.bin("Sub", b.bin("Mul", valid, b.sf(1<<20)), pos)
	return b.opN("TopK", []string{key, k}, 2, aInt("axis", -1), aInt("largest", 1), aInt("sorted", 1))[1]
}

func dims64(s []int) []int64 {
	d := make([]int64, len(s))
	for i, v := range s {
		d[i] = int64(v)
	}
	return d
}

func numel(s []int) int {
	n := 1
	for _, v := range s {
		n *= v
	}
	return n
}
