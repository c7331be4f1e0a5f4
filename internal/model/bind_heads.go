package model

import "github.com/vlbert/vlbert/internal/heads"

func headLinear(p *Params, prefix string) heads.Linear {
	l := linearOf(p, prefix)
	return heads.Linear{W: l.w.w, B: l.b.w, GW: l.w.g, GB: l.b.g, In: l.in, Out: l.out}
}

func headLN(p *Params, prefix string) *heads.LayerNorm {
	l := lnOf(p, prefix)
	return &heads.LayerNorm{W: l.w.w, B: l.b.w, GW: l.w.g, GB: l.b.g, C: len(l.w.w)}
}
