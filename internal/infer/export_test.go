package infer

import "github.com/vlbert/vlbert/internal/model"

// Replicas returns p's worker models (p must be idle; they stay in the pool).
func Replicas(p *Pipeline) []model.Module {
	ms := make([]model.Module, 0, p.n)
	for range p.n {
		ms = append(ms, <-p.workers)
	}
	for _, m := range ms {
		p.workers <- m
	}
	return ms
}
