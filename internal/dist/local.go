package dist

import (
	"fmt"
	"sync"
)

// LocalGroup returns n communicators whose ranks are goroutines of this process,
// for tests of data-parallel code without mpirun: run rank r's work on its own
// goroutine with comms[r]. Sums are taken in rank order, so every rank gets the same
// bits. A rank that calls a different collective, or the same one with another
// length, than rank 0 panics with both calls named: the bug mpirun would turn into a
// hang.
func LocalGroup(n int) []Comm {
	if n < 1 {
		panic("dist: LocalGroup needs at least one rank")
	}
	g := &localGroup{n: n, bufs: make([]any, n)}
	g.cond = sync.NewCond(&g.mu)
	comms := make([]Comm, n)
	for r := range comms {
		comms[r] = &localComm{g: g, rank: r}
	}
	return comms
}

type localGroup struct {
	n       int
	mu      sync.Mutex
	cond    *sync.Cond
	arrived int
	gen     uint64
	op      string // rank order's first caller's operation in this round
	bufs    []any
}

// barrier blocks until all n ranks have called it.
func (g *localGroup) barrier() {
	g.mu.Lock()
	defer g.mu.Unlock()
	gen := g.gen
	g.arrived++
	if g.arrived == g.n {
		g.arrived = 0
		g.gen++
		g.op = ""
		g.cond.Broadcast()
		return
	}
	for gen == g.gen {
		g.cond.Wait()
	}
}

type localComm struct {
	g      *localGroup
	rank   int
	closed bool
}

func (c *localComm) Rank() int { return c.rank }
func (c *localComm) Size() int { return c.g.n }

// collective runs one operation in three phases: publish the buffer, let each rank
// compute its result from everybody's buffers into private memory, and write it
// back only when all ranks have finished reading.
func (c *localComm) collective(op string, buf any, compute func(bufs []any) (write func())) error {
	if c.closed {
		return ErrClosed
	}
	g := c.g
	g.mu.Lock()
	if g.op == "" {
		g.op = op
	} else if g.op != op {
		first := g.op
		g.mu.Unlock()
		panic(fmt.Sprintf("dist: LocalGroup rank %d called %s while another rank called %s", c.rank, op, first))
	}
	g.bufs[c.rank] = buf
	g.mu.Unlock()
	g.barrier()
	write := compute(g.bufs)
	g.barrier()
	if write != nil {
		write()
	}
	return nil
}

func localSum[T float32 | float64](c *localComm, name string, x []T) error {
	op := fmt.Sprintf("%s of %d elements", name, len(x))
	return c.collective(op, x, func(bufs []any) func() {
		sum := make([]T, len(x))
		for _, b := range bufs {
			for i, v := range b.([]T) {
				sum[i] += v
			}
		}
		return func() { copy(x, sum) }
	})
}

func (c *localComm) AllReduceSumF32(x []float32) error {
	return localSum(c, "AllReduceSumF32", x)
}

func (c *localComm) AllReduceSumF64(x []float64) error {
	return localSum(c, "AllReduceSumF64", x)
}

// The mean divides before summing, as the MPI communicator does; x/n is x·(1/n) only
// for powers of two, so divide element by element.
func (c *localComm) AllReduceMeanF32(x []float32) error {
	for i := range x {
		x[i] /= float32(c.g.n)
	}
	return localSum(c, "AllReduceSumF32", x)
}

func (c *localComm) AllReduceMeanF64(x []float64) error {
	for i := range x {
		x[i] /= float64(c.g.n)
	}
	return localSum(c, "AllReduceSumF64", x)
}

func localBroadcast[T float32 | byte](c *localComm, name string, x []T) error {
	op := fmt.Sprintf("%s of %d elements", name, len(x))
	return c.collective(op, x, func(bufs []any) func() {
		if c.rank == 0 {
			return nil
		}
		src := append([]T(nil), bufs[0].([]T)...)
		return func() { copy(x, src) }
	})
}

func (c *localComm) BroadcastF32(x []float32) error { return localBroadcast(c, "BroadcastF32", x) }
func (c *localComm) BroadcastBytes(b []byte) error  { return localBroadcast(c, "BroadcastBytes", b) }
func (c *localComm) Barrier() error {
	return c.collective("Barrier", nil, func([]any) func() { return nil })
}

func (c *localComm) Close() error {
	if err := c.Barrier(); err != nil {
		return err
	}
	c.closed = true
	return nil
}
