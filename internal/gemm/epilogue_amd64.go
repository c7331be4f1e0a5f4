package gemm

import "golang.org/x/sys/cpu"

// hasEpilogueAVX2 says whether epilogueRowAVX2 can run.
var hasEpilogueAVX2 = cpu.X86.HasAVX2

// epilogueRowAVX2 sets c[i] = act(c[i]·s + b (+ res[i])) for i < n (n a
// multiple of 8; res may be nil; act is max(·, 0) with relu). Needs AVX2.
//
//go:noescape
func epilogueRowAVX2(c *float32, res *float32, n int, s, b float32, relu bool)
