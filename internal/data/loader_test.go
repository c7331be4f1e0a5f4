package data

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLoadBatchesResume: the text batches seen after resuming at a position
// equal the tail of an uninterrupted epoch, whatever the worker count.
func TestLoadBatchesResume(t *testing.T) {
	s := &Sampler{N: 37, World: 1, BatchSize: 4, Shuffle: true, Seed: 5}
	example := func(i int, rng *rand.Rand) (*TextExample, error) {
		if i == 36 && rng == nil {
			return nil, errors.New("unreachable")
		}
		return &TextExample{Index: i, Text: []int64{int64(i), int64(rng.IntN(1000))}, MLMLabels: []int64{-1, -1}}, nil
	}
	run := func(pos Position, workers int) [][]int64 {
		batches, err := s.Remaining(pos)
		if err != nil {
			t.Fatal(err)
		}
		p := LoadBatches(context.Background(), batches, pos.Epoch, pos.Batch, 99, workers, 2, example, CollateText)
		defer p.Close()
		var out [][]int64
		for {
			b, err := p.Next()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b.Text)
		}
	}
	full := run(Position{Epoch: 2}, 1)
	if len(full) != 10 {
		t.Fatalf("%d batches", len(full))
	}
	for _, w := range []int{1, 3} {
		tail := run(Position{Epoch: 2, Batch: 6}, w)
		if !slices.EqualFunc(tail, full[6:], slices.Equal) {
			t.Errorf("workers %d: resumed batches differ", w)
		}
	}
	other := run(Position{Epoch: 3}, 2)
	if slices.EqualFunc(other, full, slices.Equal) {
		t.Error("another epoch gave the same batches")
	}
}
