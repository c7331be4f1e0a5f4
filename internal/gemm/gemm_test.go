package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/parallel"
)

// impl is one SGEMM implementation under the conformance suite.
type impl struct {
	name  string
	sgemm func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
}

// implementations returns every implementation this machine can run: each supported
// micro-kernel on 1 and 3 workers, and OpenBLAS when it loads.
func implementations(t *testing.T) []impl {
	var impls []impl
	for _, k := range testKernels(t) {
		for _, v := range []struct {
			threads int
			mode    packMode
		}{{1, packAlways}, {3, packAlways}, {1, packNever}, {3, packNever}} {
			modeName := map[packMode]string{packAlways: "packed", packNever: "inplace"}[v.mode]
			impls = append(impls, impl{
				name: fmt.Sprintf("%s/%s/threads=%d", k.name, modeName, v.threads),
				sgemm: func(transA, transB bool, m, n, k2 int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
					checkArgs(transA, transB, m, n, k2, len(a), lda, len(b), ldb, len(c), ldc)
					prev := packing
					packing = v.mode
					defer func() { packing = prev }()
					sgemm(k, v.threads, transA, transB, m, n, k2, alpha, a, lda, b, ldb, beta, c, ldc)
				},
			})
		}
	}
	if OpenBLASAvailable() {
		impls = append(impls, impl{name: "openblas", sgemm: OpenBLASSgemm})
	} else {
		t.Logf("OpenBLAS not available (%v), not tested", openblasError())
	}
	return impls
}

// testKernels returns the supported kernels, plus, for each assembly kernel this
// CPU cannot run, a stand-in with its tile shape and blocking whose tiles are
// computed in Go: the driver's packing, edge and threading logic for that shape is
// then tested even where its assembly cannot run.
func testKernels(t *testing.T) []*kernel {
	var ks []*kernel
	for _, k := range allKernels {
		if k.supported() {
			ks = append(ks, k)
			continue
		}
		t.Logf("kernel %s: not supported by this CPU; testing its %dx%d blocking with Go tiles", k.name, k.mr, k.nr)
		emu := *k
		emu.name = k.name + "-emulated"
		emu.supported = func() bool { return true }
		emu.tile = refTile(k.mr, k.nr)
		emu.tileBias = nil // the driver adds the bias to the Go tiles
		emu.tileN, emu.tileNBias = nil, nil
		if k.half != nil {
			emu.half = refTile(k.mr, k.nr/2)
		}
		ks = append(ks, &emu)
	}
	return append(ks, extraTestKernels()...)
}

// refTile is a plain Go micro-kernel for any mr x nr tile (see kernel.tile).
func refTile(mr, nr int) func(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32) {
	return func(k int, ap *float32, rsA, csA int, bp *float32, csB int, cp *float32, ldc int, alpha, beta float32) {
		a := floats(ap, (mr-1)*rsA+(k-1)*csA+1)
		b := floats(bp, (k-1)*csB+nr)
		c := floats(cp, (mr-1)*ldc+nr)
		for i := 0; i < mr; i++ {
			for j := 0; j < nr; j++ {
				var sum float32
				for p := 0; p < k; p++ {
					sum += a[i*rsA+p*csA] * b[p*csB+j]
				}
				if beta == 0 {
					c[i*ldc+j] = alpha * sum
				} else {
					c[i*ldc+j] = alpha*sum + beta*c[i*ldc+j]
				}
			}
		}
	}
}

// gemmCase is one product with its operands laid out in padded buffers.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	want, tol      []float64 // float64 reference and tolerance per C element, computed once
}

func (tc *gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g lda=%d ldb=%d ldc=%d",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.lda, tc.ldb, tc.ldc)
}

// sentinel marks C elements outside the m x n window; they must survive unchanged.
const sentinel = float32(-12345.678)

