package gemm

import (
	"sync/atomic"
	"unsafe"

	"github.com/vlbert/vlbert/internal/parallel"
)

// kernel is one micro-kernel with the blocking it was tuned for.
//
// tile computes the mr x nr tile C = alpha*(Ap·Bp) + beta*C, where Ap is an
// mr x k panel of A with element [i][p] at a[i*rsA+p*csA] (packed: rsA = 1,
// csA = mr; or A in place, either layout), Bp a k x nr panel of B with element
// [p][j] at b[p*csB+j] (packed: csB = nr; or B in place) and C has row stride ldc.
// With beta == 0, C is not read. k >= 1.
type kernel struct {
	name      string
	mr, nr    int
	mc, kc    int // A block is mc x kc (mc a multiple of mr): stays in L2
	nc        int // B block is kc x nc (nc a multiple of nr): stays in L3
	supported func() bool
	tile      func(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)
	// tileBias, if not nil, is tile followed by C[i][j] += bias[j] before the store
	// (the last depth block of a product with a bias); otherwise the driver adds the
	// bias to the finished tile.
	tileBias func(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32, bias *float32)
	// tileN and tileNBias, if not nil, run tile (tileBias) on n >= 1 full tiles down
	// one column of C: tile t reads A at a+t*aStep and writes rows [t*mr, t*mr+mr).
	// One call per panel of a block instead of one per tile.
	tileN     func(n, k int, a *float32, rsA, csA, aStep int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)
	tileNBias func(n, k int, a *float32, rsA, csA, aStep int, b *float32, csB int, c *float32, ldc int, alpha, beta float32, bias *float32)
	// half, if not nil, is tile for the left mr x nr/2 half only (same arguments):
	// the last panel of C often has only a few columns.
	half func(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)
}

// packMode says when the driver packs panels of A and B; the micro-kernels can
// also read A, and B when not transposed, in place.
type packMode int

const (
	packAuto   packMode = iota // pack what is reused often enough to pay for it
	packAlways                 // tests: always pack
	packNever                  // tests: read in place except for edge panels and Bᵀ
)

// evenK splits the depth into equal blocks (false: kc-sized blocks and a remainder;
// benchmarks compare the two).
var evenK = true

// epilogueCols is the width of the column groups of C that the epilogue runs on.
const epilogueCols = 256

// packing is the packing policy; only tests change it.
var packing = packAuto

// unpackedN (unpackedM) is the number of columns (rows) of C below which A (B,
// when not transposed) is read in place: packing a panel costs about as much as a
// few micro-tiles of work, which only pays when the panel is reused many times.
const unpackedN, unpackedM = 256, 256

// parallelWork is the m*n*k below which a product runs on the calling goroutine:
// starting workers costs a few microseconds, as much as such a product.
const parallelWork = 64 * 64 * 64

// maxTile bounds mr*nr over all kernels (the edge-tile scratch).
const maxTile = 12 * 32

// smallWork is the m*n*k under which a product skips packing: a direct loop is
// faster than packing when there is almost nothing to amortize it over.
const smallWork = 8 * 8 * 8

// workspace holds one worker's packed A block and edge-tile scratch.
type workspace struct {
	a    []float32
	tile [maxTile]float32
}

var (
	workspaces parallel.FreeList[workspace]
	bBuffers   parallel.FreeList[[]float32] // packed B blocks
)

func getWorkspace(size int) *workspace {
	w := workspaces.Get()
	w.ensure(size)
	return w
}

// ensure makes w.a hold size elements, reusing its storage when it can.
func (w *workspace) ensure(size int) {
	if cap(w.a) < size {
		w.a = make([]float32, size)
	}
	w.a = w.a[:size]
}

func getBBuffer(size int) *[]float32 {
	p := bBuffers.Get()
	if cap(*p) < size {
		*p = make([]float32, size)
	}
	*p = (*p)[:size]
	return p
}

