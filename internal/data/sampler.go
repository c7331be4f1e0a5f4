package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Sampler is the original's DistributedSampler followed by a BatchSampler or,
// with Groups, a GroupedBatchSampler (vqa/data/samplers/grouped_batch_sampler.py, GroupedBatchSampler, with ASPECT_GROUPING).
//
// Each epoch the N dataset indices are permuted with a PCG seeded by (Seed,
// epoch) — the same permutation on every rank —, padded by repeating the head
// to a multiple of World, and rank r takes the contiguous block
// [r·S, (r+1)·S) with S = ceil(N/World), as the copied torch sampler does. The
// block is cut into batches of BatchSize (the last may be short). The
// permutation cannot equal torch.randperm's; it is deterministic instead, also
// for World = 1 where the original used an unseeded RandomSampler.
//
// With Groups and World > 1 the ranks can end up with different batch counts
// (ceil per group), which would leave a rank waiting in a collective the
// others never join (the original's distributed loaders hang there). Batches
// then splits this rank's largest batches in two until it has as many as the
// rank with the most, so every rank runs the same number of steps and the
// shards still partition the epoch.
type Sampler struct {
	N           int    // dataset size
	Rank, World int    // this process and the number of processes (World ≥ 1)
	BatchSize   int    // per-rank batch (BATCH_IMAGES)
	Shuffle     bool   // TRAIN.SHUFFLE; false keeps dataset order (val/test)
	Seed        uint64 // mixed with the epoch
	// Groups, if not nil, holds a group id per dataset index (0: w ≥ h, 1: w < h)
	// and batches are formed within groups as GroupedBatchSampler.
	Groups []int
}

// AspectGroup is the original's group_aspect id of a w×h image: 0 when
// w ≥ h, 1 when taller than wide.
func AspectGroup(w, h int) int {
	if w >= h {
		return 0
	}
	return 1
}

// Position is where a loader stands: the epoch and the next batch in it.
type Position struct{ Epoch, Batch int }

func (s *Sampler) check() error {
	switch {
	case s.N < 0 || s.World < 1 || s.Rank < 0 || s.Rank >= s.World || s.BatchSize < 1:
		return fmt.Errorf("data: Sampler: bad sizes (N %d, rank %d of %d, batch %d)", s.N, s.Rank, s.World, s.BatchSize)
	case s.Groups != nil && len(s.Groups) != s.N:
		return fmt.Errorf("data: Sampler: %d group ids for %d samples", len(s.Groups), s.N)
	}
	return nil
}

// NumSamples is the number of indices per rank, ceil(N/World).
func (s *Sampler) NumSamples() int { return (s.N + s.World - 1) / s.World }

// Indices returns this rank's indices for epoch, in order.
func (s *Sampler) Indices(epoch int) ([]int, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	per := s.NumSamples()
	return s.order(epoch)[s.Rank*per : (s.Rank+1)*per], nil
}

// order is the epoch's permutation of all indices, padded to World·NumSamples.
func (s *Sampler) order(epoch int) []int {
	all := make([]int, s.N)
	for i := range all {
		all[i] = i
	}
	if s.Shuffle {
		rng := rand.New(rand.NewPCG(s.Seed, uint64(epoch)))
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	}
	total := s.NumSamples() * s.World
	// Pad by repetition; cycle when World > N (torch would fail its assert).
	for k := 0; len(all) < total && s.N > 0; k++ {
		all = append(all, all[k%s.N])
	}
	return all
}

// Batches returns this rank's batches for epoch. Without Groups they are
// consecutive chunks of Indices; with Groups each group's indices (in sampler
// order) are chunked separately and the batches are ordered by where their
// first index appears in the sampler order (then, with World > 1, split to
// the largest rank's count; see Sampler).
func (s *Sampler) Batches(epoch int) ([][]int, error) {
	idx, err := s.Indices(epoch)
	if err != nil {
		return nil, err
	}
	if s.Groups == nil {
		return chunk(idx, s.BatchSize), nil
	}
	batches := s.grouped(idx)
	if s.World == 1 {
		return batches, nil
	}
	return splitTo(batches, s.maxGroupedBatches(epoch), s.Rank, epoch)
}

