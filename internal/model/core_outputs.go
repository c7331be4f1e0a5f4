package model

// CoreOutputs are copies of the last core forward's tensors, in the layouts of the
// original VisualLinguisticBert outputs (output_all_encoded_layers,
// output_text_and_object_separately, output_attention_probs). Building them allocates;
// they are for parity checks, attention dumps and inference, not the training loop.
type CoreOutputs struct {
	B, Lt, Lo, L, H, NH, Layers int
	EmbeddingOutput             []float32 // [B,L,H]
	AttentionMask               []int64   // [B,L] 1 up to and including [END]
	TextPositions               []int64   // [B,L] 1 where a text token sits
	ObjectPositions             []int64   // [B,L] 1 where an object sits
	TextHidden                  []float32 // [Layers,B,Lt,H] first Lt slots (zero past L)
	ObjectHidden                []float32 // [Layers,B,Lo,H] scattered back, zero padding
	AttentionProbs              []float32 // [Layers,B,NH,L,L] post-softmax, pre-dropout
	Pooled                      []float32 // [B,H], nil without pooler
}

// CoreOutputs copies the tensors of the last Forward's VisualLinguisticBert call.
// It panics after a forward with Inference set (per-layer tensors were not kept).
func (m *Encoder) CoreOutputs() *CoreOutputs {
	c := &m.c
	if c.reused {
		panic("model: CoreOutputs after a forward with Inference set (per-layer tensors were not kept)")
	}
	B, Lt, Lo, L, H, NH := c.in.B, c.in.Lt, c.in.Lo, c.L, m.Cfg.HiddenSize, m.Cfg.NumAttentionHeads
	nl := len(c.layers)
	o := &CoreOutputs{B: B, Lt: Lt, Lo: Lo, L: L, H: H, NH: NH, Layers: nl}
	o.EmbeddingOutput = append([]float32(nil), c.embOut...)
	o.AttentionMask = make([]int64, B*L)
	o.TextPositions = make([]int64, B*L)
	o.ObjectPositions = make([]int64, B*L)
	for i := range o.AttentionMask {
		if c.maskAdd[i] == 0 {
			o.AttentionMask[i] = 1
		}
		if c.textSrc[i] >= 0 {
			o.TextPositions[i] = 1
		}
		if c.objSrc[i] >= 0 {
			o.ObjectPositions[i] = 1
		}
	}
	o.TextHidden = make([]float32, nl*B*Lt*H)
	o.ObjectHidden = make([]float32, nl*B*Lo*H)
	o.AttentionProbs = make([]float32, 0, nl*B*NH*L*L)
	for l := range c.layers {
		m.splitHidden(o.TextHidden[l*B*Lt*H:(l+1)*B*Lt*H], o.ObjectHidden[l*B*Lo*H:(l+1)*B*Lo*H], c.layers[l].out)
		o.AttentionProbs = append(o.AttentionProbs, c.layers[l].probs...)
	}
	if c.pooled != nil {
		o.Pooled = append([]float32(nil), c.pooled...)
	}
	return o
}
