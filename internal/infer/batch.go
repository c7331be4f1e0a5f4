package infer

import (
	"context"
	"fmt"
	"time"

	"github.com/vlbert/vlbert/internal/model"
)

// Batching answers VQA requests that arrive together with one batched forward.
// The first request to find no open batch opens one and waits Window for others
// (or until MaxBatch have joined) and then for a free replica, taking in
// whoever arrives meanwhile, then runs them on that replica. It is a
// window, not a queue: how many requests may wait at all is the caller's
// admission limit (the server's inference slots). Each request gets its own
// logits; when the batched forward fails, every request is rerun alone so that
// an error belongs to the request that caused it.
type Batching struct {
	Window   time.Duration // how long a batch collects requests (0: no batching)
	MaxBatch int           // requests per forward at most (<= 1: no batching)
	// Observe, when set, is called once per batch, as its forward begins, with
	// the time each of its requests waited (for the window and for a free
	// replica); len(queued) is the batch size.
	Observe func(queued []time.Duration)
}

// On says whether the settings batch at all.
func (b Batching) On() bool { return b.Window > 0 && b.MaxBatch > 1 }

// SetBatching switches batching of VQA requests on (or off); call it before
// serving requests.
func (p *Pipeline) SetBatching(b Batching) { p.batching = b }

// BatchingConfig returns the batching settings.
func (p *Pipeline) BatchingConfig() Batching { return p.batching }

// vqaJob is one request of a batch.
type vqaJob struct {
	ids     []int32
	bx      model.Boxes
	arrived time.Time
	logits  []float32
	err     error
	done    chan struct{}
}

// vqaCollector is a batch being collected.
type vqaCollector struct {
	jobs []*vqaJob
	full chan struct{} // closed when MaxBatch jobs have joined
}

// vqaBatched answers one request through the batcher.
func (p *Pipeline) vqaBatched(ctx context.Context, ids []int32, bx model.Boxes) ([]float32, error) {
	j := &vqaJob{ids: ids, bx: bx, arrived: time.Now(), done: make(chan struct{})}
	p.batchMu.Lock()
	c, leader := p.open, false
	if c == nil {
		c, leader = &vqaCollector{full: make(chan struct{})}, true
		p.open = c
	}
	c.jobs = append(c.jobs, j)
	if len(c.jobs) >= p.batching.MaxBatch {
		p.open = nil
		close(c.full)
	}
	p.batchMu.Unlock()
	if leader {
		// The leader runs the batch whatever its own context says: the others
		// wait on it. A forward is bounded, and each request still returns at
		// its own deadline.
		t := time.NewTimer(p.batching.Window)
		select {
		case <-t.C:
		case <-c.full:
		}
		t.Stop()
		// The batch stays open while it waits for a free replica: requests
		// arriving meanwhile join it (up to MaxBatch) instead of forming
		// batches of one behind it.
		m := <-p.workers
		p.batchMu.Lock()
		if p.open == c {
			p.open = nil
		}
		jobs := c.jobs
		p.batchMu.Unlock()
		p.runVQABatch(m, jobs)
		p.workers <- m
	}
	select {
	case <-j.done:
		return j.logits, j.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// runVQABatch runs jobs on replica m and hands each its logits.
func (p *Pipeline) runVQABatch(m model.Module, jobs []*vqaJob) {
	defer func() {
		for _, j := range jobs {
			close(j.done)
		}
	}()
	A := p.Model.AnswerVocabSize
	func() {
		start := time.Now()
		if f := p.batching.Observe; f != nil {
			queued := make([]time.Duration, len(jobs))
			for i, j := range jobs {
				queued[i] = start.Sub(j.arrived)
			}
			f(queued)
		}
		m.Base().Inference = true
		vqa := m.(*model.VQA)
		out, err := vqa.Forward(collateVQA(jobs, p.Model.BoxStride()))
		if err == nil {
			for b, j := range jobs {
				j.logits = append([]float32(nil), out.Logits[b*A:(b+1)*A]...)
			}
			return
		}
		// Keep the errors apart: each request alone.
		for _, j := range jobs {
			out, err := vqa.Forward(&model.VQABatch{Boxes: j.bx, LQ: len(j.ids), Question: j.ids})
			if err != nil {
				j.err = fmt.Errorf("%w: %w", ErrInput, err)
				continue
			}
			j.logits = append([]float32(nil), out.Logits...)
		}
	}()
}

// collateVQA pads single-request batches into one, as the dataset's collate
// does: questions 0-padded to the longest, boxes padded with -2 rows to the most.
// Box rows are stride (4+IMAGE_FEAT_DIM) wide.
func collateVQA(jobs []*vqaJob, stride int) *model.VQABatch {
	B, LQ, NB, infoW := len(jobs), 0, 0, jobs[0].bx.InfoW
	for _, j := range jobs {
		LQ, NB = max(LQ, len(j.ids)), max(NB, j.bx.NB)
	}
	bt := &model.VQABatch{LQ: LQ, Question: make([]int32, B*LQ),
		Boxes: model.Boxes{B: B, NB: NB, InfoW: infoW, Data: make([]float32, B*NB*stride), ImInfo: make([]float32, B*infoW)}}
	for b, j := range jobs {
		copy(bt.Question[b*LQ:], j.ids)
		d := bt.Boxes.Data[b*NB*stride : (b+1)*NB*stride]
		n := copy(d, j.bx.Data[:j.bx.NB*stride])
		for i := n; i < len(d); i++ {
			d[i] = -2
		}
		copy(bt.Boxes.ImInfo[b*infoW:(b+1)*infoW], j.bx.ImInfo[:infoW])
	}
	return bt
}
