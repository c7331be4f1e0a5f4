package data

import (
	"context"
	"math/rand/v2"
)

// LoadBatches prefetches collated batches: batch k of batches (which is batch
// firstBatch+k of epoch, as returned by Sampler.Remaining) is built on a worker
// by calling example for each index, in order, with one RNG from
// BatchRNG(seed, epoch, firstBatch+k), then collate. Batches come out in order;
// the caller closes the Prefetcher.
func LoadBatches[E, B any](ctx context.Context, batches [][]int, epoch, firstBatch int, seed uint64, workers, ahead int,
	example func(i int, rng *rand.Rand) (E, error), collate func([]E) (B, error)) *Prefetcher[B] {
	return Prefetch(ctx, len(batches), workers, ahead, func(ctx context.Context, k int) (B, error) {
		var zero B
		rng := BatchRNG(seed, epoch, firstBatch+k)
		exs := make([]E, 0, len(batches[k]))
		for _, i := range batches[k] {
			if err := ctx.Err(); err != nil {
				return zero, err
			}
			e, err := example(i, rng)
			if err != nil {
				return zero, err
			}
			exs = append(exs, e)
		}
		return collate(exs)
	})
}