func newCase(rng *rand.Rand, transA, transB bool, m, n, k int, alpha, beta float32, pad int) *gemmCase {
	tc := &gemmCase{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	randPad := func() int {
		if pad == 0 {
			return 0
		}
		return rng.IntN(pad + 1)
	}
	tc.lda = max(colsA, 1) + randPad()
	tc.ldb = max(colsB, 1) + randPad()
	tc.ldc = max(n, 1) + randPad()
	fill := func(rows, ld int) []float32 {
		x := make([]float32, rows*ld+randPad())
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	tc.a = fill(rowsA, tc.lda)
	tc.b = fill(rowsB, tc.ldb)
	tc.c = make([]float32, m*tc.ldc+randPad())
	for i := range tc.c {
		tc.c[i] = sentinel
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			if beta == 0 {
				tc.c[i*tc.ldc+j] = float32(math.NaN()) // must be overwritten, not read
			} else {
				tc.c[i*tc.ldc+j] = float32(rng.NormFloat64())
			}
		}
	}
	return tc
}

// check runs fn on a copy of tc's C and compares with a float64 reference; the
// tolerance grows with k and with the magnitude of the summed terms.
func (tc *gemmCase) check(t *testing.T, name string, fn func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) {
	t.Helper()
	c := append([]float32(nil), tc.c...)
	fn(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.a, tc.lda, tc.b, tc.ldb, tc.beta, c, tc.ldc)
	opA := func(i, p int) float64 {
		if tc.transA {
			return float64(tc.a[p*tc.lda+i])
		}
		return float64(tc.a[i*tc.lda+p])
	}
	opB := func(p, j int) float64 {
		if tc.transB {
			return float64(tc.b[j*tc.ldb+p])
		}
		return float64(tc.b[p*tc.ldb+j])
	}
	if tc.want == nil {
		tc.reference(opA, opB)
	}
	inWindow := make([]bool, len(c))
	bad := 0
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			idx := i*tc.ldc + j
			inWindow[idx] = true
			got, want, tol := float64(c[idx]), tc.want[i*tc.n+j], tc.tol[i*tc.n+j]
			if math.IsNaN(got) || math.Abs(got-want) > tol {
				if bad < 5 {
					t.Errorf("%s %v: C[%d][%d] = %g, want %g (tol %.3g)", name, tc, i, j, got, want, tol)
				}
				bad++
			}
		}
	}
	for idx, v := range c {
		if !inWindow[idx] && math.Float32bits(v) != math.Float32bits(tc.c[idx]) {
			t.Fatalf("%s %v: C[%d] outside the m x n window changed from %g to %g", name, tc, idx, tc.c[idx], v)
		}
	}
	if bad > 0 {
		t.Fatalf("%s %v: %d wrong elements", name, tc, bad)
	}
}

// reference fills tc.want and tc.tol: the product in float64, and a tolerance that
// grows with k and with the magnitude of the summed terms.
func (tc *gemmCase) reference(opA, opB func(int, int) float64) {
	m, n, k := tc.m, tc.n, tc.k
	// Dense float64 copies of op(A) (m x k) and op(B)ᵀ (n x k) keep the loops plain.
	a64, bt64 := make([]float64, m*k), make([]float64, n*k)
	for i := 0; i < m; i++ {
		for p := 0; p < k; p++ {
			a64[i*k+p] = opA(i, p)
		}
	}
	for j := 0; j < n; j++ {
		for p := 0; p < k; p++ {
			bt64[j*k+p] = opB(p, j)
		}
	}
	tc.want = make([]float64, m*n)
	tc.tol = make([]float64, m*n)
	for i := 0; i < m; i++ {
		ai := a64[i*k : i*k+k]
		for j := 0; j < n; j++ {
			bj := bt64[j*k : j*k+k]
			var sum, mag float64
			for p, av := range ai {
				x := av * bj[p]
				sum += x
				mag += math.Abs(x)
			}
			idx := i*tc.ldc + j
			want := float64(tc.alpha) * sum
			scale := math.Abs(float64(tc.alpha)) * mag
			if tc.beta != 0 {
				want += float64(tc.beta) * float64(tc.c[idx])
				scale += math.Abs(float64(tc.beta) * float64(tc.c[idx]))
			}
			tc.want[i*n+j] = want
			tc.tol[i*n+j] = 2e-7*float64(k+2)*scale + 1e-30
		}
	}
}

// edgeSizes are sizes around the tile and block edges of every kernel.
func edgeSizes() []int {
	set := map[int]bool{0: true, 1: true, 2: true, 3: true, 5: true, 7: true, 13: true, 31: true, 37: true, 97: true}
	for _, k := range allKernels {
		for _, s := range []int{k.mr, k.nr, k.kc, k.mc} {
			for d := -1; d <= 1; d++ {
				if s+d >= 0 {
					set[s+d] = true
				}
			}
		}
	}
	var sizes []int
	for s := range set {
		sizes = append(sizes, s)
	}
	return sizes
}

