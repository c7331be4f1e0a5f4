package model

import "fmt"

// NewReplica builds a module of src's configuration that reads src's parameter
// values in place: the weights are not copied, and the replica has no gradient
// arena (Params.Grad is nil). Each replica keeps its own activation and scratch
// arenas, so replicas of one source may run Forward concurrently on different
// goroutines while nothing writes the weights. It is for inference: Backward on a
// replica panics, and so does writing its weights while any replica is in use
// (loading, an optimizer step or InitWeights on src must finish before replicas
// run). int8 weights of src (QuantizeInt8) are shared too.
//
// A model server with several workers holds one copy of the weights this way
// instead of one per worker (BERT-base VQA: ~0.45 GB each).
func NewReplica(src Module) (Module, error) {
	s := src.Base()
	cfg := s.Cfg
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model: replica: %w", err)
	}
	p := &Params{
		Data:    s.Params.Data,
		List:    s.Params.List,
		Aliases: s.Params.Aliases,
		index:   s.Params.index,
	}
	r := cfg.spec().bind(newEncoder(cfg, p))
	e := r.Base()
	e.Train, e.NoDropout, e.Inference = s.Train, s.NoDropout, s.Inference
	if s.Int8() {
		if err := e.ShareInt8(s); err != nil {
			return nil, fmt.Errorf("model: replica: %w", err)
		}
	}
	return r, nil
}

// Trainable says whether the module has a gradient arena (every module but a
// NewReplica).
func (m *Encoder) Trainable() bool { return m.Params.Grad != nil }

// mustTrainable is the first check of every Backward.
func (m *Encoder) mustTrainable() {
	if m.Params.Grad == nil {
		panic("model: Backward on an inference replica (NewReplica), which has no gradient arena")
	}
}
