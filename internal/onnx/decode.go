package onnx

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vlbert/vlbert/internal/pbwire"
)

// MaxModelBytes bounds what Unmarshal accepts: the protobuf limit of one message
// (weights past it go to an external data file).
const MaxModelBytes = 2 << 30

// Unmarshal decodes a ModelProto into the subset of fields this package writes;
// fields it does not know are skipped, as protobuf readers do. It checks wire types
// and lengths, so a truncated or corrupt file is an error naming the message and
// field, never a panic.
func Unmarshal(b []byte) (*Model, error) {
	if len(b) > MaxModelBytes {
		return nil, fmt.Errorf("onnx: model of %d bytes exceeds the %d-byte protobuf limit", len(b), MaxModelBytes)
	}
	m := &Model{}
	err := fields(b, "ModelProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			m.IRVersion = int64(x)
		case 2:
			m.ProducerName = string(v)
		case 3:
			m.ProducerVersion = string(v)
		case 6:
			m.DocString = string(v)
		case 7:
			g, err := unmarshalGraph(v)
			if err != nil {
				return err
			}
			m.Graph = g
		case 8:
			var o OpsetID
			err := fields(v, "OperatorSetIdProto", func(n protowire.Number, _ protowire.Type, v []byte, x uint64) error {
				switch n {
				case 1:
					o.Domain = string(v)
				case 2:
					o.Version = int64(x)
				}
				return nil
			}, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.VarintType})
			if err != nil {
				return err
			}
			m.Opsets = append(m.Opsets, o)
		case 14:
			kv, err := unmarshalKV(v)
			if err != nil {
				return err
			}
			m.Metadata = append(m.Metadata, kv)
		}
		return nil
	}, map[protowire.Number]protowire.Type{1: protowire.VarintType, 2: protowire.BytesType, 3: protowire.BytesType,
		6: protowire.BytesType, 7: protowire.BytesType, 8: protowire.BytesType, 14: protowire.BytesType})
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return m, nil
}

func unmarshalKV(b []byte) (StringStringKV, error) {
	var kv StringStringKV
	err := fields(b, "StringStringEntryProto", func(n protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		if n == 1 {
			kv.Key = string(v)
		} else if n == 2 {
			kv.Value = string(v)
		}
		return nil
	}, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.BytesType})
	return kv, err
}

func unmarshalGraph(b []byte) (*Graph, error) {
	g := &Graph{}
	err := fields(b, "GraphProto", func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 1:
			n, err := unmarshalNode(v)
			if err != nil {
				return err
			}
			g.Nodes = append(g.Nodes, n)
		case 2:
			g.Name = string(v)
		case 5:
			t, err := unmarshalTensor(v)
			if err != nil {
				return err
			}
			g.Initializer = append(g.Initializer, t)
		case 10:
			g.DocString = string(v)
		case 11, 12:
			vi, err := unmarshalValueInfo(v)
			if err != nil {
				return err
			}
			if num == 11 {
				g.Inputs = append(g.Inputs, vi)
			} else {
				g.Outputs = append(g.Outputs, vi)
			}
		}
		return nil
	}, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.BytesType, 5: protowire.BytesType,
		10: protowire.BytesType, 11: protowire.BytesType, 12: protowire.BytesType})
	return g, err
}

func unmarshalNode(b []byte) (*Node, error) {
	n := &Node{}
	err := fields(b, "NodeProto", func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 1:
			n.Inputs = append(n.Inputs, string(v))
		case 2:
			n.Outputs = append(n.Outputs, string(v))
		case 3:
			n.Name = string(v)
		case 4:
			n.OpType = string(v)
		case 5:
			a, err := unmarshalAttr(v)
			if err != nil {
				return err
			}
			n.Attrs = append(n.Attrs, a)
		case 6:
			n.DocString = string(v)
		case 7:
			n.Domain = string(v)
		}
		return nil
	}, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.BytesType, 3: protowire.BytesType,
		4: protowire.BytesType, 5: protowire.BytesType, 6: protowire.BytesType, 7: protowire.BytesType})
	return n, err
}