// sgemm runs one checked product on up to threads workers.
func sgemm(kern *kernel, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmBias(kern, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// sgemmBias is sgemm followed by C[i][j] += bias[j] (bias nil: none). The bias is
// added to each finished panel of C while it is still in L1, in the same order of
// operations as a separate pass after the product.
func sgemmBias(kern *kernel, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		addBias(c, ldc, 0, m, 0, n, bias)
		return
	}
	if m*n*k <= smallWork {
		smallGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		addBias(c, ldc, 0, m, 0, n, bias)
		return
	}
	packed(kern, threads, nil, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
}

// addBias adds bias[j] to C[i][j] for rows [i0, i1), columns [j0, j1) (bias nil: nothing).
func addBias(c []float32, ldc, i0, i1, j0, j1 int, bias []float32) {
	if bias == nil || i0 >= i1 || j0 >= j1 {
		return
	}
	bv := bias[j0:j1]
	for i := i0; i < i1; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		for j, v := range bv {
			row[j] += v
		}
	}
}

// sgemmStrided runs a checked batch. Whole products go to workers when the batch
// can keep them busy; otherwise each product is itself parallel.
func sgemmStrided(kern *kernel, threads int, transA, transB bool, batch, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int) {
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	fpA, fpB, fpC := footprint(m, k, lda), footprint(k, n, ldb), footprint(m, n, ldc)
	if transA {
		fpA = footprint(k, m, lda)
	}
	if transB {
		fpB = footprint(n, k, ldb)
	}
	st := strided{kern: kern, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, strideA: strideA, b: b, ldb: ldb, strideB: strideB, c: c, ldc: ldc, strideC: strideC,
		fpA: fpA, fpB: fpB, fpC: fpC}
	if threads <= 1 || batch < threads {
		var ws *workspace
		if threads <= 1 {
			ws = getWorkspace(0)
			defer workspaces.Put(ws)
		}
		for i := 0; i < batch; i++ {
			st.one(i, threads, ws)
		}
		return
	}
	p := pars.Get()
	p.st = st
	p.chunks(threads, batch, 1, modeBatch, 0)
	p.st = strided{}
	pars.Put(p)
}

// strided is one checked batch of products.
type strided struct {
	kern                      *kernel
	transA, transB            bool
	m, n, k                   int
	alpha, beta               float32
	a, b, c                   []float32
	lda, ldb, ldc             int
	strideA, strideB, strideC int
	fpA, fpB, fpC             int // footprints of one matrix of a, b, c
}

// sub is matrix i of x; empty matrices (k == 0) may start past the end of x.
func sub(x []float32, i, stride, fp int) []float32 {
	if fp == 0 {
		return nil
	}
	return x[i*stride : i*stride+fp]
}

// one runs product i of the batch on up to threads workers.
func (s *strided) one(i, threads int, ws *workspace) {
	ai, bi, ci := sub(s.a, i, s.strideA, s.fpA), sub(s.b, i, s.strideB, s.fpB), sub(s.c, i, s.strideC, s.fpC)
	m, n, k := s.m, s.n, s.k
	switch {
	case k == 0 || s.alpha == 0:
		scaleC(m, n, s.beta, ci, s.ldc)
	case m*n*k <= smallWork:
		smallGemm(s.transA, s.transB, m, n, k, s.alpha, ai, s.lda, bi, s.ldb, s.beta, ci, s.ldc)
	default:
		packed(s.kern, threads, ws, s.transA, s.transB, m, n, k, s.alpha, ai, s.lda, bi, s.ldb, s.beta, ci, s.ldc, nil)
	}
}

// scaleC sets C = beta*C (C = 0 when beta == 0, whatever C held).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// smallGemm is the direct loop for products too small to pack.
func smallGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sum float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				sum += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * sum
			} else {
				c[i*ldc+j] = alpha*sum + beta*c[i*ldc+j]
			}
		}
	}
}

