package data

import (
	"context"
	"io"
	"sync"
)

// Prefetcher builds items 0..n-1 on worker goroutines and hands them out in
// order. At most `ahead` items are built or waiting beyond the one the consumer
// holds, so memory stays bounded. The first error (in item order) is returned by
// Next; Close cancels the remaining work and waits for every goroutine to exit.
//
// A Prefetcher has one consumer: Next and Close are called from one goroutine.
//
// Typical use: build(ctx, i) loads and collates batch i of Sampler.Remaining
// with BatchRNG, so results do not depend on the number of workers.
type Prefetcher[T any] struct {
	ctx     context.Context
	cancel  context.CancelFunc
	ordered chan chan result[T]
	wg      sync.WaitGroup
	err     error
}

type result[T any] struct {
	v   T
	err error
}

type job[T any] struct {
	i   int
	out chan result[T]
}

// Prefetch starts workers (≥ 1) building n items with at most ahead (≥ 1)
// queued results. build must honour ctx only for speed: results are discarded
// after Close either way.
func Prefetch[T any](ctx context.Context, n, workers, ahead int, build func(ctx context.Context, i int) (T, error)) *Prefetcher[T] {
	workers, ahead = max(workers, 1), max(ahead, 1)
	ctx, cancel := context.WithCancel(ctx)
	p := &Prefetcher[T]{ctx: ctx, cancel: cancel, ordered: make(chan chan result[T], ahead)}
	jobs := make(chan job[T])
	p.wg.Add(1 + workers)
	go func() { // producer: reserve an ordered slot, then hand the job to a worker
		defer p.wg.Done()
		defer close(jobs)
		defer close(p.ordered)
		for i := range n {
			out := make(chan result[T], 1)
			select {
			case p.ordered <- out:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job[T]{i, out}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		go func() {
			defer p.wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					j.out <- result[T]{err: ctx.Err()}
					continue
				}
				v, err := build(ctx, j.i)
				j.out <- result[T]{v, err} // buffered: never blocks
			}
		}()
	}
	return p
}

// Next returns the next item in order, io.EOF after the last, or the error of
// the failed item (and the same error on every later call).
func (p *Prefetcher[T]) Next() (T, error) {
	var zero T
	if p.err == nil && p.ctx.Err() != nil {
		p.err = p.ctx.Err()
	}
	if p.err != nil {
		return zero, p.err
	}
	var out chan result[T]
	var ok bool
	select {
	case out, ok = <-p.ordered:
	case <-p.ctx.Done():
		p.err = p.ctx.Err()
		return zero, p.err
	}
	if !ok {
		if err := p.ctx.Err(); err != nil {
			p.err = err // the producer stopped early because of cancellation
			return zero, err
		}
		return zero, io.EOF
	}
	select {
	case r := <-out:
		if r.err != nil {
			p.err = r.err
			p.cancel()
			return zero, r.err
		}
		return r.v, nil
	case <-p.ctx.Done():
		p.err = p.ctx.Err()
		return zero, p.err
	}
}

// Close stops the workers and waits for them. It is safe to call more than once.
func (p *Prefetcher[T]) Close() {
	p.cancel()
	p.wg.Wait() // the producer and workers all select on the cancelled context
}
