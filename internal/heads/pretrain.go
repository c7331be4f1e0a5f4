package heads

// MLM is BertOnlyMLMHead: Transform (dense, GELU, LN), then the decoder whose weight is
// the word embedding table [W,H] (tied) plus predictions.bias [W].
type MLM struct {
	Transform Transform
	Decoder   Linear // W/GW are the word embeddings and their gradient
}

// MLMActs are the saved activations of one MLM forward.
type MLMActs struct {
	t      TransformActs
	Logits []float32 // [n*W]
	probs  []float32
	n      int
}

// Forward computes Logits [n*W] for n text states h [n*H].
func (m *MLM) Forward(a *MLMActs, ar Arena, h []float32, n int) {
	a.n = n
	m.Transform.Forward(&a.t, ar, h, n)
	a.Logits = ar.Alloc(n * m.Decoder.Out)
	m.Decoder.Forward(a.Logits, a.t.Out(), n)
}

// Backward overwrites dh [n*H] from dlogits [n*W].
func (m *MLM) Backward(a *MLMActs, ar Arena, dh, dlogits []float32) {
	H := m.Transform.Dense.Out
	dt := ar.Alloc(a.n * H)
	m.Decoder.Backward(dt, dlogits, a.t.Out(), a.n)
	m.Transform.Backward(&a.t, ar, dh, dt)
}

// MVRC is VisualLinguisticBertMVRCHead: dense, GELU (no LN), region_cls_pred.
type MVRC struct {
	Transform Transform // LN nil
	Cls       Linear
}

// MVRCActs are the saved activations of one MVRC forward.
type MVRCActs struct {
	t      TransformActs
	Logits []float32 // [n*R]
	n      int
}

// Forward computes Logits [n*R] for n object states h [n*H].
func (m *MVRC) Forward(a *MVRCActs, ar Arena, h []float32, n int) {
	a.n = n
	m.Transform.Forward(&a.t, ar, h, n)
	a.Logits = ar.Alloc(n * m.Cls.Out)
	m.Cls.Forward(a.Logits, a.t.Out(), n)
}

// Backward overwrites dh [n*H] from dlogits [n*R].
func (m *MVRC) Backward(a *MVRCActs, ar Arena, dh, dlogits []float32) {
	H := m.Transform.Dense.Out
	dt := ar.Alloc(a.n * H)
	m.Cls.Backward(dt, dlogits, a.t.Out(), a.n)
	m.Transform.Backward(&a.t, ar, dh, dt)
}