// packed is the blocked product: for each kc x nc block of op(B), packed once and
// shared, workers pack their own mc x kc blocks of op(A) (or read A in place) and
// run the micro-kernel over the tiles of C they own. Workers own whole mr-row tiles
// (or whole nr-column panels when C has too few rows), so every C element sees the
// same operations whatever the number of workers. ws, if not nil, is a workspace
// the caller owns (used when threads == 1).
// bias, if not nil, is added to every row of C after the last depth block.
func packed(kern *kernel, threads int, ws *workspace, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
	packedEx(kern, threads, ws, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, nil, nil)
}

// packedEx is packed with an optional B packer (bp: op(B) comes from bp, b is
// unused) and epilogue (ep, applied to each panel of C after its last depth
// block; not combined with bias).
func packedEx(kern *kernel, threads int, ws *workspace, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32, bp BPacker, ep *Epilogue) {
	if m*n*k < parallelWork {
		threads = 1
	}
	j := job{kern: kern, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, bias: bias, bsrc: bp, ep: ep}
	mr, nr := kern.mr, kern.nr
	// Equal depth blocks: k = 800 as 4 x 200 rather than 3 x 256 + 32, whose last
	// pass over C would do little work for its loads and stores.
	kcMax := ceilDiv(k, ceilDiv(k, kern.kc))
	if !evenK {
		kcMax = min(kern.kc, k)
	}
	ncMax := min(kern.nc, roundUp(n, nr))
	j.mcMax = min(kern.mc, roundUp(m, mr))
	j.packA = packing == packAlways || (packing == packAuto && n >= unpackedN)
	j.packB = bp != nil || transB || packing == packAlways || (packing == packAuto && m >= unpackedM)
	bbuf := getBBuffer(kcMax * ncMax)
	j.bp = *bbuf
	mTiles := ceilDiv(m, mr)
	w := ws // the serial path's workspace
	var p *par
	if threads <= 1 {
		if w == nil {
			w = getWorkspace(j.mcMax * kcMax)
		} else {
			w.ensure(j.mcMax * kcMax)
		}
	} else {
		// Workers share one pooled heap copy, updated between blocks, so that j
		// itself stays on the stack in the serial path.
		p = pars.Get()
		p.mTiles = mTiles
	}
	for jc := 0; jc < n; jc += ncMax {
		j.jc, j.nc = jc, min(ncMax, n-jc)
		j.nPanels = ceilDiv(j.nc, nr)
		for pc := 0; pc < k; pc += kcMax {
			j.pc, j.kc = pc, min(kcMax, k-pc)
			j.betaBlock = beta
			if pc > 0 {
				j.betaBlock = 1
			}
			if threads <= 1 {
				j.packPanels(0, j.nPanels)
				j.block(w, 0, mTiles, 0, j.nPanels)
				continue
			}
			p.j = j
			size := j.mcMax * j.kc
			p.chunks(threads, j.nPanels, ceilDiv(j.nPanels, 4*threads), modePack, 0)
			if mTiles >= 2*threads || mTiles >= j.nPanels {
				p.chunks(threads, mTiles, min(j.mcMax/mr, ceilDiv(mTiles, 4*threads)), modeRows, size)
			} else {
				p.chunks(threads, j.nPanels, ceilDiv(j.nPanels, 4*threads), modeCols, size)
			}
		}
	}
	if p != nil {
		p.j = job{} // drop the operands' references before pooling
		pars.Put(p)
	}
	bBuffers.Put(bbuf)
	if threads <= 1 && ws == nil {
		workspaces.Put(w)
	}
}

// par is what the workers of one parallel call share. It lives on the heap
// (a worker must never hold a pointer into a goroutine stack, which can move) and
// is pooled, so that a parallel product allocates nothing in the steady state.
type par struct {
	j       job     // modePack, modeRows, modeCols: the current block
	mTiles  int     // mr-row tiles of C (modeCols)
	st      strided // modeBatch: the batch
	mode    int
	n, per  int // chunks of per indices over [0, n)
	nChunks int
	wsSize  int
	next    atomic.Int64 // the next chunk to take
}

