package visual

import (
	"math"
	"math/rand/v2"
	"testing"
)

// roialign64 evaluates the RoIAlign plan (sample positions and weights) in
// float64; the op is linear in feat, so this is the FD reference.
func roialign64(feat []float64, rois []float32, ra RoIAlign, N, C, H, W, R int) []float64 {
	plans := ra.plan(rois, N, H, W, R)
	P := ra.PooledH * ra.PooledW
	res := make([]float64, R*C*P)
	for r, p := range plans {
		for c := 0; c < C; c++ {
			plane := feat[(p.batch*C+c)*H*W:]
			for bin := 0; bin < P; bin++ {
				var acc float64
				for _, s := range p.samples[bin*p.grid : (bin+1)*p.grid] {
					for j := 0; j < 4; j++ {
						acc += float64(s.w[j]) * plane[s.pos[j]]
					}
				}
				res[(r*C+c)*P+bin] = acc / float64(p.grid)
			}
		}
	}
	return res
}

func TestRoIAlignGolden(t *testing.T) {
	feat := readGolden(t, "op_roialign_in_features.npy")
	rois := readGolden(t, "op_roialign_in_rois.npy")
	want := readGolden(t, "op_roialign_out.npy")
	N, C, H, W := feat.Shape[0], feat.Shape[1], feat.Shape[2], feat.Shape[3]
	R := rois.Shape[0]
	if want.Len() != R*C*14*14 {
		t.Fatalf("golden out shape %v", want.Shape)
	}
	out := make([]float32, R*C*14*14)
	RoIAlignForward(out, feat.F32, rois.F32, DefaultRoIAlign, N, C, H, W, R)
	var worst float64
	for i := range out {
		d := math.Abs(float64(out[i]) - float64(want.F32[i]))
		worst = max(worst, d)
		if d > 5e-5+1e-5*math.Abs(float64(want.F32[i])) {
			t.Fatalf("out[%d] = %g, golden %g", i, out[i], want.F32[i])
		}
	}
	t.Logf("RoIAlign golden: %d values, max abs error %.3g (rois %v)", len(out), worst, rois.F32)
}

func TestRoIAlignBackwardFD(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	N, C, H, W := 2, 3, 5, 7
	// Boxes in image pixels (stride 16): inside, partly outside, degenerate,
	// past the right/bottom edge, and far outside.
	rois := []float32{
		0, 3, 5, 90, 60,
		1, -20, -10, 40, 30,
		1, 50, 50, 52, 51,
		0, 80, 60, 130, 95,
		0, 300, 300, 400, 400,
	}
	R := len(rois) / 5
	for _, ra := range []RoIAlign{DefaultRoIAlign, {PooledH: 3, PooledW: 4, SpatialScale: 1.0 / 16, SamplingRatio: 2}, {PooledH: 2, PooledW: 2, SpatialScale: 0.25, SamplingRatio: 0}} {
		feat := randSlice(rng, N*C*H*W, 1)
		P := ra.PooledH * ra.PooledW
		out := make([]float32, R*C*P)
		RoIAlignForward(out, feat, rois, ra, N, C, H, W, R)
		if d := maxAbsDiff64(out, roialign64(to64(feat), rois, ra, N, C, H, W, R)); d > 1e-5 {
			t.Fatalf("%+v: forward differs from float64 by %g", ra, d)
		}
		g := randSlice(rng, len(out), 1)
		dfeat := make([]float32, len(feat))
		for i := range dfeat {
			dfeat[i] = 7 // overwritten
		}
		RoIAlignBackward(dfeat, g, rois, ra, N, C, H, W, R)
		num := fdGrad(to64(feat), func(v []float64) float64 { return dot64(roialign64(v, rois, ra, N, C, H, W, R), to64(g)) }, 1e-3, 0)
		checkGrad(t, "roialign dfeat", dfeat, num, 1e-5, 1e-4)
		// The far-outside RoI samples nothing.
		for i := 4 * C * P; i < 5*C*P; i++ {
			if out[i] != 0 {
				t.Fatalf("outside RoI gave %g", out[i])
			}
		}
	}
}

func TestRoIAlignBoundary(t *testing.T) {
	// A 2x2 map: samples at or past the last row/column snap to it; samples in
	// (-1, 0) clamp to 0; samples beyond -1 or past H/W give 0.
	feat := []float32{1, 2, 3, 4}
	ra := RoIAlign{PooledH: 1, PooledW: 1, SpatialScale: 1, SamplingRatio: 1}
	for _, tc := range []struct {
		roi  []float32
		want float32
	}{
		{[]float32{0, 0, 0, 1, 1}, 2.5},              // centre (0.5, 0.5)
		{[]float32{0, 1, 1, 2, 2}, 4},                // centre (1.5, 1.5) -> snaps to (1, 1)
		{[]float32{0, -1.5, -1.5, -0.5, -0.5}, 1},    // centre (-1, -1) -> clamps to (0, 0)
		{[]float32{0, -2, -2, -1, -1}, 0},            // centre (-1.5, -1.5): outside
		{[]float32{0, 2, 0, 3, 1}, 0},                // centre x = 2.5 > W
		{[]float32{0, 0.25, 0.25, 0.25, 0.25}, 3.25}, // empty box -> width 1, centre (0.75, 0.75)
	} {
		out := make([]float32, 1)
		RoIAlignForward(out, feat, tc.roi, ra, 1, 1, 2, 2, 1)
		if math.Abs(float64(out[0]-tc.want)) > 1e-6 {
			t.Errorf("roi %v: got %g want %g", tc.roi, out[0], tc.want)
		}
	}
}

func TestRoIAlignParallelEqualsSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	N, C, H, W := 2, 16, 9, 11
	R := 6
	rois := make([]float32, R*5)
	for r := 0; r < R; r++ {
		x1, y1 := rng.Float32()*150-10, rng.Float32()*130-10
		rois[r*5], rois[r*5+1], rois[r*5+2] = float32(r%N), x1, y1
		rois[r*5+3], rois[r*5+4] = x1+rng.Float32()*100, y1+rng.Float32()*90
	}
	feat := randSlice(rng, N*C*H*W, 1)
	g := randSlice(rng, R*C*196, 1)
	run := func() (out, df []float32) {
		out, df = make([]float32, R*C*196), make([]float32, len(feat))
		RoIAlignForward(out, feat, rois, DefaultRoIAlign, N, C, H, W, R)
		RoIAlignBackward(df, g, rois, DefaultRoIAlign, N, C, H, W, R)
		return
	}
	var o1, d1, o3, d3 []float32
	withThreads(1, func() { o1, d1 = run() })
	withThreads(3, func() { o3, d3 = run() })
	if maxAbsDiff32(o1, o3) != 0 || maxAbsDiff32(d1, d3) != 0 {
		t.Fatal("parallel result differs from serial")
	}
}
