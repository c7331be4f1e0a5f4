package model

import "fmt"

// Param is one named tensor of the parameter table. Its values are
// Params.Data[Offset:Offset+Size] and its gradient Params.Grad[Offset:Offset+Size].
type Param struct {
	Name   string // original state_dict key without "module."
	Shape  []int
	Offset int
	Size   int
	// Frozen is requires_grad=False in the original (word_embedding_frozen,
	// pos_embedding_frozen): Backward never writes its gradient.
	Frozen bool
	// Init says how InitWeights draws it (see initKind).
	init initKind
}

// Alias is a state_dict key that shares another parameter's storage (a tied weight),
// e.g. vlbert.mlm_head.predictions.decoder.weight -> vlbert.word_embeddings.weight.
type Alias struct {
	Name, Target string
}

// Params is the flat parameter arena, the gradient arena with the same layout, and the
// table of named views. List holds the trainable parameters in the original module's
// named_parameters() order (which is the index order of the original optimizer state).
type Params struct {
	Data    []float32
	Grad    []float32
	List    []Param
	Aliases []Alias
	index   map[string]int
	// featDim is the region feature width the table was built for
	// (IMAGE_FEAT_DIM), which names the fix when a checkpoint disagrees.
	featDim int
	size    int // floats in each arena
}

type initKind int

const (
	initNormal initKind = iota // N(0, initializer_range)
	initZero
	initOne
	initVisualLNText   // visual_scale_text_init
	initVisualLNObject // visual_scale_object_init
	initStdNormal      // N(0, 1): nn.Embedding's own init, which no init_weight replaces (object_embed)
)

// paramBuilder collects (name, shape, init) in order, then lays them out.
type paramBuilder struct {
	list    []Param
	aliases []Alias
	featDim int
}

func (b *paramBuilder) add(name string, init initKind, shape ...int) {
	b.list = append(b.list, Param{Name: name, Shape: shape, init: init})
}

func (b *paramBuilder) linear(prefix string, out, in int) {
	b.add(prefix+".weight", initNormal, out, in)
	b.add(prefix+".bias", initZero, out)
}

func (b *paramBuilder) layerNorm(prefix string, n int, gamma initKind) {
	b.add(prefix+".weight", gamma, n)
	b.add(prefix+".bias", initZero, n)
}

// build lays the parameters out (layout) and allocates the arenas.
func (b *paramBuilder) build() *Params {
	p := b.layout()
	p.Data = make([]float32, p.size)
	p.Grad = make([]float32, p.size)
	return p
}

// layout computes every parameter's offset and size; the arenas stay nil.
func (b *paramBuilder) layout() *Params {
	p := &Params{List: b.list, Aliases: b.aliases, index: make(map[string]int, len(b.list)), featDim: b.featDim}
	off := 0
	for i := range p.List {
		n := 1
		for _, d := range p.List[i].Shape {
			n *= d
		}
		p.List[i].Offset, p.List[i].Size = off, n
		off += n
		if _, dup := p.index[p.List[i].Name]; dup {
			panic("model: duplicate parameter " + p.List[i].Name)
		}
		p.index[p.List[i].Name] = i
	}
	p.size = off
	return p
}

// buildParams lays out every parameter the configured module owns (paramTable)
// and allocates the arenas.
func buildParams(c *Config) *Params { return paramTable(c).build() }

