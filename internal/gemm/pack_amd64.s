#include "textflag.h"

// Packing routines for the AVX2 kernel's 6x16 shape. The sources are activations
// and weights that are usually not in cache, and each run of one row is too short
// (kc floats) for the hardware prefetcher: each routine prefetches the rows it will
// read next. AVX.

// func packA6(dst *float32, src *float32, lda int, kc int)
// dst[p*6+i] = src[i*lda+p] for i < 6, p < kc; prefetches rows 6-11 (the next panel).
TEXT ·packA6(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lda+16(FP), AX
	MOVQ kc+24(FP), CX
	SHLQ $2, AX
	LEAQ (AX)(AX*2), BX // 3*lda
	LEAQ (SI)(BX*1), R8 // row 3
	LEAQ (SI)(BX*2), R9 // row 6: the next panel
	LEAQ (R9)(BX*1), R10 // row 9
	MOVQ CX, DX
	SHRQ $2, DX
	ANDQ $3, CX
	TESTQ DX, DX
	JZ rem

loop4:
	PREFETCHT0 (R9)
	PREFETCHT0 (R9)(AX*1)
	PREFETCHT0 (R9)(AX*2)
	PREFETCHT0 (R10)
	PREFETCHT0 (R10)(AX*1)
	PREFETCHT0 (R10)(AX*2)
	VMOVUPS (SI), X0
	VMOVUPS (SI)(AX*1), X1
	VMOVUPS (SI)(AX*2), X2
	VMOVUPS (R8), X3
	VMOVUPS (R8)(AX*1), X4
	VMOVUPS (R8)(AX*2), X5
	VUNPCKLPS X1, X0, X8  // r0p0 r1p0 r0p1 r1p1
	VUNPCKHPS X1, X0, X9  // r0p2 r1p2 r0p3 r1p3
	VUNPCKLPS X3, X2, X10 // r2p0 r3p0 r2p1 r3p1
	VUNPCKHPS X3, X2, X11 // r2p2 r3p2 r2p3 r3p3
	VUNPCKLPS X5, X4, X12 // r4p0 r5p0 r4p1 r5p1
	VUNPCKHPS X5, X4, X13 // r4p2 r5p2 r4p3 r5p3
	VSHUFPS $0x44, X10, X8, X0 // r0..r3 at p0
	VSHUFPS $0xEE, X10, X8, X1 // p1
	VSHUFPS $0x44, X11, X9, X2 // p2
	VSHUFPS $0xEE, X11, X9, X3 // p3
	VMOVUPS X0, 0(DI)
	VMOVLPS X12, 16(DI)
	VMOVUPS X1, 24(DI)
	VMOVHPS X12, 40(DI)
	VMOVUPS X2, 48(DI)
	VMOVLPS X13, 64(DI)
	VMOVUPS X3, 72(DI)
	VMOVHPS X13, 88(DI)
	ADDQ $16, SI
	ADDQ $16, R8
	ADDQ $16, R9
	ADDQ $16, R10
	ADDQ $96, DI
	DECQ DX
	JNZ loop4

rem:
	TESTQ CX, CX
	JZ done

loop1:
	MOVL (SI), R11
	MOVL R11, 0(DI)
	MOVL (SI)(AX*1), R11
	MOVL R11, 4(DI)
	MOVL (SI)(AX*2), R11
	MOVL R11, 8(DI)
	MOVL (R8), R11
	MOVL R11, 12(DI)
	MOVL (R8)(AX*1), R11
	MOVL R11, 16(DI)
	MOVL (R8)(AX*2), R11
	MOVL R11, 20(DI)
	ADDQ $4, SI
	ADDQ $4, R8
	ADDQ $24, DI
	DECQ CX
	JNZ loop1

done:
	RET

// func packAT6(dst *float32, src *float32, lda int, panels int, kc int)
// Packs panels full 6-row panels of op(A) = Aᵀ: for p < kc, t < panels, i < 6:
// dst[t*6*kc+p*6+i] = src[p*lda+t*6+i]; prefetches row p+4 while copying row p.
TEXT ·packAT6(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lda+16(FP), AX
	MOVQ panels+24(FP), BX
	MOVQ kc+32(FP), CX
	SHLQ $2, AX
	IMUL3Q $24, CX, R8 // bytes per packed panel: 6*kc*4
	LEAQ (AX)(AX*1), R12
	LEAQ (R12)(R12*1), R12 // 4*lda: prefetch distance
	TESTQ CX, CX
	JZ atdone
	TESTQ BX, BX
	JZ atdone

atrow:
	MOVQ SI, R9  // source run
	MOVQ DI, R10 // dst of panel 0 at this p
	MOVQ BX, DX

atpanel:
	PREFETCHT0 (R9)(R12*1)
	VMOVUPS (R9), X0
	MOVQ 16(R9), R11
	VMOVUPS X0, (R10)
	MOVQ R11, 16(R10)
	ADDQ $24, R9
	ADDQ R8, R10
	DECQ DX
	JNZ atpanel

	ADDQ AX, SI
	ADDQ $24, DI
	DECQ CX
	JNZ atrow

atdone:
	RET

// func packB16(dst *float32, src *float32, ldb int, kc int)
// dst[p*16+j] = src[p*ldb+j] for j < 16, p < kc; prefetches row p+8.
TEXT ·packB16(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldb+16(FP), AX
	MOVQ kc+24(FP), CX
	SHLQ $2, AX
	MOVQ AX, BX
	SHLQ $3, BX // 8*ldb
	TESTQ CX, CX
	JZ bdone

bloop:
	PREFETCHT0 (SI)(BX*1)
	PREFETCHT0 60(SI)(BX*1)
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ AX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ bloop

bdone:
	VZEROUPPER
	RET

