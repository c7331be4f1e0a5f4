package kernels

import "math"

// exp64 returns e**x with a relative error below 1e-14 for x in [-708, 709]; it is
// several times faster than math.Exp because it skips the special-case handling that
// float32 kernels never need (the result underflows to 0 below -708 and is +Inf above 709;
// NaN gives NaN).
//
// Range reduction x = n*ln2 + r with |r| <= ln2/2, then a degree-12 Taylor polynomial.
func exp64(x float64) float64 {
	if x > 709 {
		return math.Inf(1)
	}
	if x < -708 {
		return 0
	}
	const (
		log2e = 1.44269504088896340735992468100189214
		ln2hi = 6.93147180369123816490e-01
		ln2lo = 1.90821492927058770002e-10
	)
	kf := math.Floor(x*log2e + 0.5)
	r := (x - kf*ln2hi) - kf*ln2lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040+
		r*(1.0/40320+r*(1.0/362880+r*(1.0/3628800+r*(1.0/39916800+r*(1.0/479001600))))))))))))
	return p * math.Float64frombits(uint64(int64(kf)+1023)<<52)
}

// erfc64 returns erfc(z) for z >= 0 with a relative error below 1.2e-7 (Chebyshev fit,
// Numerical Recipes' erfcc), and also e = exp(-z*z), which GELU's backward reuses.
func erfc64(z float64) (erfc, e float64) {
	t := 1 / (1 + 0.5*z)
	e = exp64(-z * z)
	p := -1.26551223 + t*(1.00002368+t*(0.37409196+t*(0.09678418+t*(-0.18628806+
		t*(0.27886807+t*(-1.13520398+t*(1.48851587+t*(-0.82215223+t*0.17087277))))))))
	return t * e * exp64(p), e
}

// normCDF returns Φ(x) = 0.5*(1+erf(x/√2)) and the density φ(x) = exp(-x²/2)/√(2π),
// both with relative error below about 1.2e-7.
func normCDF(x float64) (cdf, pdf float64) {
	const invSqrt2 = 0.70710678118654752440
	const invSqrt2Pi = 0.39894228040143267794
	z := x * invSqrt2
	if z >= 0 {
		c, e := erfc64(z)
		return 1 - 0.5*c, e * invSqrt2Pi
	}
	c, e := erfc64(-z)
	return 0.5 * c, e * invSqrt2Pi
}
