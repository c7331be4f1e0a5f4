package synth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// encodePickle writes v as a protocol-2 Python pickle, the format of the original
// RefCOCO+ `refs(unc).p`. It supports the values that file holds: nil, bool, int,
// float64, string, []any and map[string]any (keys written in sorted order).
func encodePickle(v any) ([]byte, error) {
	var b bytes.Buffer
	b.Write([]byte{0x80, 2}) // PROTO 2
	if err := pickleValue(&b, v); err != nil {
		return nil, err
	}
	b.WriteByte('.') // STOP
	return b.Bytes(), nil
}

func pickleValue(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteByte('N')
	case bool:
		if x {
			b.WriteByte(0x88)
		} else {
			b.WriteByte(0x89)
		}
	case int:
		if x < math.MinInt32 || x > math.MaxInt32 {
			return fmt.Errorf("synth: pickle int %d out of 32-bit range", x)
		}
		b.WriteByte('J') // BININT
		binary.Write(b, binary.LittleEndian, int32(x))
	case float64:
		b.WriteByte('G') // BINFLOAT, big-endian
		binary.Write(b, binary.BigEndian, x)
	case string:
		b.WriteByte('X') // BINUNICODE
		binary.Write(b, binary.LittleEndian, uint32(len(x)))
		b.WriteString(x)
	case []any:
		b.WriteByte(']') // EMPTY_LIST
		if len(x) > 0 {
			b.WriteByte('(') // MARK
			for _, e := range x {
				if err := pickleValue(b, e); err != nil {
					return err
				}
			}
			b.WriteByte('e') // APPENDS
		}
	case map[string]any:
		b.WriteByte('}') // EMPTY_DICT
		if len(x) > 0 {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteByte('(')
			for _, k := range keys {
				pickleValue(b, k)
				if err := pickleValue(b, x[k]); err != nil {
					return err
				}
			}
			b.WriteByte('u') // SETITEMS
		}
	default:
		return fmt.Errorf("synth: cannot pickle %T", v)
	}
	return nil
}
