#include "textflag.h"

// func transposeStrip(src *float32, lds int, dst *float32, ldd int, blocks int)
// Transposes an 8 x 8*blocks strip: dst[p*ldd+i] = src[i*lds+p] for i < 8,
// p < 8*blocks, one 8x8 block at a time (unpack, shuffle, lane permute). AVX.
TEXT ·transposeStrip(SB), NOSPLIT, $0-40
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), AX
	MOVQ dst+16(FP), DI
	MOVQ ldd+24(FP), BX
	MOVQ blocks+32(FP), DX
	SHLQ $2, AX
	SHLQ $2, BX
	LEAQ (AX)(AX*2), CX // 3*lds
	LEAQ (BX)(BX*2), R8 // 3*ldd
	TESTQ DX, DX
	JZ done

loop:
	LEAQ (SI)(AX*4), R9
	// The next strip (rows 8-15) is the next one packed: prefetch its columns
	// now, as each row's run is too short for the hardware prefetcher.
	LEAQ (R9)(AX*4), R10
	LEAQ (R10)(AX*4), R11
	PREFETCHT0 (R10)
	PREFETCHT0 (R10)(AX*1)
	PREFETCHT0 (R10)(AX*2)
	PREFETCHT0 (R10)(CX*1)
	PREFETCHT0 (R11)
	PREFETCHT0 (R11)(AX*1)
	PREFETCHT0 (R11)(AX*2)
	PREFETCHT0 (R11)(CX*1)
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(AX*1), Y1
	VMOVUPS (SI)(AX*2), Y2
	VMOVUPS (SI)(CX*1), Y3
	VMOVUPS (R9), Y4
	VMOVUPS (R9)(AX*1), Y5
	VMOVUPS (R9)(AX*2), Y6
	VMOVUPS (R9)(CX*1), Y7

	// t0..t7: rows paired element-wise within 128-bit lanes.
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	// Columns c / c+4 of rows 0-3 (Y0-Y3) and rows 4-7 (Y4-Y7).
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	// Join the halves: output row c = column c of the block.
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	LEAQ (DI)(BX*4), R9
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(BX*1)
	VMOVUPS Y10, (DI)(BX*2)
	VMOVUPS Y11, (DI)(R8*1)
	VMOVUPS Y12, (R9)
	VMOVUPS Y13, (R9)(BX*1)
	VMOVUPS Y14, (R9)(BX*2)
	VMOVUPS Y15, (R9)(R8*1)

	ADDQ $32, SI
	LEAQ (DI)(BX*8), DI
	DECQ DX
	JNZ loop

done:
	VZEROUPPER
	RET
