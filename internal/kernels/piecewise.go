package kernels

import "math"

// GELU evaluates Φ(x) and its derivative x ↦ Φ(x) + x·φ(x) with piecewise polynomials:
// no exp and no division in the hot loop. The tables are Chebyshev interpolants of the
// exact functions (math.Erfc, math.Exp), built at start-up, on pwK intervals of width
// pwW covering [pwLo, pwHi); outside it the functions are 1 (above; Φ(8) = 1-6e-16) or
// come from normCDF/normPDF (below, where GELU is below 1e-14 in magnitude).
const (
	pwLo  = -8.0
	pwHi  = 8.0
	pwW   = 0.125
	pwK   = int((pwHi - pwLo) / pwW)
	pwDeg = 6
)

// pwTable holds, per interval, the monomial coefficients in dx = x - center.
type pwTable [pwK][pwDeg + 1]float64

var (
	cdfTable   = buildPiecewise(func(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) })
	dgeluTable = buildPiecewise(func(x float64) float64 {
		return 0.5*math.Erfc(-x/math.Sqrt2) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
	})
)

// buildPiecewise interpolates f at the pwDeg+1 Chebyshev nodes of each interval and
// converts the Chebyshev series to monomials in dx.
func buildPiecewise(f func(float64) float64) *pwTable {
	const n = pwDeg + 1
	var t pwTable
	hw := pwW / 2
	for i := range t {
		center := pwLo + (float64(i)+0.5)*pwW
		var fv, a [n]float64
		for k := range fv {
			fv[k] = f(center + hw*math.Cos(math.Pi*(float64(k)+0.5)/n))
		}
		// Chebyshev coefficients a_j = (2/n) Σ_k f(s_k) T_j(s_k), a_0 halved.
		for j := range a {
			for k := range fv {
				a[j] += fv[k] * math.Cos(float64(j)*math.Pi*(float64(k)+0.5)/n)
			}
			a[j] *= 2.0 / n
		}
		a[0] /= 2
		// Σ a_j T_j(s) in monomials of s, via T_{j+1} = 2s·T_j - T_{j-1}.
		var tPrev, tCur, mono [n]float64
		tPrev[0], tCur[1] = 1, 1
		mono[0] = a[0]
		for p := range n {
			mono[p] += a[1] * tCur[p]
		}
		for j := 2; j < n; j++ {
			var tNext [n]float64
			for p := range n - 1 {
				tNext[p+1] += 2 * tCur[p]
			}
			for p := range n {
				tNext[p] -= tPrev[p]
			}
			for p := range n {
				mono[p] += a[j] * tNext[p]
			}
			tPrev, tCur = tCur, tNext
		}
		// s = dx/hw.
		scale := 1.0
		for p := range n {
			t[i][p] = mono[p] / scale
			scale *= hw
		}
	}
	return &t
}

// eval returns the interpolant at x, or ok == false outside [pwLo, pwHi) and for NaN.
func (t *pwTable) eval(x float64) (y float64, ok bool) {
	u := (x - pwLo) * (1 / pwW)
	if !(u >= 0 && u < float64(pwK)) {
		return 0, false
	}
	i := int(u)
	dx := x - (pwLo + (float64(i)+0.5)*pwW)
	c := &t[i]
	// Estrin's scheme: shorter dependency chains than Horner.
	d2 := dx * dx
	d4 := d2 * d2
	return (c[0] + c[1]*dx) + d2*(c[2]+c[3]*dx) + d4*(c[4]+c[5]*dx+c[6]*d2), true
}

// geluCDF returns Φ(x) for GELU's forward.
func geluCDF(x float64) float64 {
	if y, ok := cdfTable.eval(x); ok {
		return y
	}
	if x >= pwHi {
		return 1
	}
	return normCDF(x) // far negative tail, and NaN
}

// geluGrad returns d/dx [x·Φ(x)] = Φ(x) + x·φ(x).
func geluGrad(x float64) float64 {
	if y, ok := dgeluTable.eval(x); ok {
		return y
	}
	if x >= pwHi {
		return 1
	}
	return normCDF(x) + x*normPDF(x)
}
