// Package pbwire walks the fields of an encoded protobuf message without a
// generated schema: the readers of outside protobuf data (Caffe's NetParameter,
// ONNX models, TensorBoard event files) decode only the few fields they need.
//
// It adds no limits of its own: every length it reads is checked against the
// buffer by protowire, so a truncated or hostile message is an error, never a
// read past the end. Callers bound the size of what they pass in.
package pbwire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Walk calls fn for each field of the message in b, in the order they are
// encoded: v is the payload of a length-delimited field, x the value of a varint,
// fixed32 or fixed64 one (groups are skipped with v and x zero). It stops at the
// first malformed field or at fn's first error, which it returns unwrapped.
func Walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad protobuf tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x32 uint32
			x32, n = protowire.ConsumeFixed32(b)
			x = uint64(x32)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("bad protobuf field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}
