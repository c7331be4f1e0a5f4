//go:build !amd64

package gemm

const hasEpilogueAVX2 = false

func epilogueRowAVX2(c *float32, res *float32, n int, s, b float32, relu bool) {
	panic("gemm: epilogueRowAVX2 without amd64")
}
