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

// func sumSquaresAVX2(x *float32, n int) float64
// Σ x[i]² for i < n (n a multiple of 16) in float64: four 4-lane accumulators (lane j
// of accumulator k takes the elements 16i+4k+j), combined in a fixed order.
TEXT ·sumSquaresAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	SHRQ $4, CX
	JZ   sdone

sloop:
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VCVTPS2PD 32(SI), Y6
	VCVTPS2PD 48(SI), Y7
	VFMADD231PD Y4, Y4, Y0
	VFMADD231PD Y5, Y5, Y1
	VFMADD231PD Y6, Y6, Y2
	VFMADD231PD Y7, Y7, Y3
	ADDQ $64, SI
	DECQ CX
	JNZ  sloop

sdone:
	VADDPD Y1, Y0, Y0
	VADDPD Y3, Y2, Y2
	VADDPD Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VHADDPD X0, X0, X0
	VMOVSD X0, ret+16(FP)
	VZEROUPPER
	RET

// func scaleAVX2(x *float32, n int, c float32)
// x[i] *= c for i < n (n a multiple of 8).
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS c+16(FP), Y1
	SHRQ $3, CX
	JZ   cdone

cloop:
	VMULPS (SI), Y1, Y0
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	DECQ CX
	JNZ  cloop

cdone:
	VZEROUPPER
	RET
