package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/kernels"
)

// coreWeights are the views of VisualLinguisticBert's parameters.
type coreWeights struct {
	word, end, pos, typ view // word.g nil when word_embedding_frozen, pos.g when pos_embedding_frozen
	special             view // special_word_embeddings (word_embedding_frozen), else zero
	embLN               lnView
	visText, visObj     visualTransform
	layers              []layerWeights
	pooler              linearView
	hasPooler           bool
}

type layerWeights struct {
	q, k, v, attnOut linearView
	ln1              lnView
	inter, out       linearView
	ln2              lnView
}

func bindCore(p *Params, c *Config) coreWeights {
	cp := c.corePrefix()
	w := coreWeights{
		word: pv(p, cp+"word_embeddings.weight"), end: pv(p, cp+"end_embedding.weight"),
		pos: pv(p, cp+"position_embeddings.weight"), typ: pv(p, cp+"token_type_embeddings.weight"),
		embLN: lnOf(p, cp+"embedding_LayerNorm"), visText: bindVisualTransform(p, c, cp, "text"),
		visObj: bindVisualTransform(p, c, cp, "object"), hasPooler: c.WithPooler,
	}
	if c.WordEmbeddingFrozen {
		w.word.g = nil
		w.special = pv(p, cp+"special_word_embeddings.weight")
	}
	if c.posFrozen() {
		w.pos.g = nil
	}
	for l := 0; l < c.NumHiddenLayers; l++ {
		pre := fmt.Sprintf(cp+"encoder.layer.%d.", l)
		w.layers = append(w.layers, layerWeights{
			q: linearOf(p, pre+"attention.self.query"), k: linearOf(p, pre+"attention.self.key"),
			v: linearOf(p, pre+"attention.self.value"), attnOut: linearOf(p, pre+"attention.output.dense"),
			ln1: lnOf(p, pre+"attention.output.LayerNorm"), inter: linearOf(p, pre+"intermediate.dense"),
			out: linearOf(p, pre+"output.dense"), ln2: lnOf(p, pre+"output.LayerNorm"),
		})
	}
	if c.WithPooler {
		w.pooler = linearOf(p, cp+"pooler.dense")
	}
	return w
}

// CoreInput is what VisualLinguisticBert.forward receives. The object visual part and
// object linguistic part (the two halves of the original object_vl_embeddings) are
// separate arrays here.
type CoreInput struct {
	B, Lt, Lo  int
	TextIDs    []int32   // [B*Lt] word ids, 0 = padding
	TextTypes  []int32   // [B*Lt] token types (0 or 1)
	TextMask   []bool    // [B*Lt]
	TextVisual []float32 // [B*Lt*VS] visual feature of each text token (VS = visual_size; before visual_1x1_text)
	ObjVisual  []float32 // [B*Lo*VS] object visual part (before visual_1x1_object)
	ObjLing    []float32 // [B*Lo*H] object linguistic part
	ObjMask    []bool    // [B*Lo]
	// OutRows, when set (Inference only), asks for one output row per sequence: the
	// hidden state at text position OutRows[b]. The last layer then runs its queries
	// and FFN for those rows only, rowsOut holds them [B*H], and textOut, objOut and
	// pooled are not computed.
	OutRows []int32
}

// coreActs holds everything the core forward saves for backward.
type coreActs struct {
	in      CoreInput
	reused  bool    // an Inference forward: layers[*] point into reused buffers
	L       int     // concatenated length
	nText   []int32 // [B] valid text tokens
	nObj    []int32 // [B] valid objects
	textSrc []int32 // [B*L] text position feeding each slot, -1 if none
	objSrc  []int32 // [B*L] object index feeding each slot, -1 if none
	posIDs  []int32 // [B*L]
	typeIDs []int32 // [B*L]
	maskAdd []float32
	wordEmb []float32  // [B*Lt*H]
	textVis visEmbActs // text visual transform, out [B*Lt*H]
	objVis  visEmbActs // object visual transform, out [B*Lo*H]
	embSum  []float32  // [B*L*H] vl + pos + type
	embLN   []float32  // [B*L*H]
	embMean []float32
	embRstd []float32
	embOut  []float32 // [B*L*H] after dropout (aliases embLN when dropout is off)
	layers  []layerActs
	poolIn  []float32 // [B*H] slot 0 of the last layer
	poolPre []float32 // [B*H]
	pooled  []float32 // [B*H]
	textOut []float32 // [B*Lt*H] last layer, first Lt slots (zero past L)
	rowsOut []float32 // [B*H] last layer at CoreInput.OutRows (nil otherwise)
	objOut  []float32 // [B*Lo*H] last layer scattered back to object slots
}

