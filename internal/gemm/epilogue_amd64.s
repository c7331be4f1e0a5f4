#include "textflag.h"

// func epilogueRowAVX2(c *float32, res *float32, n int, s, b float32, relu bool)
// c[i] = act(c[i]*s + b (+ res[i])) for i < n, n a multiple of 8; res may be nil.
// act(v) = VMAXPS with v as the second source: NaN propagates, as with Go's max.
TEXT ·epilogueRowAVX2(SB), NOSPLIT, $0-33
	MOVQ         c+0(FP), DI
	MOVQ         res+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS s+24(FP), Y14
	VBROADCASTSS b+28(FP), Y13
	VXORPS       Y15, Y15, Y15
	MOVBLZX      relu+32(FP), AX
	TESTQ        SI, SI
	JZ           nores
	TESTB        AL, AL
	JZ           resplain

resrelu:
	CMPQ    CX, $8
	JLT     done
	VMOVUPS (DI), Y0
	VMULPS  Y14, Y0, Y0
	VADDPS  Y13, Y0, Y0
	VADDPS  (SI), Y0, Y0
	VMAXPS  Y0, Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     resrelu

resplain:
	CMPQ    CX, $8
	JLT     done
	VMOVUPS (DI), Y0
	VMULPS  Y14, Y0, Y0
	VADDPS  Y13, Y0, Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     resplain

nores:
	TESTB AL, AL
	JZ    plain

relu:
	CMPQ    CX, $8
	JLT     done
	VMOVUPS (DI), Y0
	VMULPS  Y14, Y0, Y0
	VADDPS  Y13, Y0, Y0
	VMAXPS  Y0, Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     relu

plain:
	CMPQ    CX, $8
	JLT     done
	VMOVUPS (DI), Y0
	VMULPS  Y14, Y0, Y0
	VADDPS  Y13, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     plain

done:
	VZEROUPPER
	RET
