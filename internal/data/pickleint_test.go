package data

import (
	"math/big"
	"testing"
)

func TestPickleInt(t *testing.T) {
	huge := new(big.Int).Lsh(big.NewInt(1), 70)
	for _, c := range []struct {
		v    any
		want int64
		ok   bool
	}{
		{7, 7, true}, {int64(-3), -3, true}, {big.NewInt(1 << 40), 1 << 40, true}, {huge, 0, false},
		{true, 1, true}, {false, 0, true}, {42.0, 42, true}, {4.5, 0, false}, {"7", 0, false}, {nil, 0, false},
	} {
		if got, ok := PickleInt(c.v); got != c.want || ok != c.ok {
			t.Errorf("PickleInt(%#v) = %d, %v; want %d, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}
