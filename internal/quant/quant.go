// Package quant is vlbert's opt-in int8 inference path: Linear layers whose weights
// are int8 and whose inputs are quantized on the fly ("dynamic quantization").
//
// A weight matrix W [N, K] (PyTorch's Linear layout, out x in) is quantized once,
// symmetrically per output channel: w[j][k] ≈ sw[j]·qw[j][k] with qw in [-127, 127].
// Each input row x [K] is quantized when the layer runs, asymmetrically per row (per
// token), to 7 bits: x[k] ≈ sx·(qx[k] − zx) with qx in [0, 127] and the zero point zx
// chosen so that 0 is exact. The product runs in int32:
//
//	y[j] = sx·sw[j]·(Σ_k qx[k]·qw[j][k] − zx·Σ_k qw[j][k]) + b[j]
//
// Seven-bit inputs are what make the AVX2 kernel exact: VPMADDUBSW multiplies
// unsigned by signed bytes and adds adjacent pairs into int16 with saturation, and
// 2·127·127 = 32258 fits where 2·255·127 would not (PyTorch's dynamic quantization
// on fbgemm uses the same reduced range for the same reason). Per-row input scales
// cost nothing extra in the kernel and follow each token's own range, which is
// tighter than PyTorch's one scale per tensor.
//
// The error is that of the rounding: relative error of a product around 1e-2, far
// above float32's 1e-7, so this path is for inference only and is never the
// default; the model tests compare its answers with the float32 ones.
package quant

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/parallel"
)

// Tile shape of the micro-kernel: mr rows of the input by nr output channels, with
// the depth taken kq = 4 bytes at a time (one int32 lane of VPMADDWD's sum).
const (
	mr = 6
	nr = 16
	kq = 4
)

// Linear is an int8 Linear layer: y = x·Wᵀ + b for x [M, K], y [M, N].
type Linear struct {
	n, k int       // output channels, input features
	kp   int       // K rounded up to kq
	np   int       // N rounded up to nr
	w    []int8    // packed: np/nr panels of [kp/kq][nr][kq] bytes
	sw   []float32 // per-channel weight scale [np] (0 on padding)
	sumW []float32 // Σ_k qw[j][k] [np], exact in float32 (|sum| ≤ 127·K < 2^24 for K < 132000)
	bias []float32 // [np], zero on padding and when the layer has none
}

// maxK bounds K so that the int32 sums (≤ 2·127·127 per pair, K/2 pairs) and the
// float32 channel sums stay exact.
const maxK = 1 << 17

// NewLinear quantizes the weight w [n, k] (row-major, out x in) and copies bias
// ([n], or nil for none). The float32 weights are not kept: quantize again after
// changing them.
func NewLinear(w, bias []float32, n, k int) (*Linear, error) {
	if n <= 0 || k <= 0 || k > maxK {
		return nil, fmt.Errorf("quant: Linear of shape [%d, %d] (need n, k > 0 and k <= %d)", n, k, maxK)
	}
	if len(w) != n*k {
		return nil, fmt.Errorf("quant: weight has %d elements, want %d x %d", len(w), n, k)
	}
	if bias != nil && len(bias) != n {
		return nil, fmt.Errorf("quant: bias has %d elements, want %d", len(bias), n)
	}
	l := &Linear{n: n, k: k, kp: roundUp(k, kq), np: roundUp(n, nr)}
	l.w = make([]int8, l.np*l.kp)
	l.sw = make([]float32, l.np)
	l.sumW = make([]float32, l.np)
	l.bias = make([]float32, l.np)
	copy(l.bias, bias)
	row := make([]int8, l.kp)
	for j := 0; j < n; j++ {
		wj := w[j*k : (j+1)*k]
		var amax float32
		for _, v := range wj {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("quant: weight row %d holds %v", j, v)
			}
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		scale := amax / 127
		sum := 0
		for i, v := range wj {
			q := 0
			if scale > 0 { // in float64: 1/scale can overflow float32 for subnormal rows
				q = int(math.RoundToEven(float64(v) / float64(scale)))
				q = min(max(q, -127), 127)
			}
			row[i] = int8(q)
			sum += q
		}
		l.sw[j], l.sumW[j] = scale, float32(sum)
		// Panel j/nr, channel j%nr: the kq bytes of each depth group sit together.
		panel := l.w[(j/nr)*nr*l.kp:]
		c := j % nr
		for g := 0; g < l.kp/kq; g++ {
			copy(panel[(g*nr+c)*kq:(g*nr+c+1)*kq], row[g*kq:(g+1)*kq])
		}
	}
	return l, nil
}

