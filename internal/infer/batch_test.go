package infer_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/infer/infertest"
)

// Requests that arrive together are answered by one batched forward: each gets
// the answer it gets alone (questions and region counts differ, so the batch is
// padded), the batch sizes reach the limit, and a request whose context ends
// returns its own error while the rest of its batch is answered. (The window is
// long so that a loaded machine still fills batches; a full batch does not wait.)
func TestVQABatching(t *testing.T) {
	p, _ := loadVQAWith(t, infer.Options{Workers: 1})
	qs := []string{"what color is the circle?", "how many squares are there?", "is there a red diamond left of the big blue triangle?", "what shape?"}
	var regs []*infer.Regions
	for i := range qs {
		r, err := p.ParseFeatures("r", infertest.RandomRecord(uint64(i), 2+2*i, 64+16*i, 80, 2048))
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, r)
	}
	want := make([]*infer.VQAResult, len(qs))
	for i := range qs {
		res, err := p.VQA(context.Background(), qs[i], regs[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res
	}
	var mu sync.Mutex
	sizes := map[int]int{}
	p.SetBatching(infer.Batching{Window: 5 * time.Second, MaxBatch: 4, Observe: func(q []time.Duration) {
		mu.Lock()
		sizes[len(q)]++
		mu.Unlock()
	}})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(qs))
	for round := range 2 {
		for i := range qs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ctx := context.Background()
				if round == 1 && i == 2 {
					ctx = cancelled
				}
				res, err := p.VQA(ctx, qs[i], regs[i], 0)
				if ctx == cancelled {
					if err == nil {
						errs <- fmt.Errorf("request %d with an ended context answered", i)
					}
					return
				}
				if err != nil {
					errs <- fmt.Errorf("request %d: %w", i, err)
					return
				}
				for k, a := range res.Answers {
					w := want[i].Answers[k]
					if a.Index != w.Index && math.Abs(a.Logit-w.Logit) > 1e-5 || math.Abs(a.Logit-w.Logit) > 1e-5*(1+math.Abs(w.Logit)) {
						errs <- fmt.Errorf("request %d answer %d: batched %v, alone %v", i, k, a, w)
						return
					}
				}
			}(i)
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if sizes[4] == 0 {
		t.Errorf("no batch of 4 among %v", sizes)
	}
}
