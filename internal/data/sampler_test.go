package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestSamplerSharding(t *testing.T) {
	for _, c := range []struct{ n, world int }{{10, 3}, {7, 2}, {12, 4}, {5, 1}, {3, 5}} {
		var union []int
		per := (c.n + c.world - 1) / c.world
		var full []int
		for r := range c.world {
			s := &Sampler{N: c.n, Rank: r, World: c.world, BatchSize: 2, Shuffle: true, Seed: 1}
			idx, err := s.Indices(3)
			if err != nil {
				t.Fatal(err)
			}
			if len(idx) != per || s.NumSamples() != per {
				t.Fatalf("n %d world %d rank %d: %d indices, want %d", c.n, c.world, r, len(idx), per)
			}
			union = append(union, idx...)
			full = append(full, idx...)
		}
		// Every index is sampled; the padding repeats the head of the permutation.
		seen := map[int]bool{}
		for _, i := range union {
			seen[i] = true
		}
		if len(seen) != c.n {
			t.Errorf("n %d world %d: %d distinct indices", c.n, c.world, len(seen))
		}
		for k := c.n; k < len(full); k++ {
			if full[k] != full[(k-c.n)%c.n] {
				t.Errorf("n %d world %d: padding at %d is %d, want %d", c.n, c.world, k, full[k], full[(k-c.n)%c.n])
			}
		}
	}
}

func TestSamplerDeterminism(t *testing.T) {
	s := &Sampler{N: 50, World: 1, BatchSize: 8, Shuffle: true, Seed: 7}
	a, _ := s.Indices(2)
	b, _ := s.Indices(2)
	c, _ := s.Indices(3)
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Error("same epoch must give the same order, another epoch another")
	}
	sorted := slices.Sorted(slices.Values(a))
	for i, v := range sorted {
		if v != i {
			t.Fatal("not a permutation")
		}
	}
	s.Shuffle = false
	if idx, _ := s.Indices(9); idx[0] != 0 || idx[49] != 49 {
		t.Error("no shuffle keeps dataset order")
	}
	bad := &Sampler{N: 5, Rank: 2, World: 2, BatchSize: 1}
	if _, err := bad.Indices(0); err == nil {
		t.Error("rank ≥ world accepted")
	}
}

func TestSamplerBatchesAndResume(t *testing.T) {
	s := &Sampler{N: 23, Rank: 1, World: 2, BatchSize: 5, Shuffle: true, Seed: 3}
	idx, _ := s.Indices(4)
	b, _ := s.Batches(4)
	if len(b) != 3 || len(b[2]) != 2 || !slices.Equal(slices.Concat(b...), idx) {
		t.Fatalf("batches %v of %v", b, idx)
	}
	for k := 0; k <= len(b); k++ {
		rest, err := s.Remaining(Position{Epoch: 4, Batch: k})
		if err != nil || !slices.EqualFunc(rest, b[k:], slices.Equal) {
			t.Errorf("resume at %d: %v %v", k, rest, err)
		}
	}
	if _, err := s.Remaining(Position{Epoch: 4, Batch: 4}); err == nil {
		t.Error("position past the end accepted")
	}
}

func TestGroupedBatches(t *testing.T) {
	// Sampler order without shuffle: 0..9; groups alternate in runs.
	groups := []int{0, 0, 1, 0, 1, 1, 1, 0, 0, 1}
	s := &Sampler{N: 10, World: 1, BatchSize: 2, Groups: groups}
	b, err := s.Batches(0)
	if err != nil {
		t.Fatal(err)
	}
	// group 0: 0 1 | 3 7 | 8 ; group 1: 2 4 | 5 6 | 9 ; ordered by first element.
	want := [][]int{{0, 1}, {2, 4}, {3, 7}, {5, 6}, {8}, {9}}
	if !slices.EqualFunc(b, want, slices.Equal) {
		t.Errorf("grouped batches %v, want %v", b, want)
	}
	// Shuffled and sharded: each batch is one group and every sampled index
	// appears once.
	groups = make([]int, 101)
	for i := range groups {
		groups[i] = i % 3 % 2
	}
	for r := range 2 {
		s := &Sampler{N: 101, Rank: r, World: 2, BatchSize: 4, Shuffle: true, Seed: 11, Groups: groups}
		b, _ := s.Batches(1)
		idx, _ := s.Indices(1)
		var got []int
		for _, batch := range b {
			for _, i := range batch {
				if groups[i] != groups[batch[0]] {
					t.Fatalf("mixed batch %v", batch)
				}
			}
			got = append(got, batch...)
		}
		slices.Sort(got)
		want := slices.Compact(slices.Sorted(slices.Values(idx)))
		if !slices.Equal(got, want) {
			t.Errorf("rank %d: grouped batches cover %d indices, sampler %d", r, len(got), len(want))
		}
	}
}

func TestAuxPositionAndBatchRNG(t *testing.T) {
	if p := AuxPosition(17, 5); p != (Position{3, 2}) {
		t.Errorf("AuxPosition = %v", p)
	}
	a := BatchRNG(1, 2, 3).Uint64()
	if a != BatchRNG(1, 2, 3).Uint64() || a == BatchRNG(1, 3, 3).Uint64() || a == BatchRNG(1, 2, 4).Uint64() {
		t.Error("BatchRNG must depend on exactly (seed, epoch, batch)")
	}
}

