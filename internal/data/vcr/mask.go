package vcr

import (
	"fmt"
	"math"
)

// PolygonRule selects how grid points on a polygon's boundary are classified, which
// differs between scikit-image versions of skimage.draw.polygon.
type PolygonRule int

const (
	// PolygonCrossing is the half-open even-odd crossing test of scikit-image ≤ 0.17
	// (before PR #5029, Oct 2020), the version the paper's 2019 runs used: points on left
	// or top edges count as inside, points on right or bottom edges and most vertices as
	// outside. The default.
	PolygonCrossing PolygonRule = iota
	// PolygonInclusive is the scikit-image ≥ 0.18 test (O'Rourke): points on any edge or
	// within 1e-12 of a vertex count as inside.
	PolygonInclusive
)

// InstanceMask rasterises polygons into dst, a size×size box-relative mask (row-major,
// rows = y), as the original common/utils/mask.py generate_instance_mask: vertices are
// mapped into the grid in float32 arithmetic, x' = (x − x1)·(size/(x2−x1+1)) and likewise
// for y, clamped to [0, size−1], and every integer grid point inside a polygon is set to 1.
// dst is overwritten (zeros elsewhere). Empty polygons are skipped (the original fails on
// them). It returns an error for a box with x2−x1+1 ≤ 0 or y2−y1+1 ≤ 0.
func InstanceMask(dst []float32, polys [][]Point, box [4]float64, size int, rule PolygonRule) error {
	if size <= 0 || len(dst) != size*size {
		panic("vcr: InstanceMask: len(dst) != size*size")
	}
	clear(dst)
	bw, bh := box[2]-box[0]+1, box[3]-box[1]+1
	if !(bw > 0) || !(bh > 0) {
		return fmt.Errorf("box %v has non-positive size", box)
	}
	// The original computes the ratios in Python floats and then applies them to a
	// float32 tensor, so each operation rounds to float32.
	wRatio, hRatio := float32(float64(size)/bw), float32(float64(size)/bh)
	x1, y1 := float32(box[0]), float32(box[1])
	hi := float32(size - 1)
	var xs, ys []float64
	for _, poly := range polys {
		if len(poly) == 0 {
			continue
		}
		xs, ys = xs[:0], ys[:0]
		for _, p := range poly {
			x := (float32(p[0]) - x1) * wRatio
			y := (float32(p[1]) - y1) * hRatio
			xs = append(xs, float64(clamp32(x, 0, hi)))
			ys = append(ys, float64(clamp32(y, 0, hi)))
		}
		fillPolygon(dst, size, xs, ys, rule)
	}
	return nil
}

// clamp32 is torch.clamp: NaN stays NaN.
func clamp32(v, lo, hi float32) float32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// fillPolygon sets dst[r*size+c] = 1 for every integer (r, c) in the polygon's bounding
// range that the rule puts inside, as skimage.draw.polygon(ys, xs) does.
func fillPolygon(dst []float32, size int, xs, ys []float64, rule PolygonRule) {
	minR, maxR := bounds(ys)
	minC, maxC := bounds(xs)
	for r := minR; r <= maxR && r < size; r++ {
		for c := minC; c <= maxC && c < size; c++ {
			var in bool
			if rule == PolygonInclusive {
				in = insideInclusive(xs, ys, float64(c), float64(r))
			} else {
				in = insideCrossing(xs, ys, float64(c), float64(r))
			}
			if in {
				dst[r*size+c] = 1
			}
		}
	}
}

// bounds is skimage's loop range: int(max(0, min)) .. int(ceil(max)).
func bounds(v []float64) (lo, hi int) {
	mn, mx := v[0], v[0]
	for _, x := range v[1:] {
		mn, mx = math.Min(mn, x), math.Max(mx, x)
	}
	if math.IsNaN(mn) || math.IsNaN(mx) {
		return 0, -1
	}
	return int(math.Max(0, mn)), int(math.Ceil(mx))
}

// insideCrossing is the classic even-odd crossing test (scikit-image ≤ 0.17).
func insideCrossing(xp, yp []float64, x, y float64) bool {
	in := false
	j := len(xp) - 1
	for i := range xp {
		if ((yp[i] <= y && y < yp[j]) || (yp[j] <= y && y < yp[i])) &&
			x < (xp[j]-xp[i])*(y-yp[i])/(yp[j]-yp[i])+xp[i] {
			in = !in
		}
		j = i
	}
	return in
}

// insideInclusive is scikit-image ≥ 0.18's point_in_polygon: right and left ray
// crossings are counted separately, so a point on an edge (different parities) or at a
// vertex is reported, and draw.polygon treats every non-outside result as inside.
func insideInclusive(xp, yp []float64, x, y float64) bool {
	const eps = 1e-12
	n := len(xp)
	x1, y1 := xp[n-1]-x, yp[n-1]-y
	var rCross, lCross int
	for i := range n {
		x0, y0 := xp[i]-x, yp[i]-y
		if -eps < x0 && x0 < eps && -eps < y0 && y0 < eps {
			return true // vertex
		}
		if (y0 > 0) != (y1 > 0) && (x0*y1-x1*y0)/(y1-y0) > 0 {
			rCross++
		}
		if (y0 < 0) != (y1 < 0) && (x0*y1-x1*y0)/(y1-y0) < 0 {
			lCross++
		}
		x1, y1 = x0, y0
	}
	if rCross&1 != lCross&1 {
		return true // edge
	}
	return rCross&1 == 1
}
