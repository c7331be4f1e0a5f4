package kernels

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/parallel"
)

// EmbeddingForward gathers rows of an embedding table: out[n,:] = table[ids[n],:].
//
//	out   [N,C] overwritten
//	ids   [N]   each in [0, V) where V = len(table)/C
//	table [V,C]
func EmbeddingForward(out []float32, ids []int32, table []float32, N, C int) {
	const fn = "EmbeddingForward"
	checkEmbedding(fn, ids, table, N, C)
	need(fn, "out", out, N*C)
	if serial(N, rowChunk(C)) {
		gatherRows(out, ids, table, 0, N, C)
		return
	}
	parallel.ForArgs(N, rowChunk(C), embArgs{out, table, ids, N, C}, func(a *embArgs, lo, hi int) {
		gatherRows(a.out, a.ids, a.table, lo, hi, a.C)
	})
}

func gatherRows(out []float32, ids []int32, table []float32, lo, hi, C int) {
	for n := lo; n < hi; n++ {
		id := int(ids[n])
		copy(out[n*C:(n+1)*C], table[id*C:(id+1)*C])
	}
}

// EmbeddingBackward scatter-adds the output gradient into the table gradient:
// dtable[ids[n],:] += dout[n,:] for every n (ACCUMULATED; repeated ids add up).
//
//	dtable [V,C] accumulated (V = len(dtable)/C)
//	dout   [N,C]
//	ids    [N]
//
// Parallel over column ranges, so each element is summed in row order whatever the
// thread count.
func EmbeddingBackward(dtable, dout []float32, ids []int32, N, C int) {
	const fn = "EmbeddingBackward"
	if dtable == nil {
		return
	}
	checkEmbedding(fn, ids, dtable, N, C)
	need(fn, "dout", dout, N*C)
	const block = 64
	nblocks := (C + block - 1) / block
	chunk := max(1, 8192/max(N*block, 1))
	if serial(nblocks, chunk) {
		scatterAddCols(dtable, dout, ids, N, C, 0, C)
		return
	}
	parallel.ForArgs(nblocks, chunk, embArgs{dout, dtable, ids, N, C}, func(a *embArgs, lo, hi int) {
		scatterAddCols(a.table, a.out, a.ids, a.N, a.C, lo*block, min(hi*block, a.C))
	})
}

// scatterAddCols adds columns c0..c1 of every dout row into its table row, in row order.
func scatterAddCols(dtable, dout []float32, ids []int32, N, C, c0, c1 int) {
	for n := 0; n < N; n++ {
		id := int(ids[n])
		d := dtable[id*C+c0 : id*C+c1]
		g := dout[n*C+c0 : n*C+c1]
		for j, v := range g {
			d[j] += v
		}
	}
}

func checkEmbedding(fn string, ids []int32, table []float32, N, C int) {
	nonNeg(fn, N, C)
	if len(ids) < N {
		panic(fmt.Sprintf("kernels: %s: ids has %d elements, need %d", fn, len(ids), N))
	}
	if C == 0 {
		return
	}
	V := len(table) / C
	for n, id := range ids[:N] {
		if id < 0 || int(id) >= V {
			panic(fmt.Sprintf("kernels: %s: ids[%d] = %d outside [0,%d)", fn, n, id, V))
		}
	}
}

// embArgs carries the embedding loops' inputs to parallel.ForArgs.
type embArgs struct {
	out, table []float32 // dout and dtable in the backward
	ids        []int32
	N, C       int
}