// grouped is GroupedBatchSampler over the sampler order idx.
func (s *Sampler) grouped(idx []int) [][]int {
	// Position in sampler order of each sampled index. With padding an index can
	// appear twice; the later position wins, as torch's order[sampled] = arange.
	pos := map[int]int{}
	for p, i := range idx {
		pos[i] = p
	}
	groups := map[int][]int{}
	var ids []int
	for _, i := range idx {
		g := s.Groups[i]
		if _, ok := groups[g]; !ok {
			ids = append(ids, g)
		}
		groups[g] = append(groups[g], i)
	}
	slices.Sort(ids)
	var batches [][]int
	for _, g := range ids {
		// The grouped sampler keeps one copy of each index, ordered by position.
		members := dedupByPos(groups[g], pos)
		batches = append(batches, chunk(members, s.BatchSize)...)
	}
	slices.SortStableFunc(batches, func(a, b []int) int { return pos[a[0]] - pos[b[0]] })
	return batches
}

// maxGroupedBatches is the largest number of grouped batches any rank gets
// in epoch: Σ over groups of ceil(distinct members / BatchSize) per rank.
func (s *Sampler) maxGroupedBatches(epoch int) int {
	all, per := s.order(epoch), s.NumSamples()
	seen := make([]int, s.N) // rank+1 that last counted the index
	most := 0
	for r := range s.World {
		count := map[int]int{}
		for _, i := range all[r*per : (r+1)*per] {
			if seen[i] != r+1 {
				seen[i] = r + 1
				count[s.Groups[i]]++
			}
		}
		n := 0
		for _, c := range count {
			n += (c + s.BatchSize - 1) / s.BatchSize
		}
		most = max(most, n)
	}
	return most
}

// splitTo halves the largest batch (the first of equal ones; the first half
// gets the odd element) until there are want batches.
func splitTo(batches [][]int, want, rank, epoch int) ([][]int, error) {
	for len(batches) < want {
		k := 0
		for j, b := range batches {
			if len(b) > len(batches[k]) {
				k = j
			}
		}
		b := batches[k]
		if len(b) < 2 {
			return nil, fmt.Errorf("data: Sampler: rank %d has %d grouped batches of one sample in epoch %d, another rank %d; the ranks cannot take the same number of steps", rank, len(batches), epoch, want)
		}
		h := (len(b) + 1) / 2
		batches = slices.Insert(batches, k+1, b[h:])
		batches[k] = b[:h:h]
	}
	return batches, nil
}

func dedupByPos(members []int, pos map[int]int) []int {
	seen := map[int]bool{}
	var out []int
	for _, i := range members {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	slices.SortFunc(out, func(a, b int) int { return pos[a] - pos[b] })
	return out
}

func chunk(idx []int, size int) [][]int {
	var out [][]int
	for lo := 0; lo < len(idx); lo += size {
		out = append(out, idx[lo:min(lo+size, len(idx))])
	}
	return out
}

// NumBatches is the number of batches per epoch for this rank.
func (s *Sampler) NumBatches(epoch int) (int, error) {
	b, err := s.Batches(epoch)
	return len(b), err
}

// Remaining returns the batches of pos.Epoch from pos.Batch on: resuming at a
// position yields exactly the batches an uninterrupted run would still see.
func (s *Sampler) Remaining(pos Position) ([][]int, error) {
	b, err := s.Batches(pos.Epoch)
	if err != nil {
		return nil, err
	}
	if pos.Batch < 0 || pos.Batch > len(b) {
		return nil, fmt.Errorf("data: Sampler: position %d outside the %d batches of epoch %d", pos.Batch, len(b), pos.Epoch)
	}
	return b[pos.Batch:], nil
}

// AuxPosition maps the master loader's global batch counter to the text-only
// loader's position in multitask pretraining: the aux loader restarts when
// exhausted with epoch = global / auxBatches (MultiTaskDataLoader).
func AuxPosition(global, auxBatches int) Position {
	if auxBatches <= 0 {
		panic("data: AuxPosition: auxBatches must be positive")
	}
	return Position{Epoch: global / auxBatches, Batch: global % auxBatches}
}

// BatchRNG returns the RNG for the examples of one batch. It depends only on
// (seed, epoch, batch), so samples do not change with the worker count or on
// resume.
func BatchRNG(seed uint64, epoch, batch int) *rand.Rand {
	return rand.New(rand.NewPCG(seed^(uint64(epoch)*0x9E3779B97F4A7C15), uint64(batch)))
}