type layerActs struct {
	in                   []float32 // [N*H] (previous layer output)
	q, k, v              []float32 // [N*H]
	probs                []float32 // [B*NH*L*L] ([B*NH*L] in a one-row last layer)
	ctx                  []float32 // [N*H] attention output before the dense layer
	ao, aoDrop           []float32 // [N*H]
	res1, h1             []float32 // [N*H]
	mean1, rstd1         []float32 // [N]
	ff1, gelu            []float32 // [N*I]
	ff2, ff2Drop         []float32 // [N*H]
	res2, out            []float32 // [N*H]
	mean2, rstd2         []float32 // [N]
	dAttn, dAttnOut, dFF kernels.Dropout
}

// SeqLen is the concatenated length L of the last core forward.
func (m *Encoder) SeqLen() int { return m.c.L }

// validateCore checks the shapes of in (programmer errors panic) and the id ranges
// (data errors are returned).
func (m *Encoder) validateCore(in *CoreInput) error {
	H := m.Cfg.HiddenSize
	if in.B <= 0 || in.Lt <= 0 || in.Lo < 0 {
		panic(fmt.Sprintf("model: core batch B=%d Lt=%d Lo=%d", in.B, in.Lt, in.Lo))
	}
	checkLen("TextIDs", len(in.TextIDs), in.B*in.Lt)
	checkLen("TextTypes", len(in.TextTypes), in.B*in.Lt)
	checkLen("TextMask", len(in.TextMask), in.B*in.Lt)
	VS := m.Cfg.VisualSize
	checkLen("TextVisual", len(in.TextVisual), in.B*in.Lt*VS)
	checkLen("ObjVisual", len(in.ObjVisual), in.B*in.Lo*VS)
	checkLen("ObjLing", len(in.ObjLing), in.B*in.Lo*H)
	checkLen("ObjMask", len(in.ObjMask), in.B*in.Lo)
	if in.OutRows != nil {
		checkLen("OutRows", len(in.OutRows), in.B)
	}
	for i, id := range in.TextIDs {
		if id < 0 || int(id) >= m.Cfg.VocabSize {
			return fmt.Errorf("model: text id %d at [%d,%d] is outside the vocabulary [0,%d)", id, i/in.Lt, i%in.Lt, m.Cfg.VocabSize)
		}
		if t := in.TextTypes[i]; t < 0 || int(t) >= m.Cfg.TypeVocabSize {
			return fmt.Errorf("model: token type %d at [%d,%d] is outside [0,%d)", t, i/in.Lt, i%in.Lt, m.Cfg.TypeVocabSize)
		}
	}
	return nil
}

// coreForward runs VisualLinguisticBert on in. It fills m.c; textOut, objOut and
// pooled are the outputs.
func (m *Encoder) coreForward(in *CoreInput) error {
	if err := m.validateCore(in); err != nil {
		return err
	}
	if in.OutRows != nil && !m.Inference {
		panic("model: CoreInput.OutRows without Inference")
	}
	c := &m.c
	c.in = *in
	c.rowsOut = nil
	if err := m.embedForward(); err != nil {
		return err
	}
	for b, p := range in.OutRows {
		if p < 0 || int(p) >= min(in.Lt, c.L) {
			return fmt.Errorf("model: output row %d of sequence %d is outside its text [0,%d)", p, b, min(in.Lt, c.L))
		}
	}
	x := c.embOut
	if cap(c.layers) < len(m.core.layers) {
		c.layers = make([]layerActs, len(m.core.layers))
	}
	c.layers = c.layers[:len(m.core.layers)]
	B, L, H := in.B, c.L, m.Cfg.HiddenSize
	c.reused = m.Inference
	if m.Inference {
		// Each layer's output is copied into one of two ping-pong buffers; everything
		// else the layer allocated is released for the next layer.
		var pp [2][]float32
		pp[0], pp[1] = m.acts.alloc(B*L*H), m.acts.alloc(B*L*H)
		mk := m.acts.mark()
		last := len(m.core.layers) - 1
		for l := range m.core.layers {
			if l == last && in.OutRows != nil {
				m.layerForwardRows(l, x, in.OutRows)
			} else {
				m.layerForward(l, x)
			}
			copy(pp[l%2], c.layers[l].out)
			x = pp[l%2][:len(c.layers[l].out)]
			m.acts.release(mk)
		}
		if in.OutRows != nil {
			c.rowsOut, c.poolIn, c.poolPre, c.pooled, c.textOut, c.objOut = x, nil, nil, nil, nil, nil
			return nil
		}
	} else {
		for l := range m.core.layers {
			m.layerForward(l, x)
			x = c.layers[l].out
		}
	}
	if m.core.hasPooler {
		c.poolIn, c.poolPre, c.pooled = m.acts.alloc(B*H), m.acts.alloc(B*H), m.acts.alloc(B*H)
		for b := 0; b < B; b++ {
			copy(c.poolIn[b*H:(b+1)*H], x[b*L*H:b*L*H+H])
		}
		m.core.pooler.forward(c.poolPre, c.poolIn, B)
		kernels.TanhForward(c.pooled, c.poolPre)
	} else {
		c.poolIn, c.poolPre, c.pooled = nil, nil, nil
	}
	c.textOut = m.acts.alloc(B * in.Lt * H)
	c.objOut = m.acts.alloc(B * in.Lo * H)
	m.splitHidden(c.textOut, c.objOut, x)
	return nil
}