// What a chunk [lo, hi) of a par runs.
const (
	modePack  = iota // pack panels [lo, hi) of the current block of op(B)
	modeRows         // the micro-kernel over tiles [lo, hi), all panels
	modeCols         // the micro-kernel over panels [lo, hi), all tiles
	modeBatch        // products [lo, hi) of a strided batch, one worker each
)

var pars parallel.FreeList[par]

// chunks runs mode over [0, n) in chunks of per indices on threads workers that
// take the next chunk as they finish one, so that a worker slowed down by other
// processes holds the others up less. Results do not depend on which worker runs a
// chunk. Each worker has a workspace with at least wsSize elements.
func (p *par) chunks(threads, n, per, mode, wsSize int) {
	p.per = max(per, 1)
	p.n, p.mode, p.wsSize = n, mode, wsSize
	p.nChunks = ceilDiv(n, p.per)
	p.next.Store(0)
	threads = min(threads, p.nChunks)
	// One ForArgs index per worker; a worker runs chunks until none is left (a
	// worker that finds every pool goroutine busy runs inline and still drains
	// the queue, so nesting cannot deadlock).
	parallel.ForArgs(threads, 1, p, func(pp **par, lo, hi int) { (*pp).work() })
}

// work runs chunks until none is left.
func (p *par) work() {
	ws := getWorkspace(p.wsSize)
	for {
		c := int(p.next.Add(1)) - 1
		if c >= p.nChunks {
			break
		}
		lo, hi := c*p.per, min((c+1)*p.per, p.n)
		switch p.mode {
		case modePack:
			p.j.packPanels(lo, hi)
		case modeRows:
			p.j.block(ws, lo, hi, 0, p.j.nPanels)
		case modeCols:
			p.j.block(ws, 0, p.mTiles, lo, hi)
		case modeBatch:
			for i := lo; i < hi; i++ {
				p.st.one(i, 1, ws)
			}
		}
	}
	workspaces.Put(ws)
}

// job is one product in the blocked loop, positioned at one kc x nc block of op(B).
type job struct {
	kern           *kernel
	transA, transB bool
	m, n, k        int
	alpha          float32
	a, b, c        []float32
	bias           []float32 // added to C after the last depth block (nil: none)
	bsrc           BPacker   // packs op(B) when not nil (b unused)
	ep             *Epilogue // applied to C after the last depth block (nil: none)
	lda, ldb, ldc  int
	packA          bool      // pack A, or read it in place
	packB          bool      // pack B, or read it in place (not transposed only)
	mcMax          int       // rows of A per packed block
	bp             []float32 // packed kc x nc block of op(B)
	jc, nc, pc, kc int       // current block: columns [jc, jc+nc), depth [pc, pc+kc)
	nPanels        int       // nr-column panels in the current block
	betaBlock      float32   // beta for the first depth block, then 1
}

// packPanels packs the nr-column panels [lo, hi) of the current block of op(B)
// (only the partial last panel when B is read in place).
func (j *job) packPanels(lo, hi int) {
	nr, kc := j.kern.nr, j.kc
	for jp := lo; jp < hi; jp++ {
		j0 := jp * nr
		if j.bsrc != nil {
			j.bsrc.PackB(j.bp[jp*nr*kc:(jp+1)*nr*kc], j.pc, kc, j.jc+j0, min(nr, j.nc-j0), nr)
			continue
		}
		if !j.packB && j0+nr <= j.nc {
			continue
		}
		packPanelB(j.bp[jp*nr*kc:(jp+1)*nr*kc], j.transB, j.b, j.ldb, j.pc, kc, j.jc+j0, min(nr, j.nc-j0), nr)
	}
}