// Shape returns the layer's output channels n and input features k.
func (l *Linear) Shape() (n, k int) { return l.n, l.k }

// Forward computes y [m, n] = x [m, k]·Wᵀ + b. x is not modified.
func (l *Linear) Forward(y, x []float32, m int) {
	if m < 0 || len(x) < m*l.k || len(y) < m*l.n {
		panic("quant: Forward: negative row count or x, y too short for m rows")
	}
	if m == 0 {
		return
	}
	s := scratchPool.Get()
	defer scratchPool.Put(s)
	mp := roundUp(m, mr)
	s.q = grow(s.q, mp*l.kp)
	s.sx = grow(s.sx, mp)
	s.zx = grow(s.zx, mp)
	clear(s.q[m*l.kp : mp*l.kp])
	clear(s.sx[m:mp])
	clear(s.zx[m:mp])
	parallel.ForArgs(m, 16, quantizeArgs{s, x, l.k, l.kp}, func(a *quantizeArgs, lo, hi int) {
		for i := lo; i < hi; i++ {
			q := a.s.q[i*a.kp : (i+1)*a.kp]
			a.s.sx[i], a.s.zx[i] = quantizeRow(q[:a.k], a.x[i*a.k:(i+1)*a.k])
			clear(q[a.k:])
		}
	})

	// Work units: blocks of up to tilesPerBlock row tiles (whose quantized inputs
	// stay in L2 while every panel of W streams past them) times groups of panels.
	// With many blocks the block count is a multiple of the thread count and the
	// blocks split the tiles evenly; with few (the answers-only last layer, or many
	// threads) every panel is a unit of its own, so that the units, which workers
	// take in equal contiguous runs, are small enough to balance.
	tiles, panels := mp/mr, l.np/nr
	t := parallel.Threads()
	rowBlocks := (tiles + tilesPerBlock - 1) / tilesPerBlock
	groups := 1
	if rowBlocks < 2*t {
		groups = panels
	} else {
		rowBlocks = roundUp(rowBlocks, t)
	}
	parallel.ForArgs(rowBlocks*groups, 1, productArgs{l, s, y, m, tiles, panels, rowBlocks, groups}, productUnits)
}

// tilesPerBlock is the most rows a work unit has, in tiles (48 rows).
const tilesPerBlock = 8

type quantizeArgs struct {
	s     *scratch
	x     []float32
	k, kp int
}

type productArgs struct {
	l                            *Linear
	s                            *scratch
	y                            []float32
	m, tiles, panels, blks, grps int
}

// productUnits runs work units [lo, hi): unit u is row block u/grps (of blks
// blocks over the tiles), panel group u%grps.
func productUnits(a *productArgs, lo, hi int) {
	l, s := a.l, a.s
	var edge [mr * nr]float32
	for u := lo; u < hi; u++ {
		rb, g := u/a.grps, u%a.grps
		t0, t1 := rb*a.tiles/a.blks, (rb+1)*a.tiles/a.blks
		p0, p1 := g*a.panels/a.grps, (g+1)*a.panels/a.grps
		for p := p0; p < p1; p++ {
			wp := l.w[p*nr*l.kp : (p+1)*nr*l.kp]
			j0 := p * nr
			cols := min(nr, l.n-j0)
			for t := t0; t < t1; t++ {
				i0 := t * mr
				rows := min(mr, a.m-i0)
				qa := s.q[i0*l.kp:]
				if rows == mr && cols == nr {
					tile(l.kp/kq, qa, l.kp, wp, a.y[i0*l.n+j0:], l.n, s.sx[i0:], s.zx[i0:], l.sw[j0:], l.sumW[j0:], l.bias[j0:])
					continue
				}
				tile(l.kp/kq, qa, l.kp, wp, edge[:], nr, s.sx[i0:], s.zx[i0:], l.sw[j0:], l.sumW[j0:], l.bias[j0:])
				for r := 0; r < rows; r++ {
					copy(a.y[(i0+r)*l.n+j0:(i0+r)*l.n+j0+cols], edge[r*nr:r*nr+cols])
				}
			}
		}
	}
}

