package pbwire

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestWalk reads one field of each wire type back, and refuses truncated input.
func TestWalk(t *testing.T) {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 300)
	b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 0xdeadbeef)
	b = protowire.AppendTag(b, 3, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1<<40)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("abc"))
	type field struct {
		num protowire.Number
		v   string
		x   uint64
	}
	var got []field
	err := Walk(b, func(num protowire.Number, _ protowire.Type, v []byte, x uint64) error {
		got = append(got, field{num, string(v), x})
		return nil
	})
	want := []field{{1, "", 300}, {2, "", 0xdeadbeef}, {3, "", 1 << 40}, {4, "abc", 0}}
	if err != nil || len(got) != len(want) {
		t.Fatalf("Walk: %v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	for cut := 1; cut < len(b); cut++ {
		if err := Walk(b[:cut], func(protowire.Number, protowire.Type, []byte, uint64) error { return nil }); err == nil && cut != 3 && cut != 8 && cut != 17 {
			t.Errorf("truncated at %d: no error", cut)
		} else if err != nil && !strings.Contains(err.Error(), "bad protobuf") {
			t.Errorf("truncated at %d: %v", cut, err)
		}
	}
}

func FuzzWalk(f *testing.F) {
	f.Add([]byte{0x08, 0x96, 0x01, 0x22, 0x03, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		_ = Walk(b, func(_ protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
			n += len(v)
			return nil
		})
		if n > len(b) {
			t.Fatalf("payloads total %d bytes of a %d-byte message", n, len(b))
		}
	})
}
