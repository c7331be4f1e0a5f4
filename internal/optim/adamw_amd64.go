//go:build amd64

package optim

import "golang.org/x/sys/cpu"

// useAVX2 selects adamwAVX2 (adamw_amd64.s) for the AdamW update.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// adamwAVX2 is adamKernel.run on n elements (n a multiple of 8) with the same
// float32 operations in the same order (VFMADD231PS is fma32's single rounding);
// c holds b1, ob1, b2, ob2, eps, negStep, negDecay; decay != 0 applies the decay.
//
//go:noescape
func adamwAVX2(param, grad, expAvg, expAvgSq *float32, n int, c *[7]float32, decay int)

// sumSquaresAVX2 returns Σ x[i]² in float64 for i < n (n a multiple of 16), in a fixed
// order (four 4-lane accumulators).
//
//go:noescape
func sumSquaresAVX2(x *float32, n int) float64

// scaleAVX2 sets x[i] *= c for i < n (n a multiple of 8).
//
//go:noescape
func scaleAVX2(x *float32, n int, c float32)
