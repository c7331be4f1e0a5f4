// Row quantization for package quant (see tile_amd64.go): min/max scan and
// float32 -> 7-bit conversion. AVX2, VEX encoded throughout (no legacy SSE: each
// mixed transition costs ~200 cycles).

#include "textflag.h"

// VPERMD indices that undo the in-lane order of VPACKSSDW + VPACKUSWB.
DATA packOrder<>+0(SB)/8, $0x0000000400000000
DATA packOrder<>+8(SB)/8, $0x0000000500000001
DATA packOrder<>+16(SB)/8, $0x0000000600000002
DATA packOrder<>+24(SB)/8, $0x0000000700000003
GLOBL packOrder<>(SB), RODATA|NOPTR, $32

// 32 bytes of 127, the top of the 7-bit input range.
DATA top127<>+0(SB)/8, $0x7f7f7f7f7f7f7f7f
DATA top127<>+8(SB)/8, $0x7f7f7f7f7f7f7f7f
DATA top127<>+16(SB)/8, $0x7f7f7f7f7f7f7f7f
DATA top127<>+24(SB)/8, $0x7f7f7f7f7f7f7f7f
GLOBL top127<>(SB), RODATA|NOPTR, $32

// func minMaxAVX(x *float32, n int) (lo, hi float32, nan bool)
// Four independent min/max chains over 32 floats an iteration (VMINPS's latency
// would otherwise bound the loop), then 8 at a time.
TEXT ·minMaxAVX(SB), NOSPLIT, $0-25
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y5
	VMOVAPS Y0, Y6
	VMOVAPS Y0, Y7
	VMOVAPS Y0, Y8
	VMOVAPS Y0, Y9
	VMOVAPS Y0, Y10
	VXORPS Y2, Y2, Y2
	MOVQ CX, AX
	SHRQ $5, AX
	JZ minMaxAVX_tail
minMaxAVX_loop4:
	VMOVUPS 0(SI), Y3
	VMOVUPS 32(SI), Y4
	VMOVUPS 64(SI), Y11
	VMOVUPS 96(SI), Y12
	VMINPS Y3, Y0, Y0
	VMAXPS Y3, Y1, Y1
	VMINPS Y4, Y5, Y5
	VMAXPS Y4, Y6, Y6
	VMINPS Y11, Y7, Y7
	VMAXPS Y11, Y8, Y8
	VMINPS Y12, Y9, Y9
	VMAXPS Y12, Y10, Y10
	VCMPPS $3, Y4, Y3, Y13
	VCMPPS $3, Y12, Y11, Y14
	VORPS Y13, Y2, Y2
	VORPS Y14, Y2, Y2
	ADDQ $128, SI
	DECQ AX
	JNZ minMaxAVX_loop4
	VMINPS Y5, Y0, Y0
	VMINPS Y9, Y7, Y7
	VMINPS Y7, Y0, Y0
	VMAXPS Y6, Y1, Y1
	VMAXPS Y10, Y8, Y8
	VMAXPS Y8, Y1, Y1
minMaxAVX_tail:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ minMaxAVX_reduce
minMaxAVX_loop:
	VMOVUPS (SI), Y3
	VMINPS Y3, Y0, Y0
	VMAXPS Y3, Y1, Y1
	VCMPPS $3, Y3, Y3, Y4
	VORPS Y4, Y2, Y2
	ADDQ $32, SI
	DECQ CX
	JNZ minMaxAVX_loop
minMaxAVX_reduce:
	VEXTRACTF128 $1, Y0, X3
	VMINPS X3, X0, X0
	VPERMILPS $0x4e, X0, X3
	VMINPS X3, X0, X0
	VPERMILPS $0xb1, X0, X3
	VMINPS X3, X0, X0
	VEXTRACTF128 $1, Y1, X3
	VMAXPS X3, X1, X1
	VPERMILPS $0x4e, X1, X3
	VMAXPS X3, X1, X1
	VPERMILPS $0xb1, X1, X3
	VMAXPS X3, X1, X1
	VMOVSS X0, lo+16(FP)
	VMOVSS X1, hi+20(FP)
	VMOVMSKPS Y2, AX
	TESTL AX, AX
	SETNE nan+24(FP)
	VZEROUPPER
	RET

// func quantizeAVX(q *uint8, x *float32, n int, inv, z float32)
// 32 inputs per iteration: round(x*inv) (VCVTPS2DQ, ties to even) + z, saturated
// to int16 and then to [0, 255] by the packs, capped at 127.
TEXT ·quantizeAVX(SB), NOSPLIT, $0-32
	MOVQ q+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $5, CX
	VBROADCASTSS inv+24(FP), Y8
	VBROADCASTSS z+28(FP), Y9
	VCVTPS2DQ Y9, Y9
	VMOVDQU packOrder<>(SB), Y10
	VMOVDQU top127<>(SB), Y11
quantizeAVX_loop:
	VMULPS 0(SI), Y8, Y0
	VMULPS 32(SI), Y8, Y1
	VMULPS 64(SI), Y8, Y2
	VMULPS 96(SI), Y8, Y3
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VPADDD Y9, Y0, Y0
	VPADDD Y9, Y1, Y1
	VPADDD Y9, Y2, Y2
	VPADDD Y9, Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKUSWB Y2, Y0, Y0
	VPERMD Y0, Y10, Y0
	VPMINUB Y11, Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ $128, SI
	ADDQ $32, DI
	DECQ CX
	JNZ quantizeAVX_loop
	VZEROUPPER
	RET
