package proto

import (
	"math"
	"testing"

	"github.com/vlbert/vlbert/internal/kernels"
)

// geluF32 is a candidate scalar float32 GELU: Φ(x) = ½(1 + erf(x/√2)) with erf from
// Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, the formula PyTorch's vectorised erf
// uses) and exp(−z²) from a degree-6 polynomial after range reduction. It measures how
// much of GELU's cost is the float64 piecewise evaluation; a SIMD version would be
// several times faster again.
func geluF32(out, inp []float32) {
	out = out[:len(inp)]
	for i, x := range inp {
		z := x * 0.70710677
		az := z
		if az < 0 {
			az = -az
		}
		t := 1 / (1 + 0.3275911*az)
		poly := t * (0.254829592 + t*(-0.284496736+t*(1.421413741+t*(-1.453152027+t*1.061405429))))
		e := 1 - poly*exp32(-az*az)
		if z < 0 {
			e = -e
		}
		out[i] = 0.5 * x * (1 + e)
	}
}

// exp32 is e^y for y ≤ 0 in float32: y = k·ln2 + r, |r| ≤ ln2/2, e^r by a degree-6
// polynomial, 2^k by exponent bits.
func exp32(y float32) float32 {
	if y < -87 {
		return 0
	}
	kf := y*1.442695 - 0.5
	k := int32(kf)
	if float32(k) > kf {
		k--
	}
	k++
	// round to nearest: k = round(y/ln2)
	r := y - float32(k)*0.6931472
	p := 1 + r*(1+r*(0.5+r*(0.16666667+r*(0.041666668+r*(0.008333334+r*0.0013888889)))))
	return p * math.Float32frombits(uint32(k+127)<<23)
}

func BenchmarkGELUForwardF32Scalar(b *testing.B) {
	x := randSlice(N*I, 1)
	out := make([]float32, N*I)
	run(b, func() { geluF32(out, x) })
}

// TestGELUF32Accuracy keeps the prototype honest: within 2e-6 absolute of the kernel.
func TestGELUF32Accuracy(t *testing.T) {
	x := randSlice(1<<16, 9)
	for i := range x {
		x[i] *= 8
	}
	want, got := make([]float32, len(x)), make([]float32, len(x))
	kernels.GELUForward(want, x)
	geluF32(got, x)
	worst := 0.0
	for i := range x {
		worst = max(worst, math.Abs(float64(got[i]-want[i])))
	}
	if worst > 2e-6 {
		t.Errorf("max |geluF32 - GELUForward| = %g", worst)
	}
	t.Logf("max abs difference %g", worst)
}