// block runs the micro-kernel over tiles [ti0, ti1) x panels [pj0, pj1) of the
// current block, packing A in mcMax-row blocks into ws.
func (j *job) block(ws *workspace, ti0, ti1, pj0, pj1 int) {
	kern, mr, nr, kc, pc := j.kern, j.kern.mr, j.kern.nr, j.kc, j.pc
	a, lda, c, ldc, m, n := j.a, j.lda, j.c, j.ldc, j.m, j.n
	mcTiles := j.mcMax / mr
	// The bias goes into each tile as it is stored for the last time (adding it in
	// a later pass over a panel of C costs a TLB miss per row).
	lastBias := j.bias != nil && pc+kc == j.k
	lastEp := j.ep != nil && pc+kc == j.k
	if lastBias {
		_ = j.bias[j.jc+j.nc-1]
	}
	for ic := ti0; ic < ti1; ic += mcTiles {
		ie := min(ic+mcTiles, ti1)
		ap := ws.a[:(ie-ic)*mr*kc]
		if j.packA && j.transA {
			// Aᵀ is read row by row for the whole block: one pass over its cache lines.
			full := min(ie, m/mr) - ic
			if full > 0 {
				packBlockAT(ap, a, lda, ic*mr, full, pc, kc, mr)
			}
			for it := ic + max(full, 0); it < ie; it++ {
				i0 := it * mr
				packPanelA(ap[(it-ic)*mr*kc:(it-ic+1)*mr*kc], true, a, lda, i0, min(mr, m-i0), pc, kc, mr)
			}
		}
		for it := ic; it < ie && !(j.packA && j.transA); it++ {
			i0 := it * mr
			if mh := min(mr, m-i0); j.packA || mh < mr {
				packPanelA(ap[(it-ic)*mr*kc:(it-ic+1)*mr*kc], j.transA, a, lda, i0, mh, pc, kc, mr)
			}
		}
		for jp := pj0; jp < pj1; jp++ {
			j0 := j.jc + jp*nr
			nw := min(nr, n-j0)
			bpanel, csB := &j.bp[jp*nr*kc], nr
			if !j.packB && nw == nr {
				bpanel, csB = &j.b[j.pc*j.ldb+j0], j.ldb
			}
			it0 := ic
			if full := min(ie, m/mr) - ic; full > 0 && nw == nr && kern.tileN != nil && (!lastBias || kern.tileNBias != nil) {
				// All full tiles of this panel in one call.
				i0 := ic * mr
				apanel, rsA, csA, aStep := &ap[0], 1, mr, mr*kc
				if !j.packA {
					if j.transA {
						apanel, rsA, csA, aStep = &a[pc*lda+i0], 1, lda, mr
					} else {
						apanel, rsA, csA, aStep = &a[i0*lda+pc], lda, 1, mr*lda
					}
				}
				if lastBias {
					kern.tileNBias(full, kc, apanel, rsA, csA, aStep, bpanel, csB, &c[i0*ldc+j0], ldc, j.alpha, j.betaBlock, &j.bias[j0])
				} else {
					kern.tileN(full, kc, apanel, rsA, csA, aStep, bpanel, csB, &c[i0*ldc+j0], ldc, j.alpha, j.betaBlock)
				}
				it0 = ic + full
			}
			for it := it0; it < ie; it++ {
				i0 := it * mr
				mh := min(mr, m-i0)
				apanel, rsA, csA := &ap[(it-ic)*mr*kc], 1, mr
				if !j.packA && mh == mr {
					if j.transA {
						apanel, rsA, csA = &a[pc*lda+i0], 1, lda
					} else {
						apanel, rsA, csA = &a[i0*lda+pc], lda, 1
					}
				}
				if mh == mr && nw == nr {
					switch {
					case !lastBias:
						kern.tile(kc, apanel, rsA, csA, bpanel, csB, &c[i0*ldc+j0], ldc, j.alpha, j.betaBlock)
					case kern.tileBias != nil:
						kern.tileBias(kc, apanel, rsA, csA, bpanel, csB, &c[i0*ldc+j0], ldc, j.alpha, j.betaBlock, &j.bias[j0])
					default:
						kern.tile(kc, apanel, rsA, csA, bpanel, csB, &c[i0*ldc+j0], ldc, j.alpha, j.betaBlock)
						addBias(c, ldc, i0, i0+mh, j0, j0+nw, j.bias)
					}
					continue
				}
				if kern.half != nil && nw <= nr/2 {
					kern.half(kc, apanel, rsA, csA, bpanel, csB, &ws.tile[0], nr, j.alpha, 0)
				} else {
					kern.tile(kc, apanel, rsA, csA, bpanel, csB, &ws.tile[0], nr, j.alpha, 0)
				}
				mergeTile(c[i0*ldc+j0:], ldc, ws.tile[:], nr, mh, nw, j.betaBlock)
				if lastBias {
					addBias(c, ldc, i0, i0+mh, j0, j0+nw, j.bias)
				}
			}
			// The epilogue runs on groups of panels (rows of epilogueCols
			// floats): per-row overheads and a TLB miss per row of C are paid
			// once per group instead of once per panel, and the group is still
			// in L2.
			if lastEp && ((jp-pj0+1)%max(epilogueCols/nr, 1) == 0 || jp == pj1-1) {
				g0 := j.jc + (pj0+(jp-pj0)/max(epilogueCols/nr, 1)*max(epilogueCols/nr, 1))*nr
				j.ep.apply(c, ldc, ic*mr, min(ie*mr, m), g0, j0+nw)
			}
		}
	}
}

