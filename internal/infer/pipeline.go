package infer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/tokenizer"
	"github.com/vlbert/vlbert/internal/visual"
)

// ErrInput marks an error caused by the request's data (wrapped).
var ErrInput = errors.New("invalid input")

// ErrUnsupported marks a request the loaded checkpoint cannot answer (wrapped).
var ErrUnsupported = errors.New("not supported by this checkpoint")

func inputErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInput}, args...)...)
}

// Pipeline is a loaded checkpoint ready for requests. Its methods are safe for
// concurrent use.
type Pipeline struct {
	Config  *config.Config
	Model   model.Config
	Answers []string // VQA answers in classifier row order; nil for other tasks
	Tok     *tokenizer.Tokenizer
	Limits  Limits
	Source  string // the checkpoint path, for logs
	Int8    bool   // the encoders run in int8 (QuantizeInt8)

	workers chan model.Module
	n       int

	batching Batching
	batchMu  sync.Mutex
	open     *vqaCollector // the batch being collected, nil when none

	visMu  sync.Mutex
	vis    *visual.Network
	visCfg visual.Config
}

// New builds a pipeline around an in-memory model. Its workers replicas read m's
// weights in place (model.NewReplica: one copy of the weights whatever the number
// of workers; each replica has its own activation arenas and no gradient arena),
// so m's weights must not change while the pipeline is in use. answers is
// required for a VQA model.
func New(cfg *config.Config, m model.Module, answers []string, workers int, lim Limits) (*Pipeline, error) {
	return newPipeline(cfg, m, answers, workers, lim)
}

func newPipeline(cfg *config.Config, m model.Module, answers []string, workers int, lim Limits) (*Pipeline, error) {
	if m.Base().Cfg.Task == model.TaskVQA && len(answers) != m.Base().Cfg.AnswerVocabSize {
		return nil, fmt.Errorf("infer: %d answers for a classifier of %d", len(answers), m.Base().Cfg.AnswerVocabSize)
	}
	if workers <= 0 {
		workers = 1
	}
	p := &Pipeline{Config: cfg, Model: m.Base().Cfg, Answers: answers, Tok: tokenizer.Default(true),
		Limits: lim.withDefaults(), workers: make(chan model.Module, workers), n: workers}
	// Every worker is a replica, m included: m's gradient arena is not used by the
	// pipeline (and freed with m when the caller drops it, as Load does). A model
	// quantized by the caller shares its int8 weights with the replicas.
	for range workers {
		r, err := model.NewReplica(m)
		if err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
		r.Base().Train = false
		p.workers <- r
	}
	p.Int8 = m.Base().Int8()
	return p, nil
}

// QuantizeInt8 switches every replica's encoder to int8 (model.QuantizeInt8 once,
// the int8 weights shared by all replicas); call it before serving requests. On
// error nothing changes.
func (p *Pipeline) QuantizeInt8() error {
	ms := make([]model.Module, 0, p.n)
	defer func() {
		for _, m := range ms {
			p.workers <- m
		}
	}()
	for range p.n {
		ms = append(ms, <-p.workers)
	}
	if err := ms[0].Base().QuantizeInt8(); err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	for _, m := range ms[1:] {
		if err := m.Base().ShareInt8(ms[0].Base()); err != nil {
			for _, m := range ms {
				m.Base().DropInt8()
			}
			return fmt.Errorf("infer: %w", err)
		}
	}
	p.Int8 = true
	return nil
}

// Workers is the number of model replicas.
func (p *Pipeline) Workers() int { return p.n }

// withModel runs fn on a free replica, waiting for one until ctx ends.
func (p *Pipeline) withModel(ctx context.Context, fn func(m model.Module) error) error {
	select {
	case m := <-p.workers:
		defer func() { p.workers <- m }()
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(m)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetVisual builds the e2e visual network from weights (checkpoint keys as
// visual.CanonicalKey accepts them); image inputs need it. After QuantizeInt8
// (--int8) its convolutions run in int8 too (visual.Network.QuantizeInt8).
func (p *Pipeline) SetVisual(vc visual.Config, sd map[string]visual.Tensor) error {
	if vc.FeatureDim() != p.FeatureDim() {
		return fmt.Errorf("infer: visual network gives %d-d features, the model wants %d (NETWORK.IMAGE_FEAT_DIM)", vc.FeatureDim(), p.FeatureDim())
	}
	n := visual.NewNetwork(vc)
	missing, err := n.LoadStateDict(sd)
	if err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("infer: the visual weights lack %s", short(missing))
	}
	// Forward only: blocks share their activation buffers.
	n.SetInference(true)
	if p.Int8 { // --int8 covers the image path too: int8 convolutions
		if err := n.QuantizeInt8(); err != nil {
			return fmt.Errorf("infer: %w", err)
		}
	}
	p.visMu.Lock()
	p.vis, p.visCfg = n, vc
	p.visMu.Unlock()
	return nil
}

// HasVisual reports whether image inputs are supported.
func (p *Pipeline) HasVisual() bool {
	p.visMu.Lock()
	defer p.visMu.Unlock()
	return p.vis != nil
}

// Task names the checkpoint's module.
func (p *Pipeline) Task() model.Task { return p.Model.Task }

// tokenize splits text into wordpieces and ids, within the token limit.
func (p *Pipeline) tokenize(what, text string) ([]string, []int32, error) {
	toks, ids := p.Tok.Encode(text)
	if len(toks) == 0 {
		return nil, nil, inputErrorf("%s is empty", what)
	}
	if len(toks) > p.Limits.MaxTokens {
		return nil, nil, inputErrorf("%s has %d wordpieces, over the limit of %d", what, len(toks), p.Limits.MaxTokens)
	}
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return toks, out, nil
}

// Hold runs fn while holding one model replica, so that no request can use it
// meanwhile (tests use it to fill the pool; it also fences maintenance work).
func (p *Pipeline) Hold(ctx context.Context, fn func()) error {
	return p.withModel(ctx, func(model.Module) error { fn(); return nil })
}