func unmarshalAttr(b []byte) (*Attribute, error) {
	a := &Attribute{}
	err := fields(b, "AttributeProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			a.Name = string(v)
		case 2:
			a.F = math.Float32frombits(uint32(x))
		case 3:
			a.I = int64(x)
		case 4:
			a.S = string(v)
		case 5:
			t, err := unmarshalTensor(v)
			if err != nil {
				return err
			}
			a.T = t
		case 7:
			if typ == protowire.Fixed32Type {
				a.Floats = append(a.Floats, math.Float32frombits(uint32(x)))
				return nil
			}
			for len(v) > 0 {
				f, n := protowire.ConsumeFixed32(v)
				if n < 0 {
					return fmt.Errorf("AttributeProto.floats: %w", protowire.ParseError(n))
				}
				a.Floats, v = append(a.Floats, math.Float32frombits(f)), v[n:]
			}
		case 8:
			if typ == protowire.VarintType {
				a.Ints = append(a.Ints, int64(x))
				return nil
			}
			ints, err := packedVarints(v, "AttributeProto.ints")
			if err != nil {
				return err
			}
			a.Ints = append(a.Ints, ints...)
		case 20:
			a.Type = int32(x)
		}
		return nil
	}, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.Fixed32Type, 3: protowire.VarintType,
		4: protowire.BytesType, 5: protowire.BytesType, 20: protowire.VarintType})
	return a, err
}

func unmarshalTensor(b []byte) (*Tensor, error) {
	t := &Tensor{}
	err := fields(b, "TensorProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			if typ == protowire.VarintType {
				t.Dims = append(t.Dims, int64(x))
				return nil
			}
			d, err := packedVarints(v, "TensorProto.dims")
			if err != nil {
				return err
			}
			t.Dims = append(t.Dims, d...)
		case 2:
			t.DataType = int32(x)
		case 8:
			t.Name = string(v)
		case 9:
			t.RawData = v
		case 13:
			kv, err := unmarshalKV(v)
			if err != nil {
				return err
			}
			t.External = append(t.External, kv)
		case 14:
			t.InFile = x == 1
		}
		return nil
	}, map[protowire.Number]protowire.Type{2: protowire.VarintType, 8: protowire.BytesType, 9: protowire.BytesType,
		13: protowire.BytesType, 14: protowire.VarintType})
	return t, err
}

func unmarshalValueInfo(b []byte) (*ValueInfo, error) {
	vi := &ValueInfo{}
	err := fields(b, "ValueInfoProto", func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 1:
			vi.Name = string(v)
		case 3:
			vi.DocString = string(v)
		case 2: // TypeProto
			return fields(v, "TypeProto", func(n protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
				if n != 1 {
					return nil
				}
				return fields(v, "TypeProto.Tensor", func(n protowire.Number, _ protowire.Type, v []byte, x uint64) error {
					switch n {
					case 1:
						vi.ElemType = int32(x)
					case 2:
						return fields(v, "TensorShapeProto", func(n protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
							if n != 1 {
								return nil
							}
							var d Dim
							err := fields(v, "TensorShapeProto.Dimension", func(n protowire.Number, _ protowire.Type, v []byte, x uint64) error {
								if n == 1 {
									d.Value = int64(x)
								} else if n == 2 {
									d.Param = string(v)
								}
								return nil
							}, map[protowire.Number]protowire.Type{1: protowire.VarintType, 2: protowire.BytesType})
							vi.Shape = append(vi.Shape, d)
							return err
						}, map[protowire.Number]protowire.Type{1: protowire.BytesType})
					}
					return nil
				}, map[protowire.Number]protowire.Type{1: protowire.VarintType, 2: protowire.BytesType})
			}, map[protowire.Number]protowire.Type{1: protowire.BytesType})
		}
		return nil
	}, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.BytesType, 3: protowire.BytesType})
	return vi, err
}

// fields walks the fields of one message. For each field it calls f with the
// field's bytes (length-delimited) or value (varint, fixed32, fixed64). want gives
// the wire type a known field must have; repeated scalars may also come packed
// (f handles both), so a field number absent from want accepts any type.
func fields(b []byte, msg string, f func(protowire.Number, protowire.Type, []byte, uint64) error, want map[protowire.Number]protowire.Type) error {
	inField := false // an error from f or the type check already names msg
	err := pbwire.Walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		inField = true
		if w, ok := want[num]; ok && w != typ {
			return fmt.Errorf("%s field %d has wire type %d, want %d", msg, num, typ, w)
		}
		if err := f(num, typ, v, x); err != nil {
			return fmt.Errorf("%s field %d: %w", msg, num, err)
		}
		inField = false
		return nil
	})
	if err != nil && !inField {
		return fmt.Errorf("%s: %w", msg, err)
	}
	return err
}

func packedVarints(v []byte, what string) ([]int64, error) {
	var out []int64
	for len(v) > 0 {
		x, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return nil, fmt.Errorf("%s: %w", what, protowire.ParseError(n))
		}
		out, v = append(out, int64(x)), v[n:]
	}
	return out, nil
}