func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	for range 200 {
		if runtime.NumGoroutine() <= base {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("goroutine leak: %d running, %d before", runtime.NumGoroutine(), base)
}

func TestPrefetchOrder(t *testing.T) {
	base := runtime.NumGoroutine()
	var maxAhead atomic.Int32
	consumed := atomic.Int32{}
	p := Prefetch(context.Background(), 50, 4, 3, func(ctx context.Context, i int) (int, error) {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		ahead := int32(i) - consumed.Load()
		for {
			m := maxAhead.Load()
			if ahead <= m || maxAhead.CompareAndSwap(m, ahead) {
				break
			}
		}
		return i * i, nil
	})
	for i := range 50 {
		v, err := p.Next()
		if err != nil || v != i*i {
			t.Fatalf("item %d = %d, %v", i, v, err)
		}
		consumed.Add(1)
	}
	if _, err := p.Next(); err != io.EOF {
		t.Errorf("after the last item: %v", err)
	}
	p.Close()
	p.Close()
	// The producer reserves a slot in a channel of capacity 3 before starting a
	// job, so a job is at most 3 (+1 being received) ahead of the consumer.
	if m := maxAhead.Load(); m > 4 {
		t.Errorf("a job ran %d items ahead of the consumer, bound is 4", m)
	}
	waitGoroutines(t, base)
}

func TestPrefetchError(t *testing.T) {
	base := runtime.NumGoroutine()
	boom := errors.New("boom")
	p := Prefetch(context.Background(), 100, 3, 4, func(ctx context.Context, i int) (string, error) {
		if i == 5 {
			return "", fmt.Errorf("batch %d: %w", i, boom)
		}
		return fmt.Sprint(i), nil
	})
	for i := range 5 {
		if v, err := p.Next(); err != nil || v != fmt.Sprint(i) {
			t.Fatalf("item %d: %q %v", i, v, err)
		}
	}
	if _, err := p.Next(); !errors.Is(err, boom) {
		t.Errorf("error not propagated in order: %v", err)
	}
	if _, err := p.Next(); !errors.Is(err, boom) {
		t.Errorf("error not sticky: %v", err)
	}
	p.Close()
	waitGoroutines(t, base)
}

func TestPrefetchCancel(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	p := Prefetch(ctx, 1000, 2, 2, func(ctx context.Context, i int) (int, error) {
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
		}
		return i, nil
	})
	if v, err := p.Next(); err != nil || v != 0 {
		t.Fatal(v, err)
	}
	cancel()
	if _, err := p.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
	p.Close()
	waitGoroutines(t, base)

	// Close without consuming anything also stops everything.
	p = Prefetch(context.Background(), 1000, 3, 5, func(ctx context.Context, i int) (int, error) { return i, nil })
	p.Close()
	waitGoroutines(t, base)
}

// TestGroupedBatchesRanks: with aspect grouping under 2 ranks every batch is
// one group, the ranks' batches partition the epoch (N divisible by World: no
// padding), and both ranks take the same number of steps, in every epoch.
func TestGroupedBatchesRanks(t *testing.T) {
	const n, world, bs = 40, 2, 4
	groups := make([]int, n)
	for i := range groups {
		groups[i] = AspectGroup(10+i%7, 13) // 0 for w ≥ h
	}
	uneven := false
	for epoch := range 12 {
		var union []int
		var counts [world]int
		for r := range world {
			s := &Sampler{N: n, Rank: r, World: world, BatchSize: bs, Shuffle: true, Seed: 5, Groups: groups}
			b, err := s.Batches(epoch)
			if err != nil {
				t.Fatal(err)
			}
			unsplit := s.grouped(mustIndices(t, s, epoch))
			uneven = uneven || len(unsplit) != len(b)
			for _, batch := range b {
				if len(batch) == 0 || len(batch) > bs {
					t.Fatalf("epoch %d rank %d: batch %v", epoch, r, batch)
				}
				for _, i := range batch {
					if groups[i] != groups[batch[0]] {
						t.Fatalf("epoch %d rank %d: mixed batch %v", epoch, r, batch)
					}
				}
				union = append(union, batch...)
			}
			counts[r] = len(b)
			if nb, _ := s.NumBatches(epoch); nb != len(b) {
				t.Fatalf("NumBatches %d, Batches %d", nb, len(b))
			}
		}
		if counts[0] != counts[1] {
			t.Errorf("epoch %d: ranks take %v steps", epoch, counts)
		}
		slices.Sort(union)
		for i, v := range union {
			if v != i {
				t.Fatalf("epoch %d: the ranks' batches do not partition 0..%d: %v", epoch, n-1, union)
			}
		}
	}
	if !uneven {
		t.Error("no epoch needed a split: the test does not exercise equalisation")
	}
	// Alone, grouping never splits (the grouped sampler's own batches).
	s := &Sampler{N: n, World: 1, BatchSize: bs, Shuffle: true, Seed: 5, Groups: groups}
	b, _ := s.Batches(3)
	if want := s.grouped(mustIndices(t, s, 3)); !slices.EqualFunc(b, want, slices.Equal) {
		t.Error("World 1 changed the grouped batches")
	}
	if AspectGroup(5, 5) != 0 || AspectGroup(6, 5) != 0 || AspectGroup(5, 6) != 1 {
		t.Error("AspectGroup: w ≥ h is group 0")
	}
}

func TestSplitTo(t *testing.T) {
	b, err := splitTo([][]int{{1}, {2, 3, 4}, {5, 6}}, 5, 0, 0)
	want := [][]int{{1}, {2}, {3}, {4}, {5, 6}} // {2 3 4} → {2 3} {4}, then the first pair
	if err != nil || !slices.EqualFunc(b, want, slices.Equal) {
		t.Errorf("splitTo = %v, %v; want %v", b, err, want)
	}
	if _, err := splitTo([][]int{{1}, {2}}, 3, 1, 2); err == nil {
		t.Error("splitting single-sample batches accepted")
	}
}

func mustIndices(t *testing.T, s *Sampler, epoch int) []int {
	t.Helper()
	idx, err := s.Indices(epoch)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}