// mergeTile writes the mh x nw corner of an edge tile t (row stride ldt, already
// scaled by alpha) into C: C = t + beta*C, or C = t when beta == 0.
func mergeTile(c []float32, ldc int, t []float32, ldt, mh, nw int, beta float32) {
	for i := 0; i < mh; i++ {
		crow := c[i*ldc : i*ldc+nw]
		trow := t[i*ldt : i*ldt+nw]
		if beta == 0 {
			copy(crow, trow)
			continue
		}
		for j, v := range trow {
			crow[j] = v + beta*crow[j]
		}
	}
}

// packPanelA packs rows [i0, i0+mh) x columns [p0, p0+kc) of op(A) into dst as a
// kc x mr panel (element [p][i] at dst[p*mr+i]); rows mh..mr-1 are zero.
func packPanelA(dst []float32, transA bool, a []float32, lda, i0, mh, p0, kc, mr int) {
	dst = dst[:kc*mr]
	if transA {
		// op(A)[i][p] = a[p*lda+i]: each p is a contiguous run of mh values, too
		// short to be worth a memmove call when the panel is full.
		if mh == mr {
			for p := 0; p < kc; p++ {
				d := dst[p*mr : p*mr+mr : p*mr+mr]
				src := a[(p0+p)*lda+i0 : (p0+p)*lda+i0+mr : (p0+p)*lda+i0+mr]
				for i, v := range src {
					d[i] = v
				}
			}
			return
		}
		for p := 0; p < kc; p++ {
			d := dst[p*mr : p*mr+mr]
			src := a[(p0+p)*lda+i0 : (p0+p)*lda+i0+mh]
			copy(d, src)
			clear(d[mh:])
		}
		return
	}
	if mh == 6 && mr == 6 && hasPack && kc > 0 {
		_ = a[(i0+5)*lda+p0+kc-1] // bounds for the assembly
		packA6(&dst[0], &a[i0*lda+p0], lda, kc)
		return
	}
	if mh == 6 && mr == 6 {
		// The AVX2 kernel's shape: six row streams, contiguous writes.
		r0 := a[(i0+0)*lda+p0 : (i0+0)*lda+p0+kc]
		r1 := a[(i0+1)*lda+p0 : (i0+1)*lda+p0+kc]
		r2 := a[(i0+2)*lda+p0 : (i0+2)*lda+p0+kc]
		r3 := a[(i0+3)*lda+p0 : (i0+3)*lda+p0+kc]
		r4 := a[(i0+4)*lda+p0 : (i0+4)*lda+p0+kc]
		r5 := a[(i0+5)*lda+p0 : (i0+5)*lda+p0+kc]
		for p := range r0 {
			d := dst[p*6 : p*6+6 : p*6+6]
			d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
		}
		return
	}
	if mh < mr {
		clear(dst)
	}
	for i := 0; i < mh; i++ {
		src := a[(i0+i)*lda+p0 : (i0+i)*lda+p0+kc]
		for p, v := range src {
			dst[p*mr+i] = v
		}
	}
}

