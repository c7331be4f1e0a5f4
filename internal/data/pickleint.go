package data

import (
	"math"
	"math/big"
)

// PickleInt is the integer a decoded pickle value holds: Python ints arrive
// as int, int64 or *big.Int, protocol 0 writes 0/1 as I00/I01 (booleans),
// and numpy-derived annotations may store ids as integral floats.
func PickleInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	}
	return 0, false
}
