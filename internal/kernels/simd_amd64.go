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

// expShiftAVX2 sets out[i] = e^(x[i]-shift) for i < n (n a multiple of 8), flushing
// results below e^-86.5 to 0, and returns their sum (float32, fixed order).
//
//go:noescape
func expShiftAVX2(out, x *float32, n int, shift float32) (sum float32)

// addAVX2 sets out[i] = a[i] + b[i] for i < n (n a multiple of 8); out may alias a or b.
//
//go:noescape
func addAVX2(out, a, b *float32, n int)

// dropoutAVX2 is masker.apply on n elements (n a multiple of 8) starting at an even
// element index: lane l of z0 is key + (j0+l+1)·golden64 for the first pair j0, inc is
// 4·golden64, thr < 2^32 the keep threshold and scale the kept elements' factor.
//
//go:noescape
func dropoutAVX2(out, src *float32, n int, z0 *[4]uint64, inc, thr uint64, scale float32)