// packBlockAT packs panels full panels of op(A) = Aᵀ, rows [i0, i0+panels*mr) x
// columns [p0, p0+kc), into consecutive kc x mr panels of dst, reading each row of
// the stored A once.
func packBlockAT(dst []float32, a []float32, lda, i0, panels, p0, kc, mr int) {
	rows := panels * mr
	if mr == 6 && hasPack && kc > 0 {
		_ = dst[panels*mr*kc-1]
		_ = a[(p0+kc-1)*lda+i0+rows-1] // bounds for the assembly
		packAT6(&dst[0], &a[p0*lda+i0], lda, panels, kc)
		return
	}
	for p := 0; p < kc; p++ {
		src := a[(p0+p)*lda+i0 : (p0+p)*lda+i0+rows]
		for t := 0; t < panels; t++ {
			d := dst[t*mr*kc+p*mr : t*mr*kc+p*mr+mr : t*mr*kc+p*mr+mr]
			s := src[t*mr : t*mr+mr : t*mr+mr]
			for i, v := range s {
				d[i] = v
			}
		}
	}
}

// packPanelB packs rows [p0, p0+kc) x columns [j0, j0+nw) of op(B) into dst as a
// kc x nr panel (element [p][j] at dst[p*nr+j]); columns nw..nr-1 are zero.
func packPanelB(dst []float32, transB bool, b []float32, ldb, p0, kc, j0, nw, nr int) {
	dst = dst[:kc*nr]
	if !transB {
		if nw == 16 && nr == 16 && hasPack && kc > 0 {
			_ = b[(p0+kc-1)*ldb+j0+15] // bounds for the assembly
			packB16(&dst[0], &b[p0*ldb+j0], ldb, kc)
			return
		}
		for p := 0; p < kc; p++ {
			d := dst[p*nr : p*nr+nr]
			copy(d, b[(p0+p)*ldb+j0:(p0+p)*ldb+j0+nw])
			clear(d[nw:])
		}
		return
	}
	// op(B)[p][j] = b[j*ldb+p]: read four rows of b at a time, write groups of four.
	if nw < nr {
		clear(dst)
	}
	j := 0
	if blocks := kc / 8; hasTranspose && blocks > 0 {
		// 8x8 register transposes for the bulk, scalar loops for the remainders.
		for ; j+8 <= nw; j += 8 {
			transposeStrip(&b[(j0+j)*ldb+p0], ldb, &dst[j], nr, blocks)
			for p := blocks * 8; p < kc; p++ {
				for jj := j; jj < j+8; jj++ {
					dst[p*nr+jj] = b[(j0+jj)*ldb+p0+p]
				}
			}
		}
	}
	for ; j+4 <= nw; j += 4 {
		r0 := b[(j0+j+0)*ldb+p0 : (j0+j+0)*ldb+p0+kc]
		r1 := b[(j0+j+1)*ldb+p0 : (j0+j+1)*ldb+p0+kc]
		r2 := b[(j0+j+2)*ldb+p0 : (j0+j+2)*ldb+p0+kc]
		r3 := b[(j0+j+3)*ldb+p0 : (j0+j+3)*ldb+p0+kc]
		for p := range r0 {
			d := dst[p*nr+j : p*nr+j+4 : p*nr+j+4]
			d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
		}
	}
	for ; j < nw; j++ {
		src := b[(j0+j)*ldb+p0 : (j0+j)*ldb+p0+kc]
		for p, v := range src {
			dst[p*nr+j] = v
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// floats views n float32s at p (the micro-kernels' pointer arguments).
func floats(p *float32, n int) []float32 { return unsafe.Slice(p, n) }