// splitHidden copies hidden [B*L*H] into the text view [B*Lt*H] (the first Lt slots,
// zero past L) and scatters the object slots back to [B*Lo*H] (zeros elsewhere), as
// output_text_and_object_separately does.
func (m *Encoder) splitHidden(text, obj, hidden []float32) {
	c := &m.c
	B, Lt, Lo, L, H := c.in.B, c.in.Lt, c.in.Lo, c.L, m.Cfg.HiddenSize
	n := min(Lt, L)
	for b := 0; b < B; b++ {
		copy(text[b*Lt*H:(b*Lt+n)*H], hidden[b*L*H:(b*L+n)*H])
		for s := 0; s < L; s++ {
			if j := c.objSrc[b*L+s]; j >= 0 {
				copy(obj[(b*Lo+int(j))*H:(b*Lo+int(j)+1)*H], hidden[(b*L+s)*H:(b*L+s+1)*H])
			}
		}
	}
}

// mergeHiddenGrad is splitHidden's adjoint: dhidden (overwritten) from dtext and dobj
// (either may be nil).
func (m *Encoder) mergeHiddenGrad(dhidden, dtext, dobj []float32) {
	c := &m.c
	B, Lt, Lo, L, H := c.in.B, c.in.Lt, c.in.Lo, c.L, m.Cfg.HiddenSize
	clear(dhidden)
	n := min(Lt, L)
	for b := 0; b < B; b++ {
		if dtext != nil {
			copy(dhidden[b*L*H:(b*L+n)*H], dtext[b*Lt*H:(b*Lt+n)*H])
		}
		if dobj == nil {
			continue
		}
		for s := 0; s < L; s++ {
			if j := c.objSrc[b*L+s]; j >= 0 {
				dst := dhidden[(b*L+s)*H : (b*L+s+1)*H]
				src := dobj[(b*Lo+int(j))*H : (b*Lo+int(j)+1)*H]
				for i := range dst {
					dst[i] += src[i]
				}
			}
		}
	}
}

// coreGrads are the gradients coreBackward returns for its float inputs (views into
// the backward arena).
type coreGrads struct {
	textVisual, objVisual, objLing []float32
}

// coreBackward back-propagates from the gradients of the outputs of the last
// coreForward: dtext [B*Lt*H], dobj [B*Lo*H], dpooled [B*H]; any may be nil.
// Parameter gradients accumulate.
func (m *Encoder) coreBackward(dtext, dobj, dpooled []float32) coreGrads {
	c := &m.c
	if c.reused {
		panic("model: Backward after a forward with Inference set (its activations were not kept)")
	}
	B, L, H := c.in.B, c.L, m.Cfg.HiddenSize
	N := B * L
	dx := m.grads.alloc(N * H)
	m.mergeHiddenGrad(dx, dtext, dobj)
	if m.core.hasPooler && dpooled != nil {
		dpre := m.grads.alloc(B * H)
		kernels.TanhBackward(dpre, c.pooled, dpooled)
		dpoolIn := m.grads.alloc(B * H)
		m.core.pooler.backward(dpoolIn, dpre, c.poolIn, B)
		for b := 0; b < B; b++ {
			row := dx[b*L*H : b*L*H+H]
			for i := range row {
				row[i] += dpoolIn[b*H+i]
			}
		}
	}
	for l := len(m.core.layers) - 1; l >= 0; l-- {
		dx = m.layerBackward(l, dx)
	}
	return m.embedBackward(dx)
}