// scratch holds one Forward's quantized input; reused across calls.
type scratch struct {
	q      []uint8
	sx, zx []float32
}

var scratchPool parallel.FreeList[scratch]

// quantizeRow writes q[k] = clamp(round(x[k]/s) + z, 0, 127) and returns the scale s
// and zero point z (a float32 holding an integer in [0, 127]) of the row: the range
// [min(0, min x), max(0, max x)] maps onto [0, 127]. An all-zero row gets s = 0, a
// row holding NaN or ±Inf s = NaN.
func quantizeRow(q []uint8, x []float32) (s, z float32) {
	lo, hi := minMax(x)
	lo, hi = min(lo, 0), max(hi, 0)
	if hi-lo < tinyRange { // an all-zero row (y = b exactly), or one so close to it
		clear(q) // that 1/s would overflow: y = b to within ~1e-30·|W|
		return 0, 0
	}
	if !(hi > lo) || math.IsInf(float64(hi-lo), 0) {
		// NaN or infinite inputs: a NaN scale makes the row's outputs NaN, as the
		// float32 product would, instead of a finite wrong answer.
		clear(q)
		return nanF, 0
	}
	s = (hi - lo) / 127
	inv := 1 / s
	z = float32(math.RoundToEven(float64(-lo * inv)))
	z = min(max(z, 0), 127)
	quantizeInto(q, x, inv, z)
	return s, z
}

// tinyRange is the narrowest input range quantized; narrower rows count as zero.
const tinyRange = 1e-30

// quantizeGeneric is quantizeInto in Go: round(x·inv) with ties to even (what
// VCVTPS2DQ does in the default rounding mode) plus z, clamped to [0, 127].
func quantizeGeneric(q []uint8, x []float32, inv, z float32) {
	for i, v := range x {
		r := math.RoundToEven(float64(v*inv)) + float64(z)
		q[i] = uint8(min(max(r, 0), 127))
	}
}

func minMaxGeneric(x []float32) (lo, hi float32) {
	lo, hi = x[0], x[0]
	for _, v := range x[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// tileGeneric is the micro-kernel in Go: the mr x nr tile at y (row stride ldy) from
// groups kq-byte depth groups of the quantized rows a (stride lda) and the packed
// panel b, dequantized with the row scales/zero points and the channel scales/sums,
// plus bias. Same arithmetic as the assembly: exact int32 sums, then
// f = float32(acc) − zx·sumW and y = f·(sx·sw) + b, each with one rounding.
func tileGeneric(groups int, a []uint8, lda int, b []int8, y []float32, ldy int, sx, zx, sw, sumW, bias []float32) {
	var acc [mr][nr]int32
	for g := 0; g < groups; g++ {
		bg := b[g*nr*kq : (g+1)*nr*kq]
		for r := 0; r < mr; r++ {
			ar := a[r*lda+g*kq : r*lda+g*kq+kq]
			for c := 0; c < nr; c++ {
				bc := bg[c*kq : c*kq+kq]
				acc[r][c] += int32(ar[0])*int32(bc[0]) + int32(ar[1])*int32(bc[1]) + int32(ar[2])*int32(bc[2]) + int32(ar[3])*int32(bc[3])
			}
		}
	}
	for r := 0; r < mr; r++ {
		for c := 0; c < nr; c++ {
			f := fma32(-zx[r], sumW[c], float32(acc[r][c]))
			y[r*ldy+c] = fma32(f, sx[r]*sw[c], bias[c])
		}
	}
}

// fma32 is a float32 fused multiply-add (one rounding, as VFMADD*PS).
func fma32(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }

var nanF = float32(math.NaN())

func roundUp(n, m int) int { return (n + m - 1) / m * m }

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
