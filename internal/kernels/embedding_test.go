package kernels

import "testing"

func TestEmbedding(t *testing.T) {
	r := newRand(40)
	V, C, N := 7, 5, 12
	table := randn(r, V*C, 1)
	ids := []int32{0, 3, 3, 6, 1, 3, 0, 2, 6, 6, 6, 5}
	out := nan32(N * C)
	EmbeddingForward(out, ids, table, N, C)
	for n, id := range ids {
		checkEqual(t, "row", out[n*C:(n+1)*C], table[int(id)*C:int(id+1)*C])
	}

	// Gradient check of L = Σ g·Embedding(table) against the table, float64 reference.
	g := randn(r, N*C, 1)
	t64 := to64(table)
	loss := func() float64 {
		y := make([]float64, N*C)
		for n, id := range ids {
			copy(y[n*C:(n+1)*C], t64[int(id)*C:int(id+1)*C])
		}
		return dot64(g, y)
	}
	want := fdGrad(loss, t64, 1e-3)
	dtable := make([]float32, V*C)
	EmbeddingBackward(dtable, g, ids, N, C)
	checkClose(t, "dtable", dtable, want, 1e-5, 1e-5)
	// Accumulates.
	EmbeddingBackward(dtable, g, ids, N, C)
	for i := range want {
		want[i] *= 2
	}
	checkClose(t, "dtable twice", dtable, want, 1e-5, 1e-5)
	EmbeddingBackward(nil, g, ids, N, C) // nil skipped
}

func TestEmbeddingThreadInvariant(t *testing.T) {
	r := newRand(41)
	V, C, N := 50, 768, 400
	table, g := randn(r, V*C, 1), randn(r, N*C, 1)
	ids := make([]int32, N)
	for i := range ids {
		ids[i] = int32(r.IntN(V)) // many repeats
	}
	checkThreadInvariant(t, "embedding", func() [][]float32 {
		out, d := make([]float32, N*C), make([]float32, V*C)
		EmbeddingForward(out, ids, table, N, C)
		EmbeddingBackward(d, g, ids, N, C)
		return [][]float32{out, d}
	})
}

func TestEmbeddingPanics(t *testing.T) {
	table, out := make([]float32, 12), make([]float32, 8)
	mustPanic(t, "ids[1] = 3 outside [0,3)", func() { EmbeddingForward(out, []int32{0, 3}, table, 2, 4) })
	mustPanic(t, "ids[0] = -1", func() { EmbeddingBackward(table, out, []int32{-1, 0}, 2, 4) })
	mustPanic(t, "ids has 1", func() { EmbeddingForward(out, []int32{0}, table, 2, 4) })
}
