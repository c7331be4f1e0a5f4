package kernels

import "math"

// exp2Table[j] = 2^(j/32).
var exp2Table = func() (t [32]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 32)
	}
	return t
}()

// exp64 returns e**x with a relative error below 1e-14 for x in [-708, 709]; it is several
// times faster than math.Exp because it skips special cases that float32 kernels never
// need: the result is 0 below -708 and +Inf above 709; NaN gives NaN.
//
// x = (32m + j)*ln2/32 + r with |r| <= ln2/64; e**x = 2^m * 2^(j/32) * e**r, with a
// degree-5 Taylor polynomial for e**r.
func exp64(x float64) float64 {
	if x > 709 {
		return math.Inf(1)
	}
	if x < -708 {
		return 0
	}
	const (
		invL  = 32 / math.Ln2
		shift = 0x1.8p52              // adding it rounds to an integer
		l1    = 0x1.62e42fefa0000p-6  // ln2/32, high bits (exact products with n)
		l2    = 0x1.cf79abc9e3b3ap-45 // ln2/32 - l1
	)
	kd := x*invL + shift
	kd -= shift
	r := x - kd*l1 - kd*l2
	n := int64(kd)
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120)))))
	return p * exp2Table[n&31] * math.Float64frombits(uint64((n>>5)+1023)<<52)
}

// erfcPoly is the exponent correction of Numerical Recipes' erfcc Chebyshev fit:
// erfc(z) = t*exp(-z² + erfcPoly(t)) with t = 1/(1+z/2), relative error < 1.2e-7, z >= 0.
func erfcPoly(t float64) float64 {
	return -1.26551223 + t*(1.00002368+t*(0.37409196+t*(0.09678418+t*(-0.18628806+
		t*(0.27886807+t*(-1.13520398+t*(1.48851587+t*(-0.82215223+t*0.17087277))))))))
}

// normCDF returns Φ(x) = 0.5*(1+erf(x/√2)) with a relative error below about 1.2e-7.
// For x < 0 it is computed from erfc, so small values keep their relative accuracy.
func normCDF(x float64) float64 {
	const invSqrt2 = 0.70710678118654752440
	z := math.Abs(x) * invSqrt2
	t := 1 / (1 + 0.5*z)
	half := 0.5 * t * exp64(erfcPoly(t)-z*z) // 0.5*erfc(|x|/√2) = Φ(-|x|)
	if x >= 0 {
		return 1 - half
	}
	return half
}

// normPDF returns φ(x) = exp(-x²/2)/√(2π).
func normPDF(x float64) float64 {
	const invSqrt2Pi = 0.39894228040143267794
	return exp64(-0.5*x*x) * invSqrt2Pi
}
