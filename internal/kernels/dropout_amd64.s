#include "textflag.h"

// MUL64 sets z *= c (mod 2^64) per 64-bit lane, c = ch<<32 | cl (cl, ch in the low
// dwords of their lanes): z·c = zl·cl + ((zh·cl + zl·ch) << 32).
#define MUL64(z, cl, ch, t1, t2) \
	VPSRLQ   $32, z, t1; \
	VPMULUDQ cl, t1, t1; \
	VPMULUDQ ch, z, t2; \
	VPADDQ   t2, t1, t1; \
	VPSLLQ   $32, t1, t1; \
	VPMULUDQ cl, z, z; \
	VPADDQ   t1, z, z

// func dropoutAVX2(out, src *float32, n int, z0 *[4]uint64, inc, thr uint64, scale float32)
// n a multiple of 8. Lane l of z0 is key + (j+1)·γ of pair j = j0+l; each iteration
// hashes 4 pairs (mix64) and adds inc = 4γ. Element 2j uses the hash's high 32 bits,
// 2j+1 the low ones; it is kept (out = src·scale) iff that value >= thr, else out =
// src·0. thr < 2^32.
TEXT ·dropoutAVX2(SB), NOSPLIT, $0-52
	MOVQ out+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ z0+24(FP), AX
	VMOVDQU (AX), Y0
	VPBROADCASTQ inc+32(FP), Y1
	MOVQ thr+40(FP), BX
	XORQ $0x80000000, BX
	VMOVQ BX, X2
	VPBROADCASTD X2, Y2
	VBROADCASTSS scale+48(FP), Y3
	MOVQ $0x1CE4E5B9, R8
	VMOVQ R8, X4
	VPBROADCASTQ X4, Y4
	MOVQ $0xBF58476D, R8
	VMOVQ R8, X5
	VPBROADCASTQ X5, Y5
	MOVQ $0x133111EB, R8
	VMOVQ R8, X6
	VPBROADCASTQ X6, Y6
	MOVQ $0x94D049BB, R8
	VMOVQ R8, X7
	VPBROADCASTQ X7, Y7
	MOVQ $0x80000000, R8
	VMOVQ R8, X8
	VPBROADCASTD X8, Y8
	SHRQ $3, CX
	JZ   done

loop:
	VPSRLQ $30, Y0, Y9
	VPXOR  Y0, Y9, Y9
	MUL64(Y9, Y4, Y5, Y10, Y11)
	VPSRLQ $27, Y9, Y10
	VPXOR  Y10, Y9, Y9
	MUL64(Y9, Y6, Y7, Y10, Y11)
	VPSRLQ $31, Y9, Y10
	VPXOR  Y10, Y9, Y9
	VPSHUFD $0xB1, Y9, Y9     // per pair: high dword first (element 2j), then low
	VPXOR  Y8, Y9, Y9         // unsigned compare via the sign flip
	VPCMPGTD Y9, Y2, Y10      // thr > u: dropped
	VPANDN Y3, Y10, Y10       // scale where kept, +0 where dropped
	VMULPS (SI), Y10, Y10
	VMOVUPS Y10, (DI)
	VPADDQ Y1, Y0, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  loop

done:
	VZEROUPPER
	RET
