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
