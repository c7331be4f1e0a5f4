#include "textflag.h"

// func adamwAVX2(param, grad, expAvg, expAvgSq *float32, n int, c *[7]float32, decay int)
TEXT ·adamwAVX2(SB), NOSPLIT, $0-56
	MOVQ param+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ expAvg+16(FP), DX
	MOVQ expAvgSq+24(FP), R8
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), AX
	MOVQ decay+48(FP), BX
	VBROADCASTSS 0(AX), Y8   // b1
	VBROADCASTSS 4(AX), Y9   // 1-b1
	VBROADCASTSS 8(AX), Y10  // b2
	VBROADCASTSS 12(AX), Y11 // 1-b2
	VBROADCASTSS 16(AX), Y12 // eps
	VBROADCASTSS 20(AX), Y13 // -step size
	VBROADCASTSS 24(AX), Y14 // -lr·wd
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (SI), Y0           // g
	VMULPS  (DX), Y8, Y1       // m·b1
	VFMADD231PS Y9, Y0, Y1     // m = fma(g, 1-b1, m·b1)
	VMULPS  (R8), Y10, Y2      // v·b2
	VMULPS  Y11, Y0, Y3        // (1-b2)·g
	VFMADD231PS Y0, Y3, Y2     // v = fma((1-b2)·g, g, v·b2)
	VMOVUPS Y1, (DX)
	VMOVUPS Y2, (R8)
	VSQRTPS Y2, Y4
	VADDPS  Y12, Y4, Y4        // denom = sqrt(v) + eps
	VMULPS  Y13, Y1, Y5        // -step·m
	VDIVPS  Y4, Y5, Y5         // (-step·m)/denom
	VADDPS  (DI), Y5, Y5       // p + ...
	TESTQ   BX, BX
	JZ      store
	VFMADD231PS Y14, Y5, Y5    // p = fma(p, -lr·wd, p)

store:
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, DI
	DECQ CX
	JNZ  loop

done:
	VZEROUPPER
	RET