func TestConformance(t *testing.T) {
	impls := implementations(t)
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := edgeSizes()
	scalars := [][2]float32{{1, 0}, {1, 1}, {-0.5, 0.75}, {0, 0.5}, {0, 0}, {2, 0}}
	var cases []*gemmCase
	// Every transpose combination with every alpha/beta pair on small odd shapes.
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, ab := range scalars {
				cases = append(cases, newCase(rng, ta, tb, 7, 13, 5, ab[0], ab[1], 3))
			}
			// Random shapes drawn from the edge sizes, padded leading dimensions.
			for range 12 {
				m, n, k := sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
				ab := scalars[rng.IntN(len(scalars))]
				cases = append(cases, newCase(rng, ta, tb, m, n, k, ab[0], ab[1], 5))
			}
			// Larger than one block in every direction (mc, kc, several tiles), primes.
			cases = append(cases, newCase(rng, ta, tb, 211, 101, 263, 1, 0, 4))
			cases = append(cases, newCase(rng, ta, tb, 61, 239, 521, -1, 1, 0))
		}
	}
	// Degenerate shapes.
	for _, s := range [][3]int{{0, 0, 0}, {0, 5, 3}, {5, 0, 3}, {5, 3, 0}, {1, 1, 1}, {1, 1, 700}, {1, 300, 1}, {300, 1, 1}, {2, 2, 2}} {
		cases = append(cases, newCase(rng, false, false, s[0], s[1], s[2], 1.5, 0, 2))
		cases = append(cases, newCase(rng, true, true, s[0], s[1], s[2], 1, 2, 2))
	}
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			for _, tc := range cases {
				tc.check(t, im.name, im.sgemm)
			}
		})
	}
}

// TestBlockEdges crosses the nc block edge of the fastest kernel too.
func TestBlockEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("large shapes")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range testKernels(t) {
		tc := newCase(rng, false, true, 2*k.mr+1, k.nc+k.nr+3, k.kc+9, 1, 0.5, 1)
		tc.check(t, k.name, func(transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			sgemm(k, 2, transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc)
		})
	}
}

// TestThreadsBitwise checks that the number of workers never changes a result bit.
func TestThreadsBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := [][3]int{{100, 64, 100}, {257, 129, 300}, {5, 1000, 70}, {3, 40, 9}, {800, 96, 40}}
	for _, k := range testKernels(t) {
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}} {
				tc := newCase(rng, tr[0], tr[1], s[0], s[1], s[2], 0.9, 0.3, 2)
				var ref []float32
				for _, threads := range []int{1, 2, 3, 7} {
					c := append([]float32(nil), tc.c...)
					sgemm(k, threads, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.a, tc.lda, tc.b, tc.ldb, tc.beta, c, tc.ldc)
					if ref == nil {
						ref = c
						continue
					}
					for i := range c {
						if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
							t.Fatalf("%s %v: threads=%d differs from threads=1 at %d: %g vs %g", k.name, tc, threads, i, c[i], ref[i])
						}
					}
				}
			}
		}
	}
}

