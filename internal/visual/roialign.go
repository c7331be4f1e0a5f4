package visual

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// RoIAlign is the legacy (maskrcnn-benchmark / Caffe2, aligned=False) RoIAlign
// that VL-BERT's FastRCNN uses: no half-pixel offset, RoI width and height
// clamped to at least 1, SamplingRatio x SamplingRatio bilinear samples per bin
// (adaptive ceil(roi/pooled) when SamplingRatio <= 0). All coordinate arithmetic
// is float32, as in the original kernel, so that bin boundaries round the same way.
type RoIAlign struct {
	PooledH, PooledW int
	SpatialScale     float32
	SamplingRatio    int
}

// DefaultRoIAlign is VL-BERT's configuration: 14x14 output, spatial scale 1/16,
// one sample per bin at the bin centre.
var DefaultRoIAlign = RoIAlign{PooledH: 14, PooledW: 14, SpatialScale: 1.0 / 16, SamplingRatio: 1}

// roiSample is one bilinear sample: four plane offsets and their weights. A sample
// outside the map has zero weights.
type roiSample struct {
	pos [4]int32
	w   [4]float32
}

// roiPlan holds the samples of one RoI, PooledH·PooledW bins of grid samples each.
type roiPlan struct {
	batch   int
	grid    int     // samples per bin
	count   float32 // grid as float32, the divisor of the bin average
	samples []roiSample
}

func (ra RoIAlign) check(N, C, H, W, R int, lenRois int) {
	if ra.PooledH <= 0 || ra.PooledW <= 0 || !(ra.SpatialScale > 0) {
		panic(fmt.Sprintf("visual: invalid RoIAlign %+v", ra))
	}
	if N <= 0 || C <= 0 || H <= 0 || W <= 0 || R < 0 {
		panic(fmt.Sprintf("visual: invalid RoIAlign sizes N=%d C=%d H=%d W=%d R=%d", N, C, H, W, R))
	}
	checkLen("roialign rois", lenRois, R*5)
}

// plan precomputes the bilinear samples of every RoI (they do not depend on the
// channel). rois [R, 5] = (batch index, x1, y1, x2, y2) in input-image pixels.
func (ra RoIAlign) plan(rois []float32, N, H, W, R int) []roiPlan {
	plans := make([]roiPlan, R)
	for r := 0; r < R; r++ {
		roi := rois[r*5 : r*5+5]
		b := int(roi[0])
		if float32(b) != roi[0] || b < 0 || b >= N {
			panic(fmt.Sprintf("visual: RoI %d has batch index %g, want an integer in [0, %d)", r, roi[0], N))
		}
		s := ra.SpatialScale
		x1, y1 := roi[1]*s, roi[2]*s
		x2, y2 := roi[3]*s, roi[4]*s
		rw := max(x2-x1, 1)
		rh := max(y2-y1, 1)
		binH := rh / float32(ra.PooledH)
		binW := rw / float32(ra.PooledW)
		gh, gw := ra.SamplingRatio, ra.SamplingRatio
		if ra.SamplingRatio <= 0 {
			gh = int(math.Ceil(float64(rh / float32(ra.PooledH))))
			gw = int(math.Ceil(float64(rw / float32(ra.PooledW))))
		}
		gh, gw = max(gh, 1), max(gw, 1)
		p := roiPlan{batch: b, grid: gh * gw, count: float32(gh * gw)}
		p.samples = make([]roiSample, 0, ra.PooledH*ra.PooledW*gh*gw)
		for ph := 0; ph < ra.PooledH; ph++ {
			for pw := 0; pw < ra.PooledW; pw++ {
				for iy := 0; iy < gh; iy++ {
					// Same operation order and float32 rounding as the original kernel.
					y := float32(y1+float32(float32(ph)*binH)) + float32(float32(float32(iy)+0.5)*binH)/float32(gh)
					for ix := 0; ix < gw; ix++ {
						x := float32(x1+float32(float32(pw)*binW)) + float32(float32(float32(ix)+0.5)*binW)/float32(gw)
						p.samples = append(p.samples, bilinearSample(y, x, H, W))
					}
				}
			}
		}
		plans[r] = p
	}
	return plans
}

