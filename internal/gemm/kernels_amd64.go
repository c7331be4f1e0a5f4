package gemm

import "golang.org/x/sys/cpu"

// hasTranspose says whether transposeStrip (AVX) can run.
var hasTranspose = cpu.X86.HasAVX

//go:generate go run asm/gen.go

// allKernels lists every kernel, fastest first; generic must be last.
var allKernels = []*kernel{avx512, avx2, generic}

// avx512 is a 12x32 tile in 24 zmm accumulators. The packed B micro-panel
// (kc x 32 floats, 32 KiB) stays in L1 and the mc x kc block of A in L2.
// The development machines have no AVX-512; it passed the whole gemm suite and the
// model's golden tests on a Sapphire Rapids host (2026-11-27), where it ran at 0.8×
// MKL's speed at 1 thread: its blocking is not tuned for any particular CPU.
var avx512 = &kernel{
	name: "avx512", mr: 12, nr: 32,
	mc: 192, kc: 256, nc: 3072,
	supported: func() bool { return cpu.X86.HasAVX512F && cpu.X86.HasFMA },
	tile:      tileAVX512,
	tileBias:  tileAVX512Bias,
	tileN:     tileAVX512N,
	tileNBias: tileAVX512NBias,
	half:      tileAVX512Half,
}

// avx2 is the classic 6x16 tile: 12 ymm accumulators, two B loads and one A
// broadcast per row and k step. Blocking for 32 KiB L1d / 512 KiB L2 (Zen 3): the
// kc x 16 B micro-panel (16 KiB) stays in L1, the mc x kc A block in L2.
var avx2 = &kernel{
	name: "avx2", mr: 6, nr: 16,
	mc: 144, kc: 256, nc: 3072,
	supported: func() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA },
	tile:      tileAVX2,
	tileBias:  tileAVX2Bias,
	tileN:     tileAVX2N,
	tileNBias: tileAVX2NBias,
	half:      tileAVX2Half,
}

// tileAVX2 computes a 6x16 tile (see kernel.tile). k >= 1.
//
//go:noescape
func tileAVX2(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// tileAVX2Bias is tileAVX2 plus bias[j] on every row (see kernel.tileBias).
//
//go:noescape
func tileAVX2Bias(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32, bias *float32)

// tileAVX512Bias is tileAVX512 plus bias[j] on every row (see kernel.tileBias).
//
//go:noescape
func tileAVX512Bias(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32, bias *float32)

// tileAVX2N computes n 6x16 tiles down a column of C (see kernel.tileN).
//
//go:noescape
func tileAVX2N(n, k int, a *float32, rsA, csA, aStep int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// tileAVX2NBias is tileAVX2N plus bias[j] on every row (see kernel.tileNBias).
//
//go:noescape
func tileAVX2NBias(n, k int, a *float32, rsA, csA, aStep int, b *float32, csB int, c *float32, ldc int, alpha, beta float32, bias *float32)

// tileAVX512N computes n 12x32 tiles down a column of C (see kernel.tileN).
//
//go:noescape
func tileAVX512N(n, k int, a *float32, rsA, csA, aStep int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// tileAVX512NBias is tileAVX512N plus bias[j] on every row (see kernel.tileNBias).
//
//go:noescape
func tileAVX512NBias(n, k int, a *float32, rsA, csA, aStep int, b *float32, csB int, c *float32, ldc int, alpha, beta float32, bias *float32)

// tileAVX512 computes a 12x32 tile (see kernel.tile). k >= 1.
//
//go:noescape
func tileAVX512(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// transposeStrip sets dst[p*ldd+i] = src[i*lds+p] for i < 8, p < 8*blocks.
// Needs AVX (hasTranspose).
//
//go:noescape
func transposeStrip(src *float32, lds int, dst *float32, ldd int, blocks int)

// tileAVX2Half computes the left 6x8 half of a tile (see kernel.half). k >= 1.
//
//go:noescape
func tileAVX2Half(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// tileAVX512Half computes the left 12x16 half of a tile (see kernel.half). k >= 1.
//
//go:noescape
func tileAVX512Half(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// tileAVX2Rows12 computes a 12x8 tile with AVX2. vlbert does not use it: tests run
// it on AVX2 machines because it shares the AVX-512 kernels' 12-row code path
// (rows 6-11 addressed from a second base register).
//
//go:noescape
func tileAVX2Rows12(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

// hasPack says whether the AVX packing routines (pack_amd64.s) can run.
var hasPack = cpu.X86.HasAVX

// packA6 packs a full 6-row panel of A (not transposed): dst[p*6+i] = src[i*lda+p]
// for i < 6, p < kc. Needs AVX (hasPack).
//
//go:noescape
func packA6(dst *float32, src *float32, lda int, kc int)

// packAT6 packs panels full 6-row panels of op(A) = Aᵀ: dst[t*6*kc+p*6+i] =
// src[p*lda+t*6+i] for t < panels, p < kc, i < 6. Needs AVX (hasPack).
//
//go:noescape
func packAT6(dst *float32, src *float32, lda int, panels int, kc int)

// packB16 packs a full 16-column panel of B (not transposed): dst[p*16+j] =
// src[p*ldb+j] for j < 16, p < kc. Needs AVX (hasPack).
//
//go:noescape
func packB16(dst *float32, src *float32, ldb int, kc int)