// TestStrided compares SgemmStrided with one Sgemm per product, for batches smaller
// and larger than the worker count, shared B (stride 0) and side-by-side C.
func TestStrided(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	randSlice := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	type layout struct {
		name                      string
		batch, m, n, k            int
		transA, transB            bool
		lda, ldb, ldc             int
		strideA, strideB, strideC int
	}
	layouts := []layout{
		{"attention-scores", 24, 20, 20, 16, false, true, 16, 16, 20, 320, 320, 400},
		{"attention-values", 24, 20, 16, 20, false, false, 20, 16, 16, 400, 320, 320},
		{"heads-side-by-side", 4, 20, 16, 20, false, false, 20, 64, 64, 400, 16, 16},
		{"shared-B", 5, 33, 17, 9, true, false, 33, 17, 17, 297, 0, 33 * 17},
		{"batch-1", 1, 50, 60, 70, false, false, 70, 60, 60, 0, 0, 0},
		{"tiny", 9, 2, 3, 4, false, false, 4, 3, 3, 8, 12, 6},
	}
	for _, lay := range layouts {
		for _, kern := range testKernels(t) {
			for _, threads := range []int{1, 2, 5} {
				lenA := (lay.batch-1)*lay.strideA + footprintOp(lay.transA, lay.m, lay.k, lay.lda)
				lenB := (lay.batch-1)*lay.strideB + footprintOp(lay.transB, lay.k, lay.n, lay.ldb)
				lenC := (lay.batch-1)*lay.strideC + footprint(lay.m, lay.n, lay.ldc) + 7
				a, b, c := randSlice(lenA), randSlice(lenB), randSlice(lenC)
				want := append([]float32(nil), c...)
				for i := 0; i < lay.batch; i++ {
					sgemm(kern, 1, lay.transA, lay.transB, lay.m, lay.n, lay.k, 1.25, a[i*lay.strideA:], lay.lda, b[i*lay.strideB:], lay.ldb, 0.5, want[i*lay.strideC:], lay.ldc)
				}
				checkStrided(lay.transA, lay.transB, lay.batch, lay.m, lay.n, lay.k, len(a), lay.lda, lay.strideA, len(b), lay.ldb, lay.strideB, len(c), lay.ldc, lay.strideC)
				sgemmStrided(kern, threads, lay.transA, lay.transB, lay.batch, lay.m, lay.n, lay.k, 1.25, a, lay.lda, lay.strideA, b, lay.ldb, lay.strideB, 0.5, c, lay.ldc, lay.strideC)
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %s threads=%d: c[%d] = %g, want %g", lay.name, kern.name, threads, i, c[i], want[i])
					}
				}
			}
		}
	}
	// k == 0: C = beta*C, A and B may be empty.
	c0 := []float32{1, 2, 3, 4, 5, 6}
	SgemmStrided(false, false, 3, 1, 2, 0, 1, nil, 1, 10, nil, 2, 10, 2, c0, 2, 2)
	if fmt.Sprint(c0) != "[2 4 6 8 10 12]" {
		t.Errorf("k=0 batch: C = %v, want 2*C", c0)
	}
	// The exported entry point on the default kernel and thread count.
	a, b, c := randSlice(3*6), randSlice(3*6), randSlice(2*4+4)
	SgemmStrided(false, false, 2, 2, 2, 3, 1, a, 3, 6, b, 2, 6, 0, c, 2, 6)
}

func footprintOp(trans bool, rows, cols, ld int) int {
	if trans {
		return footprint(cols, rows, ld)
	}
	return footprint(rows, cols, ld)
}

// TestPanics checks that bad shapes panic with a "gemm: " message before C changes.
func TestPanics(t *testing.T) {
	buf := func(n int) []float32 { return make([]float32, n) }
	cases := []struct {
		name string
		call func(c []float32)
		want string
	}{
		{"negative m", func(c []float32) { Sgemm(false, false, -1, 2, 2, 1, buf(4), 2, buf(4), 2, 0, c, 2) }, "negative dimension"},
		{"short A", func(c []float32) { Sgemm(false, false, 2, 2, 3, 1, buf(5), 3, buf(6), 2, 0, c, 2) }, "A has 5 elements"},
		{"short A transposed", func(c []float32) { Sgemm(true, false, 2, 2, 3, 1, buf(5), 2, buf(6), 2, 0, c, 2) }, "A has 5 elements"},
		{"short B", func(c []float32) { Sgemm(false, false, 2, 2, 3, 1, buf(6), 3, buf(5), 2, 0, c, 2) }, "B has 5 elements"},
		{"small ldb", func(c []float32) { Sgemm(false, true, 2, 2, 3, 1, buf(6), 3, buf(6), 2, 0, c, 2) }, "leading dimension of B"},
		{"short C", func(c []float32) { Sgemm(false, false, 2, 3, 2, 1, buf(4), 2, buf(6), 3, 0, c[:5], 3) }, "C has 5 elements"},
		{"small ldc", func(c []float32) { Sgemm(false, false, 2, 3, 2, 1, buf(4), 2, buf(6), 3, 0, c, 2) }, "leading dimension of C"},
		{"strided short C", func(c []float32) {
			SgemmStrided(false, false, 2, 2, 2, 2, 1, buf(8), 2, 4, buf(8), 2, 4, 0, c[:7], 2, 4)
		}, "C has 7 elements"},
		{"strided overlap", func(c []float32) {
			SgemmStrided(false, false, 2, 2, 2, 2, 1, buf(8), 2, 4, buf(8), 2, 4, 0, c, 2, 2)
		}, "C matrices overlap"},
		{"strided negative stride", func(c []float32) {
			SgemmStrided(false, false, 2, 2, 2, 2, 1, buf(8), 2, -4, buf(8), 2, 4, 0, c, 2, 4)
		}, "negative stride"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := make([]float32, 8)
			for i := range c {
				c[i] = 42
			}
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.HasPrefix(msg, "gemm: ") || !strings.Contains(msg, tc.want) {
					t.Fatalf("panic %v, want a gemm: message containing %q", r, tc.want)
				}
				for i, v := range c {
					if v != 42 {
						t.Fatalf("C[%d] changed to %g before the panic", i, v)
					}
				}
			}()
			tc.call(c)
		})
	}
}

