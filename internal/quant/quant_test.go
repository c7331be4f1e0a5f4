package quant

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/parallel"
)

// withGeneric runs f with the assembly switched off (a no-op where there is none).
func withGeneric(t *testing.T, f func()) {
	t.Helper()
	withKernel(t, "generic", func() {
		prev := useAVX2
		useAVX2 = false
		defer func() { useAVX2 = prev }()
		f()
	})
}

// withKernel runs f with the micro-kernel name.
func withKernel(t *testing.T, name string, f func()) {
	t.Helper()
	prev := tileKernel
	tileKernel = name
	defer func() { tileKernel = prev }()
	f()
}

func randFloats(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
	return x
}

// TestTileMatchesGeneric compares the assembly micro-kernel with the Go one on
// random quantized data: the int32 sums are exact in both, so the outputs agree to
// the last bit but for the rare double rounding of the Go epilogue.
func TestTileMatchesGeneric(t *testing.T) {
	for _, k := range Kernels() {
		if k != "generic" {
			t.Run(k, func(t *testing.T) { testTile(t, k) })
		}
	}
}

func testTile(t *testing.T, kernel string) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, groups := range []int{1, 2, 3, 7, 192, 768} {
		lda := groups*kq + 12
		a := make([]uint8, mr*lda)
		for i := range a {
			a[i] = uint8(rng.IntN(128))
		}
		b := make([]int8, groups*nr*kq)
		for i := range b {
			b[i] = int8(rng.IntN(255) - 127)
		}
		sx, zx := randFloats(rng, mr, 0.1), make([]float32, mr)
		for i := range zx {
			zx[i] = float32(rng.IntN(128))
		}
		sw, sumW, bias := randFloats(rng, nr, 0.01), randFloats(rng, nr, 100), randFloats(rng, nr, 1)
		const ldy = nr + 3
		got, want := make([]float32, mr*ldy), make([]float32, mr*ldy)
		tileWith(kernel, groups, a, lda, b, got, ldy, sx, zx, sw, sumW, bias)
		tileGeneric(groups, a, lda, b, want, ldy, sx, zx, sw, sumW, bias)
		if kernel != "avx2" && hasAVX2 { // the assembly kernels agree to the bit
			avx2 := make([]float32, mr*ldy)
			tileWith("avx2", groups, a, lda, b, avx2, ldy, sx, zx, sw, sumW, bias)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(avx2[i]) {
					t.Fatalf("groups %d: y[%d] = %v, avx2 kernel %v", groups, i, got[i], avx2[i])
				}
			}
		}
		for i := range got {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-6*math.Abs(float64(want[i]))+1e-30 {
				t.Fatalf("groups %d: y[%d] = %v, Go kernel %v", groups, i, got[i], want[i])
			}
		}
		// With unit scales and no zero points the output is the exact integer sum.
		one, zero := make([]float32, mr), make([]float32, nr)
		for i := range one {
			one[i] = 1
		}
		ones := make([]float32, nr)
		for i := range ones {
			ones[i] = 1
		}
		tileWith(kernel, groups, a, lda, b, got, ldy, one, zero, ones, zero, zero)
		for r := 0; r < mr; r++ {
			for c := 0; c < nr; c++ {
				var sum int64
				for p := 0; p < groups*kq; p++ {
					sum += int64(a[r*lda+p]) * int64(b[(p/kq*nr+c)*kq+p%kq])
				}
				if got[r*ldy+c] != float32(sum) {
					t.Fatalf("groups %d: integer sum [%d][%d] = %v, want %d", groups, r, c, got[r*ldy+c], sum)
				}
			}
		}
	}
}

// TestQuantizeRowMatchesGeneric: the assembly row quantizer gives the same bytes,
// scale and zero point as the Go one, for every tail length (without AVX2 both
// sides are the Go one, and only the dequantization bound is checked).
func TestQuantizeRowMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 8, 31, 32, 33, 63, 100, 768, 3072 + 5} {
		for trial := 0; trial < 3; trial++ {
			x := randFloats(rng, n, 2)
			if trial == 1 { // all positive: zero point 0
				for i := range x {
					x[i] = float32(math.Abs(float64(x[i])))
				}
			}
			if trial == 2 { // ties at the half steps
				for i := range x {
					x[i] = float32(rng.IntN(255)-127) / 2
				}
			}
			got, want := make([]uint8, n), make([]uint8, n)
			s1, z1 := quantizeRow(got, x)
			var s2, z2 float32
			withGeneric(t, func() { s2, z2 = quantizeRow(want, x) })
			if s1 != s2 || z1 != z2 {
				t.Fatalf("n %d trial %d: scale, zero %v, %v; Go %v, %v", n, trial, s1, z1, s2, z2)
			}
			for i := range got {
				if got[i] != want[i] || got[i] > 127 {
					t.Fatalf("n %d trial %d: q[%d] = %d, Go %d", n, trial, i, got[i], want[i])
				}
				// Dequantized within half a step (plus rounding of the scale).
				if d := math.Abs(float64(s1*(float32(got[i])-z1) - x[i])); d > 0.5001*float64(s1) {
					t.Fatalf("n %d: x[%d] = %v dequantizes %v off (step %v)", n, i, x[i], d, s1)
				}
			}
		}
	}
}