// paramTable lists every parameter the configured module owns, in the original
// module's registration order: FastRCNN's obj_downsample, the object embedding, the
// module's own pre-encoder parameters, VisualLinguisticBert, then its heads.
func paramTable(c *Config) *paramBuilder {
	b := paramBuilder{featDim: c.FeatureDim()}
	H := c.HiddenSize
	spec := c.spec()
	if c.hasVisualExtractor() {
		if c.ImageSemantic {
			b.add("image_feature_extractor.object_embed.weight", initStdNormal, VCRObjectClasses, SemanticDim)
		}
		if c.CNNRegLossRoI {
			b.linear("image_feature_extractor.regularizing_predictor", VCRObjectClasses, c.FeatureDim())
		}
		b.linear("image_feature_extractor.obj_downsample.1", c.ImageFinalDim, c.objDownsampleIn())
		switch c.objWordMode() {
		case 1:
			b.add("object_linguistic_embeddings.weight", initNormal, VCRObjectClasses, H)
		case 2:
			b.add("object_linguistic_embeddings.weight", initNormal, 1, H)
		}
	}
	spec.pre(&b, c)
	cp := spec.corePrefix
	b.add(cp+"word_embeddings.weight", initNormal, c.VocabSize, H)
	b.add(cp+"end_embedding.weight", initNormal, 1, H)
	b.add(cp+"position_embeddings.weight", initNormal, c.MaxPositionEmbeddings, H)
	b.add(cp+"token_type_embeddings.weight", initNormal, c.TypeVocabSize, H)
	b.layerNorm(cp+"embedding_LayerNorm", H, initOne)
	if c.VisualSize != H {
		b.linear(cp+"visual_1x1_text", H, c.VisualSize)
		b.linear(cp+"visual_1x1_object", H, c.VisualSize)
	}
	if c.VisualLN {
		b.layerNorm(cp+"visual_ln_text", H, initVisualLNText)
		b.layerNorm(cp+"visual_ln_object", H, initVisualLNObject)
	} else { // 0-d parameters, registered by register_parameter
		b.add(cp+"visual_scale_text", initVisualLNText)
		b.add(cp+"visual_scale_object", initVisualLNObject)
	}
	for l := 0; l < c.NumHiddenLayers; l++ {
		p := fmt.Sprintf(cp+"encoder.layer.%d.", l)
		b.linear(p+"attention.self.query", H, H)
		b.linear(p+"attention.self.key", H, H)
		b.linear(p+"attention.self.value", H, H)
		b.linear(p+"attention.output.dense", H, H)
		b.layerNorm(p+"attention.output.LayerNorm", H, initOne)
		b.linear(p+"intermediate.dense", c.IntermediateSize, H)
		b.linear(p+"output.dense", H, c.IntermediateSize)
		b.layerNorm(p+"output.LayerNorm", H, initOne)
	}
	if c.WithPooler {
		b.linear(cp+"pooler.dense", H, H)
	}
	if c.WordEmbeddingFrozen {
		b.add(cp+"special_word_embeddings.weight", initNormal, numSpecialWords, H)
	}
	for i := range b.list {
		switch b.list[i].Name {
		case cp + "word_embeddings.weight":
			b.list[i].Frozen = c.WordEmbeddingFrozen
		case cp + "position_embeddings.weight":
			b.list[i].Frozen = c.posFrozen()
		case cp + "visual_scale_text", cp + "visual_scale_object":
			b.list[i].Frozen = c.Blind // ResNetVLBERT.fix_params (VCR)
		}
	}
	spec.post(&b, c)
	return &b
}

// Lookup returns the parameter named name (an alias resolves to its target).
func (p *Params) Lookup(name string) (*Param, bool) {
	for _, a := range p.Aliases {
		if a.Name == name {
			name = a.Target
		}
	}
	i, ok := p.index[name]
	if !ok {
		return nil, false
	}
	return &p.List[i], true
}

// View returns the values of the named parameter; it panics on an unknown name.
func (p *Params) View(name string) []float32 {
	q := p.must(name)
	return p.Data[q.Offset : q.Offset+q.Size : q.Offset+q.Size]
}

// GradView returns the gradient of the named parameter; it panics on an unknown name
// and on a table without a gradient arena (NewReplica).
func (p *Params) GradView(name string) []float32 {
	q := p.must(name)
	if p.Grad == nil {
		panic("model: no gradient arena (an inference replica) for " + name)
	}
	return p.Grad[q.Offset : q.Offset+q.Size : q.Offset+q.Size]
}

func (p *Params) must(name string) *Param {
	q, ok := p.Lookup(name)
	if !ok {
		panic("model: no parameter " + name)
	}
	return q
}

// Names returns the trainable parameter names in table order.
func (p *Params) Names() []string {
	out := make([]string, len(p.List))
	for i := range p.List {
		out[i] = p.List[i].Name
	}
	return out
}

// ZeroGrad sets every gradient to 0.
func (p *Params) ZeroGrad() { clear(p.Grad) }

// Count is the number of trainable scalars.
func (p *Params) Count() int { return len(p.Data) }