func TestKernelSelection(t *testing.T) {
	names := Kernels()
	if len(names) == 0 || names[len(names)-1] != "generic" {
		t.Fatalf("Kernels() = %v, want generic last", names)
	}
	if KernelName() == "" {
		t.Fatal("empty KernelName")
	}
	for _, name := range names {
		t.Setenv("VLBERT_GEMM_KERNEL", name)
		if got := chooseKernel().name; got != name {
			t.Errorf("VLBERT_GEMM_KERNEL=%s chose %s", name, got)
		}
	}
	t.Setenv("VLBERT_GEMM_KERNEL", "no-such-kernel")
	if got := chooseKernel().name; got != names[0] {
		t.Errorf("unknown kernel fell back to %s, want %s", got, names[0])
	}
	if _, err := SetKernel("no-such-kernel"); err == nil {
		t.Error("SetKernel accepted an unknown kernel")
	}
	prev, err := SetKernel("generic")
	if err != nil || KernelName() != "generic" {
		t.Fatalf("SetKernel(generic): %v, KernelName %s", err, KernelName())
	}
	if _, err := SetKernel(prev); err != nil {
		t.Fatal(err)
	}
}

// TestExported runs the exported Sgemm with the package's thread setting.
func TestExported(t *testing.T) {
	prev := parallel.SetThreads(2)
	defer parallel.SetThreads(prev)
	rng := rand.New(rand.NewPCG(9, 10))
	newCase(rng, false, true, 70, 50, 40, 1, 0, 2).check(t, "Sgemm", Sgemm)
}

// TestSteadyStateAllocs checks that packing buffers and parallel bookkeeping are
// reused: once warm, a product allocates nothing, serial or on two workers, single
// or strided (whole products per worker, or each product parallel).
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	prev := parallel.SetThreads(2)
	defer parallel.SetThreads(prev)
	m, n, k := 300, 300, 300
	a, b, c := randFloats(m*k), randFloats(k*n), make([]float32, m*n)
	const bm, bn, bk = 64, 64, 64
	sa, sb, sc := randFloats(4*bm*bk), randFloats(4*bk*bn), make([]float32, 4*bm*bn)
	allocs := func(fn func()) float64 {
		fn()
		fn()
		return testing.AllocsPerRun(10, fn)
	}
	for _, tr := range []bool{false, true} {
		cases := map[string]func(){
			"serial":   func() { sgemm(active, 1, false, tr, m, n, k, 1, a, k, b, n, 0, c, n) },
			"parallel": func() { sgemm(active, 2, false, tr, m, n, k, 1, a, k, b, n, 0, c, n) },
			"strided batch": func() {
				sgemmStrided(active, 2, false, tr, 4, bm, bn, bk, 1, sa, bk, bm*bk, sb, bn, bk*bn, 0, sc, bn, bm*bn)
			},
			"strided products": func() {
				sgemmStrided(active, 2, false, tr, 1, m, n, k, 1, a, k, m*k, b, n, k*n, 0, c, n, m*n)
			},
		}
		for name, fn := range cases {
			if got := allocs(fn); got != 0 {
				t.Errorf("transB=%v %s: %.1f allocations per product, want 0", tr, name, got)
			}
		}
	}
}