func TestQuantizeRowSpecial(t *testing.T) {
	q := make([]uint8, 40)
	if s, z := quantizeRow(q, make([]float32, 40)); s != 0 || z != 0 {
		t.Fatalf("zero row: scale %v zero %v, want 0, 0", s, z)
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for _, pos := range []int{0, 9, 17, 30, 39} { // each vector of the unrolled loop, and the tail
			x := make([]float32, 40)
			x[3] = 1
			x[pos] = bad
			if s, _ := quantizeRow(q, x); !math.IsNaN(float64(s)) {
				t.Fatalf("row with %v at %d: scale %v, want NaN", bad, pos, s)
			}
		}
	}
}

// gridProblem builds W and x that quantize exactly (power-of-two scales, integer
// levels that reach the ends of the ranges), so the int8 product equals the exact
// one: any packing, padding or indexing error shows as a large difference.
func gridProblem(rng *rand.Rand, m, n, k int) (x, w, bias []float32) {
	w = make([]float32, n*k)
	for j := 0; j < n; j++ {
		sw := float32(math.Ldexp(1, -6-j%3))
		for p := 0; p < k; p++ {
			w[j*k+p] = sw * float32(rng.IntN(255)-127)
		}
		w[j*k+rng.IntN(k)] = sw * 127 * float32(1-2*(j%2))
	}
	x = make([]float32, m*k)
	for i := 0; i < m; i++ {
		sx, z := float32(math.Ldexp(1, -4-i%2)), rng.IntN(128)
		for p := 0; p < k; p++ {
			x[i*k+p] = sx * float32(rng.IntN(128)-z)
		}
		if k == 1 {
			x[i] = sx * 127
			continue
		}
		p := rng.IntN(k)
		x[i*k+p] = sx * float32(-z)
		x[i*k+(p+1)%k] = sx * float32(127-z)
	}
	return x, w, randFloats(rng, n, 1)
}

func refLinear(x, w, bias []float32, m, n, k int) []float64 {
	y := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := float64(bias[j])
			for p := 0; p < k; p++ {
				s += float64(x[i*k+p]) * float64(w[j*k+p])
			}
			y[i*n+j] = s
		}
	}
	return y
}

func TestLinearExactOnGrid(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := [][3]int{{1, 1, 1}, {5, 15, 3}, {6, 16, 4}, {7, 17, 5}, {13, 40, 64}, {50, 33, 771}, {97, 64, 128}}
	for _, kernel := range Kernels() {
		for _, sh := range shapes {
			m, n, k := sh[0], sh[1], sh[2]
			x, w, bias := gridProblem(rng, m, n, k)
			l, err := NewLinear(w, bias, n, k)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float32, m*n+1)
			y[m*n] = 42 // sentinel: nothing past m*n is written
			run := func() { l.Forward(y, x, m) }
			if kernel == "generic" {
				withGeneric(t, run)
			} else {
				withKernel(t, kernel, run)
			}
			want := refLinear(x, w, bias, m, n, k)
			for i, v := range want {
				if d := math.Abs(float64(y[i]) - v); d > 1e-5*(1+math.Abs(v)) {
					t.Fatalf("%s m,n,k=%d,%d,%d: y[%d] = %v, want %v", kernel, m, n, k, i, y[i], v)
				}
			}
			if y[m*n] != 42 {
				t.Fatalf("m,n,k=%d,%d,%d: wrote past the output", m, n, k)
			}
		}
	}
}

// TestLinearAccuracy bounds the quantization error on Gaussian data at BERT-base
// shapes: relative L2 error of the product about 1%.
func TestLinearAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	m, n, k := 24, 96, 768
	x, w := randFloats(rng, m*k, 1), randFloats(rng, n*k, 0.02)
	bias := randFloats(rng, n, 0.1)
	l, err := NewLinear(w, bias, n, k)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float32, m*n)
	l.Forward(y, x, m)
	want := refLinear(x, w, bias, m, n, k)
	var num, den float64
	for i, v := range want {
		num += (float64(y[i]) - v) * (float64(y[i]) - v)
		den += v * v
	}
	rel := math.Sqrt(num / den)
	t.Logf("relative L2 error %.4f", rel)
	if rel > 0.02 || rel < 1e-4 {
		t.Fatalf("relative L2 error %.4g, want within [1e-4, 0.02] (7-bit inputs, 8-bit weights)", rel)
	}
}

func TestLinearThreadsAndSpecialRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	m, n, k := 130, 50, 96
	x, w := randFloats(rng, m*k, 1), randFloats(rng, n*k, 0.1)
	bias := randFloats(rng, n, 1)
	clear(x[3*k : 4*k])              // a zero row gives the bias exactly
	x[7*k+5] = float32(math.NaN())   // a NaN poisons its row only
	x[9*k+1] = float32(math.Inf(-1)) // as does an infinity
	l, err := NewLinear(w, bias, n, k)
	if err != nil {
		t.Fatal(err)
	}
	prev := parallel.SetThreads(1)
	defer parallel.SetThreads(prev)
	y1 := make([]float32, m*n)
	l.Forward(y1, x, m)
	parallel.SetThreads(3)
	y3 := make([]float32, m*n)
	l.Forward(y3, x, m)
	for i := range y1 {
		if math.Float32bits(y1[i]) != math.Float32bits(y3[i]) {
			t.Fatalf("y[%d]: %v with 1 thread, %v with 3", i, y1[i], y3[i])
		}
	}
	for j := 0; j < n; j++ {
		if y1[3*n+j] != bias[j] {
			t.Fatalf("zero row: y[3][%d] = %v, want bias %v", j, y1[3*n+j], bias[j])
		}
		if !math.IsNaN(float64(y1[7*n+j])) || !math.IsNaN(float64(y1[9*n+j])) {
			t.Fatalf("rows with NaN/Inf inputs: y[7][%d] = %v, y[9][%d] = %v, want NaN", j, y1[7*n+j], j, y1[9*n+j])
		}
		if math.IsNaN(float64(y1[8*n+j])) {
			t.Fatalf("row 8 turned NaN")
		}
	}
	if a := testing.AllocsPerRun(5, func() { l.Forward(y3, x, m) }); a != 0 {
		t.Fatalf("Forward allocates %v times per call once warm", a)
	}
}

func TestNewLinearErrors(t *testing.T) {
	w := make([]float32, 6)
	for _, c := range []struct {
		w, b  []float32
		n, k  int
		words string
	}{
		{w, nil, 0, 6, "shape"},
		{w, nil, 1, maxK + 1, "shape"},
		{w, nil, 2, 2, "elements"},
		{w, make([]float32, 3), 2, 3, "bias"},
		{[]float32{1, float32(math.NaN()), 0, 0, 0, 0}, nil, 2, 3, "NaN"},
		{[]float32{1, 0, 0, 0, float32(math.Inf(1)), 0}, nil, 2, 3, "Inf"},
	} {
		_, err := NewLinear(c.w, c.b, c.n, c.k)
		if err == nil || !strings.Contains(err.Error(), c.words) {
			t.Errorf("NewLinear(n=%d, k=%d): error %v, want one mentioning %q", c.n, c.k, err, c.words)
		}
	}
	l, err := NewLinear(w, nil, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "quant:") {
			t.Fatalf("short output: recovered %v, want a quant: panic", r)
		}
	}()
	l.Forward(make([]float32, 3), make([]float32, 6), 2)
}

// TestTinyValues: subnormal weights and inputs whose reciprocal scale would overflow
// float32 give finite, correct outputs instead of garbage.
func TestTinyValues(t *testing.T) {
	const n, k = 3, 40
	w := make([]float32, n*k)
	for i := range w {
		w[i] = 1
	}
	for p := 0; p < k; p++ {
		w[k+p] = 1e-41 * float32(p%3-1) // a subnormal row
	}
	l, err := NewLinear(w, []float32{0.5, 0.25, -1}, n, k)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*k)
	for p := 0; p < k; p++ {
		x[p] = 1e-38 * float32(p%5) // tiny row: counts as zero
		x[k+p] = float32(p%7) - 3
	}
	y := make([]float32, 2*n)
	l.Forward(y, x, 2)
	want := refLinear(x, w, []float32{0.5, 0.25, -1}, 2, n, k)
	for i, v := range want {
		var mass float64 // Σ|x·w|: the scale of the rounding error
		for p := 0; p < k; p++ {
			mass += math.Abs(float64(x[i/n*k+p]) * float64(w[i%n*k+p]))
		}
		if math.IsNaN(float64(y[i])) || math.Abs(float64(y[i])-v) > 0.01*mass+1e-6 {
			t.Errorf("y[%d] = %v, want %v (Σ|x·w| = %v)", i, y[i], v, mass)
		}
	}
}

// TestTileAtMaxK: at the largest depth NewLinear accepts, all-127 inputs against
// all-(−127) weights give the exact int32 sum (no overflow) in every kernel.
func TestTileAtMaxK(t *testing.T) {
	if testing.Short() {
		t.Skip("16 MB of operands")
	}
	groups := maxK / kq
	a := make([]uint8, (mr-1)*maxK+maxK)
	for i := range a {
		a[i] = 127
	}
	b := make([]int8, groups*nr*kq)
	for i := range b {
		b[i] = -127
	}
	one, zero, ones := make([]float32, mr), make([]float32, nr), make([]float32, nr)
	for i := range one {
		one[i] = 1
	}
	for i := range ones {
		ones[i] = 1
	}
	want := float32(-127 * 127 * maxK)
	for _, k := range Kernels() {
		y := make([]float32, mr*nr)
		tileWith(k, groups, a, maxK, b, y, nr, one, zero, ones, zero, zero)
		for i, v := range y {
			if v != want {
				t.Fatalf("%s: y[%d] = %v, want %v", k, i, v, want)
			}
		}
	}
}
