//go:build amd64

package kernels

import "golang.org/x/sys/cpu"

//go:generate go run asm/gen.go

// useAVX2 selects the AVX2+FMA float32 kernels of simd_amd64.s (GELU forward and
// backward); elsewhere the float64 table code of piecewise.go runs.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// geluAVX2 sets out[i] = x·Φ(x), x = inp[i], for i < n; n must be a multiple of 8.
//
//go:noescape
func geluAVX2(out, inp *float32, n int)

// geluBackAVX2 sets dinp[i] = dout[i]·(Φ(x) + x·φ(x)), x = inp[i], for i < n; n must
// be a multiple of 8.
//
//go:noescape
func geluBackAVX2(dinp, inp, dout *float32, n int)