// TestTileKernels checks each micro-kernel (full and half width) on its own against
// a float64 reference: packed and strided A and B, beta 0 (C holds NaN) and not,
// k around the unroll factor.
func TestTileKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kern := range append(supportedKernels(), extraTestKernels()...) {
		type variant struct {
			name  string
			cols  int
			fn    func(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)
			valid bool
		}
		variants := []variant{{"tile", kern.nr, kern.tile, true}, {"half", kern.nr / 2, kern.half, kern.half != nil}}
		for _, v := range variants {
			if !v.valid {
				continue
			}
			for _, k := range []int{1, 2, 3, 4, 5, 8, 13, 64} {
				for _, layout := range []struct{ rsA, csA, csB int }{{1, kern.mr, kern.nr}, {k + 3, 1, kern.nr + 5}, {1, kern.mr + 2, kern.nr}} {
					for _, beta := range []float32{0, 0.5} {
						mr, nr := kern.mr, kern.nr
						a := randFloats((mr-1)*layout.rsA + (k-1)*layout.csA + 1)
						b := make([]float32, (k-1)*layout.csB+nr)
						for i := range b {
							b[i] = float32(rng.NormFloat64())
						}
						ldc := nr + 3
						c := make([]float32, mr*ldc)
						for i := range c {
							c[i] = float32(rng.NormFloat64())
							if beta == 0 && i%ldc < v.cols {
								c[i] = float32(math.NaN())
							}
						}
						c0 := append([]float32(nil), c...)
						v.fn(k, &a[0], layout.rsA, layout.csA, &b[0], layout.csB, &c[0], ldc, 1.5, beta)
						for i := 0; i < mr; i++ {
							for j := 0; j < ldc; j++ {
								got := c[i*ldc+j]
								if j >= v.cols {
									if math.Float32bits(got) != math.Float32bits(c0[i*ldc+j]) {
										t.Fatalf("%s %s k=%d: C[%d][%d] outside the tile changed", kern.name, v.name, k, i, j)
									}
									continue
								}
								var sum, mag float64
								for p := 0; p < k; p++ {
									x := float64(a[i*layout.rsA+p*layout.csA]) * float64(b[p*layout.csB+j])
									sum += x
									mag += math.Abs(x)
								}
								want := 1.5 * sum
								if beta != 0 {
									want += float64(beta) * float64(c0[i*ldc+j])
								}
								if math.Abs(float64(got)-want) > 1e-6*float64(k+2)*(1.5*mag+1) {
									t.Fatalf("%s %s k=%d layout %+v beta %g: C[%d][%d] = %g, want %g", kern.name, v.name, k, layout, beta, i, j, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestWithBlocking: VLBERT_GEMM_BLOCKING's parser accepts only blockings the driver
// can run, and an unusual one (blocks of a few tiles, a prime depth block) still
// gives correct products on every kernel.
func TestWithBlocking(t *testing.T) {
	for _, bad := range []string{"", "1,2", "a,b,c", "96,256,4096xyz", "96,256,4096,7", "7,256,3072", "0,256,3072", "-6,256,3072", "12,0,32", "12,256,33", "12,256,0"} {
		if _, err := withBlocking(generic, bad); err == nil {
			t.Errorf("blocking %q accepted", bad)
		}
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, k := range testKernels(t) {
		spec := fmt.Sprintf("%d,%d,%d", 2*k.mr, 37, 3*k.nr)
		b, err := withBlocking(k, spec)
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		if b.mc != 2*k.mr || b.kc != 37 || b.nc != 3*k.nr || k.kc == 37 {
			t.Fatalf("%s: blocking %d,%d,%d after %q (original changed: kc %d)", k.name, b.mc, b.kc, b.nc, spec, k.kc)
		}
		for _, tb := range []bool{false, true} {
			tc := newCase(rng, false, tb, 5*k.mr+1, 7*k.nr+3, 200, 1, 0.5, 2)
			tc.check(t, k.name+" "+spec, func(transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, bb []float32, ldb int, beta float32, c []float32, ldc int) {
				sgemm(b, 2, transA, transB, m, n, kk, alpha, a, lda, bb, ldb, beta, c, ldc)
			})
		}
	}
}
