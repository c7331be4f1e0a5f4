package model

import "github.com/vlbert/vlbert/internal/kernels"

// numSpecialWords is NUM_SPECIAL_WORDS of common/visual_linguistic_bert.py: with
// word_embedding_frozen, word ids below it read the trainable
// special_word_embeddings instead of the frozen word_embeddings.
const numSpecialWords = 1000

// visualTransform is what VisualLinguisticBert.embedding applies to a visual
// feature before adding it to its linguistic part: visual_1x1_{text,object}
// (Linear visual_size→hidden_size, present only when the sizes differ), then
// visual_ln_{text,object} (visual_ln true) or a multiplication by the scalar
// parameter visual_scale_{text,object} (visual_ln false).
type visualTransform struct {
	proj  *linearView // visual_1x1_*; nil when visual_size == hidden_size
	ln    lnView      // visual_ln_*, when useLN
	scale view        // visual_scale_* [1], when !useLN
	useLN bool
}

func bindVisualTransform(p *Params, c *Config, cp, kind string) visualTransform {
	t := visualTransform{useLN: c.VisualLN}
	if c.VisualSize != c.HiddenSize {
		l := linearOf(p, cp+"visual_1x1_"+kind)
		t.proj = &l
	}
	if c.VisualLN {
		t.ln = lnOf(p, cp+"visual_ln_"+kind)
	} else {
		t.scale = pv(p, cp+"visual_scale_"+kind)
	}
	return t
}

// visEmbActs are one visualTransform forward's saved tensors.
type visEmbActs struct {
	pre, out, mean, rstd []float32 // pre: the transform's LN/scale input ([n*H])
}

// forward maps inp [n*visual_size] to out [n*H].
func (t *visualTransform) forward(a *arena, inp []float32, n, H int) visEmbActs {
	var s visEmbActs
	s.pre = inp
	if t.proj != nil {
		s.pre = a.alloc(n * H)
		t.proj.forward(s.pre, inp, n)
	}
	s.out = a.alloc(n * H)
	if t.useLN {
		s.mean, s.rstd = a.alloc(n), a.alloc(n)
		if n > 0 {
			t.ln.forward(s.out, s.mean, s.rstd, s.pre, n, H)
		}
		return s
	}
	g := t.scale.w[0]
	for i, x := range s.pre {
		s.out[i] = g * x
	}
	return s
}

// backward returns d(inp) [n*visual_size] from dout [n*H] and accumulates the
// transform's parameter gradients.
func (t *visualTransform) backward(g *arena, s visEmbActs, dout, inp []float32, n, H int) []float32 {
	dpre := g.alloc(n * H)
	if t.useLN {
		if n > 0 {
			t.ln.backward(dpre, dout, s.pre, s.mean, s.rstd, n, H)
		}
	} else {
		sc := t.scale.w[0]
		var ds float64
		for i, d := range dout {
			ds += float64(d) * float64(s.pre[i])
			dpre[i] = sc * d
		}
		t.scale.g[0] += float32(ds)
	}
	if t.proj == nil {
		return dpre
	}
	din := g.alloc(len(inp))
	t.proj.backward(din, dpre, inp, n)
	return din
}

// wordForward is word_embeddings_wrapper: the word embedding of every id, with
// the ids below numSpecialWords read from special_word_embeddings when
// word_embedding_frozen.
func (m *Encoder) wordForward(out []float32, ids []int32, n, H int) {
	w := &m.core
	kernels.EmbeddingForward(out, ids, w.word.w, n, H)
	if w.special.w == nil {
		return
	}
	for i, id := range ids[:n] {
		if id < numSpecialWords {
			copy(out[i*H:(i+1)*H], w.special.w[int(id)*H:int(id+1)*H])
		}
	}
}

// wordBackward accumulates dout [n*H] into the embedding rows wordForward read; a
// frozen table (word_embedding_frozen) gets nothing.
func (m *Encoder) wordBackward(dout []float32, ids []int32, n, H int) {
	w := &m.core
	if w.special.w == nil {
		if w.word.g != nil {
			kernels.EmbeddingBackward(w.word.g, dout, ids, n, H)
		}
		return
	}
	for i, id := range ids[:n] {
		if id >= numSpecialWords {
			continue // word_embeddings is frozen
		}
		dst, src := w.special.g[int(id)*H:int(id+1)*H], dout[i*H:(i+1)*H]
		for k := range dst {
			dst[k] += src[k]
		}
	}
}