// bilinearSample reproduces the original bilinear_interpolate: samples beyond one
// pixel outside the map contribute nothing, coordinates below 0 clamp to 0, and a
// coordinate at or past the last row/column snaps to it.
func bilinearSample(y, x float32, H, W int) roiSample {
	if y < -1 || y > float32(H) || x < -1 || x > float32(W) {
		return roiSample{}
	}
	y, x = max(y, 0), max(x, 0)
	yl, xl := int(y), int(x)
	var yh, xh int
	if yl >= H-1 {
		yl, yh = H-1, H-1
		y = float32(yl)
	} else {
		yh = yl + 1
	}
	if xl >= W-1 {
		xl, xh = W-1, W-1
		x = float32(xl)
	} else {
		xh = xl + 1
	}
	ly, lx := y-float32(yl), x-float32(xl)
	hy, hx := 1-ly, 1-lx
	return roiSample{
		pos: [4]int32{int32(yl*W + xl), int32(yl*W + xh), int32(yh*W + xl), int32(yh*W + xh)},
		w:   [4]float32{hy * hx, hy * lx, ly * hx, ly * lx},
	}
}

// RoIAlignForward pools each RoI to PooledH x PooledW bins.
//
//	feat [N, C, H, W] (the stride-16 feature map)
//	rois [R, 5] = (batch index, x1, y1, x2, y2) in input-image pixels
//	out  [R, C, PooledH, PooledW], overwritten
//
// A batch index that is not an integer in [0, N) panics (rois are built by the
// caller from validated boxes).
func RoIAlignForward(out, feat, rois []float32, ra RoIAlign, N, C, H, W, R int) {
	ra.check(N, C, H, W, R, len(rois))
	checkLen("roialign feat", len(feat), N*C*H*W)
	P := ra.PooledH * ra.PooledW
	checkLen("roialign out", len(out), R*C*P)
	plans := ra.plan(rois, N, H, W, R)
	parallel.For(R*C, 4, func(lo, hi int) {
		for rc := lo; rc < hi; rc++ {
			r, c := rc/C, rc%C
			p := &plans[r]
			plane := feat[(p.batch*C+c)*H*W : (p.batch*C+c+1)*H*W]
			dst := out[rc*P : (rc+1)*P]
			for bin := range dst {
				var acc float32
				for _, s := range p.samples[bin*p.grid : (bin+1)*p.grid] {
					acc += s.w[0]*plane[s.pos[0]] + s.w[1]*plane[s.pos[1]] + s.w[2]*plane[s.pos[2]] + s.w[3]*plane[s.pos[3]]
				}
				dst[bin] = acc / p.count
			}
		}
	})
}

// RoIAlignBackward scatters the RoI gradients back onto the feature map.
//
//	dout  [R, C, PooledH, PooledW]
//	rois  [R, 5]
//	dfeat [N, C, H, W], OVERWRITTEN
//
// Work is split over channels, so every feature-map element is written by one
// worker, in RoI order, whatever the thread count.
func RoIAlignBackward(dfeat, dout, rois []float32, ra RoIAlign, N, C, H, W, R int) {
	ra.check(N, C, H, W, R, len(rois))
	checkLen("roialign dfeat", len(dfeat), N*C*H*W)
	P := ra.PooledH * ra.PooledW
	checkLen("roialign dout", len(dout), R*C*P)
	plans := ra.plan(rois, N, H, W, R)
	parallel.For(C, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			for n := 0; n < N; n++ {
				clear(dfeat[(n*C+c)*H*W : (n*C+c+1)*H*W])
			}
			for r := range plans {
				p := &plans[r]
				plane := dfeat[(p.batch*C+c)*H*W : (p.batch*C+c+1)*H*W]
				g := dout[(r*C+c)*P : (r*C+c+1)*P]
				for bin, gv := range g {
					for _, s := range p.samples[bin*p.grid : (bin+1)*p.grid] {
						plane[s.pos[0]] += gv * s.w[0] / p.count
						plane[s.pos[1]] += gv * s.w[1] / p.count
						plane[s.pos[2]] += gv * s.w[2] / p.count
						plane[s.pos[3]] += gv * s.w[3] / p.count
					}
				}
			}
		}
	})
}
