package gemm

// generic is the plain Go micro-kernel: the reference for the assembly kernels and
// the fallback on every CPU. A 4x4 tile keeps its 16 accumulators in registers.
var generic = &kernel{
	name: "generic", mr: 4, nr: 4,
	mc: 128, kc: 256, nc: 2048,
	supported: func() bool { return true },
	tile:      tileGeneric,
}

// tileGeneric computes the 4x4 tile C = alpha*(Ap·Bp) + beta*C (see kernel.tile).
func tileGeneric(k int, ap *float32, rsA, csA int, bp *float32, csB int, cp *float32, ldc int, alpha, beta float32) {
	a := floats(ap, 3*rsA+(k-1)*csA+1)
	b := floats(bp, (k-1)*csB+4)
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := 0; p < k; p++ {
		bv := b[p*csB : p*csB+4 : p*csB+4]
		a0, a1, a2, a3 := a[p*csA], a[p*csA+rsA], a[p*csA+2*rsA], a[p*csA+3*rsA]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	c := floats(cp, 3*ldc+4)
	acc := [4][4]float32{{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}}
	for i := range acc {
		row := c[i*ldc : i*ldc+4 : i*ldc+4]
		for j, v := range acc[i] {
			if beta == 0 {
				row[j] = alpha * v
			} else {
				row[j] = alpha*v + beta*row[j]
			}
		}
	}
}
