package kernels

import (
	"math"
	"testing"
)

func TestPiecewiseAccuracy(t *testing.T) {
	worstRel, worstAbs := 0.0, 0.0
	for x := -10.0; x <= 10; x += 1.0 / 4096 {
		want := 0.5 * math.Erfc(-x/math.Sqrt2)
		worstRel = max(worstRel, math.Abs(geluCDF(x)-want)/want)
		dwant := want + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
		worstAbs = max(worstAbs, math.Abs(geluGrad(x)-dwant))
	}
	t.Logf("Φ relative error %.3g, GELU' absolute error %.3g", worstRel, worstAbs)
	if worstRel > 2e-7 { // the NR tail below -8 has 1.2e-7; the tables are far better
		t.Errorf("Φ relative error %g", worstRel)
	}
	if worstAbs > 1e-12 {
		t.Errorf("GELU' absolute error %g", worstAbs)
	}
	if !math.IsNaN(geluCDF(math.NaN())) || !math.IsNaN(geluGrad(math.NaN())) {
		t.Error("NaN must propagate")
	}
	if geluCDF(math.Inf(1)) != 1 || geluCDF(math.Inf(-1)) != 0 || geluGrad(math.Inf(1)) != 1 {
		t.Error("infinities")
	}
}
