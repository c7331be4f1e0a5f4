package model

import "testing"

func TestArenaReuse(t *testing.T) {
	var a arena
	pass := func(sizes ...int) {
		a.reset()
		for _, n := range sizes {
			s := a.alloc(n)
			if len(s) != n {
				t.Fatalf("alloc(%d) gave %d", n, len(s))
			}
			for i := range s {
				if s[i] != 0 {
					t.Fatal("alloc not zeroed")
				}
				s[i] = 1
			}
		}
	}
	big := []int{300000, 70000, 500000, 10, 200000}
	pass(big...)
	n := len(a.chunks)
	first := &a.chunks[0][0]
	for range 3 {
		pass(big...)
	}
	if len(a.chunks) != n || &a.chunks[0][0] != first {
		t.Errorf("same-shape passes reallocated: %d chunks, was %d", len(a.chunks), n)
	}
	// Much smaller passes: the chunks hold far more than needed and are merged.
	pass(1000)
	pass(1000)
	if len(a.chunks) != 1 || len(a.chunks[0]) > 1<<21 {
		t.Errorf("fragmented arena not merged: %d chunks, first %d floats", len(a.chunks), len(a.chunks[0]))
	}
}
