package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The messages below are the subset of onnx.proto (ONNX IR version 8) that an
// exported vlbert model uses. Field numbers are the ones onnx.proto assigns; every
// message is written with protowire, field by field in number order where the
// specification does not care.

// Element types (TensorProto.DataType).
const (
	Float = 1
	Uint8 = 2
	Int8  = 3
	Int32 = 6
	Int64 = 7
	Bool  = 9
)

// Attribute types (AttributeProto.AttributeType).
const (
	attrFloat  = 1
	attrInt    = 2
	attrString = 3
	attrTensor = 4
	attrFloats = 6
	attrInts   = 7
)

// Model is ModelProto.
type Model struct {
	IRVersion       int64            // 1
	Opsets          []OpsetID        // 8
	ProducerName    string           // 2
	ProducerVersion string           // 3
	DocString       string           // 6
	Graph           *Graph           // 7
	Metadata        []StringStringKV // 14
}

// OpsetID is OperatorSetIdProto.
type OpsetID struct {
	Domain  string // 1
	Version int64  // 2
}

// StringStringKV is StringStringEntryProto.
type StringStringKV struct {
	Key, Value string // 1, 2
}

// Graph is GraphProto.
type Graph struct {
	Nodes       []*Node      // 1
	Name        string       // 2
	Initializer []*Tensor    // 5
	DocString   string       // 10
	Inputs      []*ValueInfo // 11
	Outputs     []*ValueInfo // 12
}

// Node is NodeProto.
type Node struct {
	Inputs    []string     // 1
	Outputs   []string     // 2
	Name      string       // 3
	OpType    string       // 4
	Attrs     []*Attribute // 5
	DocString string       // 6
	Domain    string       // 7
}

// Attribute is AttributeProto (the scalar, list and tensor kinds).
type Attribute struct {
	Name   string    // 1
	Type   int32     // 20
	F      float32   // 2
	I      int64     // 3
	S      string    // 4
	T      *Tensor   // 5
	Floats []float32 // 7
	Ints   []int64   // 8
}

// Tensor is TensorProto with its values in RawData (little-endian), or, for a
// tensor stored outside the model file, in External (location, offset, length).
type Tensor struct {
	Dims     []int64          // 1
	DataType int32            // 2
	Name     string           // 8
	RawData  []byte           // 9
	External []StringStringKV // 13
	InFile   bool             // data_location (14) = EXTERNAL: values live in another file
}

// ValueInfo is ValueInfoProto of a tensor type: a name, an element type and a
// shape whose dimensions are fixed (Dim >= 0) or named (Param, a dynamic axis).
type ValueInfo struct {
	Name      string // 1
	ElemType  int32  // type.tensor_type.elem_type
	Shape     []Dim  // type.tensor_type.shape.dim
	DocString string // 3
}

// Dim is TensorShapeProto.Dimension: a dim_value, or a dim_param when Param is set.
type Dim struct {
	Value int64
	Param string
}

// Marshal encodes m as a ModelProto.
func (m *Model) Marshal() []byte {
	var b []byte
	b = appendInt(b, 1, m.IRVersion)
	b = appendString(b, 2, m.ProducerName)
	b = appendString(b, 3, m.ProducerVersion)
	b = appendString(b, 6, m.DocString)
	if m.Graph != nil {
		b = appendMsg(b, 7, m.Graph.marshal(nil))
	}
	for _, o := range m.Opsets {
		var ob []byte
		ob = appendString(ob, 1, o.Domain)
		ob = appendInt(ob, 2, o.Version)
		b = appendMsg(b, 8, ob)
	}
	for _, kv := range m.Metadata {
		b = appendMsg(b, 14, kv.marshal())
	}
	return b
}

func (kv StringStringKV) marshal() []byte {
	var b []byte
	b = appendString(b, 1, kv.Key)
	return appendString(b, 2, kv.Value)
}

func (g *Graph) marshal(b []byte) []byte {
	for _, n := range g.Nodes {
		b = appendMsg(b, 1, n.marshal())
	}
	b = appendString(b, 2, g.Name)
	for _, t := range g.Initializer {
		b = appendMsg(b, 5, t.marshal())
	}
	b = appendString(b, 10, g.DocString)
	for _, v := range g.Inputs {
		b = appendMsg(b, 11, v.marshal())
	}
	for _, v := range g.Outputs {
		b = appendMsg(b, 12, v.marshal())
	}
	return b
}

func (n *Node) marshal() []byte {
	var b []byte
	for _, s := range n.Inputs {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	for _, s := range n.Outputs {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	b = appendString(b, 3, n.Name)
	b = appendString(b, 4, n.OpType)
	for _, a := range n.Attrs {
		b = appendMsg(b, 5, a.marshal())
	}
	b = appendString(b, 6, n.DocString)
	b = appendString(b, 7, n.Domain)
	return b
}

func (a *Attribute) marshal() []byte {
	var b []byte
	b = appendString(b, 1, a.Name)
	switch a.Type {
	case attrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case attrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case attrString:
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, a.S)
	case attrTensor:
		b = appendMsg(b, 5, a.T.marshal())
	case attrFloats:
		var p []byte
		for _, f := range a.Floats {
			p = protowire.AppendFixed32(p, math.Float32bits(f))
		}
		b = appendMsg(b, 7, p)
	case attrInts:
		var p []byte
		for _, v := range a.Ints {
			p = protowire.AppendVarint(p, uint64(v))
		}
		b = appendMsg(b, 8, p)
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(a.Type))
}

func (t *Tensor) marshal() []byte {
	var b []byte
	if len(t.Dims) > 0 {
		var p []byte
		for _, d := range t.Dims {
			p = protowire.AppendVarint(p, uint64(d))
		}
		b = appendMsg(b, 1, p)
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.DataType))
	b = appendString(b, 8, t.Name)
	if !t.InFile {
		b = protowire.AppendTag(b, 9, protowire.BytesType)
		b = protowire.AppendBytes(b, t.RawData)
		return b
	}
	for _, kv := range t.External {
		b = appendMsg(b, 13, kv.marshal())
	}
	b = protowire.AppendTag(b, 14, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

func (v *ValueInfo) marshal() []byte {
	var shape []byte
	for _, d := range v.Shape {
		var db []byte
		if d.Param != "" {
			db = appendString(db, 2, d.Param)
		} else {
			db = protowire.AppendTag(db, 1, protowire.VarintType)
			db = protowire.AppendVarint(db, uint64(d.Value))
		}
		shape = appendMsg(shape, 1, db)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, uint64(v.ElemType))
	tt = appendMsg(tt, 2, shape)
	var typ []byte
	typ = appendMsg(typ, 1, tt)
	var b []byte
	b = appendString(b, 1, v.Name)
	b = appendMsg(b, 2, typ)
	return appendString(b, 3, v.DocString)
}

// appendString writes a non-empty string field (proto2 optional: empty means absent).
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendInt(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendMsg(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

// Raw encodings of tensor values.

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func int64Bytes(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}
