package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/kernels"
	"github.com/vlbert/vlbert/internal/quant"
)

// Encoder is what every task module shares: the parameter and gradient arenas,
// FastRCNN's precomputed-feature path (box geometry, obj_downsample),
// VisualLinguisticBert (embedding, encoder layers, pooler), the activation arenas and
// the mode flags below. The task modules (VQA, Pretrain, PretrainMultitask, RefCOCO,
// VCR) embed it and add their heads, losses and state.
type Encoder struct {
	Cfg    Config
	Params *Params

	// Train switches dropout on. Goldens and inference use Train == false.
	Train bool
	// NoDropout switches every dropout site off while training, including the ones
	// the original fixes (obj_downsample's 0.1), which no config key reaches. Masks
	// are drawn per batch position, so only without dropout do two batchings of the
	// same samples (data-parallel ranks, gradient accumulation) give one gradient.
	NoDropout bool
	// Seed and Step select the dropout masks: every dropout site draws from a seed
	// that is a pure function of (Seed, Step, site), so a step can be replayed.
	Seed, Step uint64
	// Inference makes Forward reuse one encoder layer's activation buffers for every
	// layer instead of keeping all of them (BERT-base at batch 8, L = 101: ~49 MB per
	// layer, ~0.55 GB in all). Only the outputs survive such a forward: Backward and
	// CoreOutputs panic after it. Leave it false for training, gradient checks and
	// per-layer dumps. (VQA.Forward also computes less of the last layer then; see
	// VQA.AllRows.)
	Inference bool

	core     coreWeights
	objDS    linearView // image_feature_extractor.obj_downsample.1 (not BLIND)
	objEmbed view       // image_feature_extractor.object_embed (IMAGE_SEMANTIC)
	vis      visualActs
	acts     arena    // forward activations, reset by each Forward
	ints     intArena // forward index buffers
	grads    arena    // backward scratch, reset by each Backward
	c        coreActs // the last core forward
	bools    [][]bool
}

// Module is one task module: VQA, Pretrain, PretrainMultitask, RefCOCO or VCR. Code
// that treats every task alike (optimizers, checkpoints, int8, inference replicas)
// works on Base(); each type's Forward and Backward take that task's batch.
type Module interface {
	// Base is the shared encoder with the parameters and the mode flags.
	Base() *Encoder
	module() // the task types only: an Encoder alone is no Module
}

// Base returns e itself; the task modules inherit it, which makes them Modules.
func (e *Encoder) Base() *Encoder { return e }

// newEncoder binds the shared layers of cfg over the parameter table p.
func newEncoder(cfg Config, p *Params) *Encoder {
	e := &Encoder{Cfg: cfg, Params: p}
	e.core = bindCore(p, &cfg)
	if cfg.hasVisualExtractor() {
		e.objDS = linearOf(p, "image_feature_extractor.obj_downsample.1")
	}
	if cfg.ImageSemantic {
		e.objEmbed = pv(p, "image_feature_extractor.object_embed.weight")
	}
	return e
}

// ZeroGrad clears the gradient arena.
func (m *Encoder) ZeroGrad() { m.Params.ZeroGrad() }

// dropout returns the dropout descriptor for a site; P is 0 (identity) unless training.
func (m *Encoder) dropout(p float32, site int) kernels.Dropout {
	if !m.Train || m.NoDropout || p == 0 {
		return kernels.Dropout{}
	}
	return kernels.Dropout{P: p, Seed: mix64(mix64(m.Seed^0x9e3779b97f4a7c15) ^ mix64(m.Step+0x632be59bd9b4e019) ^ uint64(site)*0xd6e8feb86659fd93)}
}

// mix64 is the splitmix64 finaliser.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Dropout sites, each a distinct stream.
const (
	siteObjDownsample = 1
	siteEmbedding     = 2
	siteHeadVQA       = 3
	siteHeadRefCOCO   = 4
	siteLayerBase     = 16 // + 4*layer + {0 attention probs, 1 attention output, 2 ffn output}
)

// view is a parameter and its gradient.
type view struct{ w, g []float32 }

// pv binds a parameter; a replica without a gradient arena (NewReplica) gets g nil.
func pv(p *Params, name string) view {
	if p.Grad == nil {
		return view{w: p.View(name)}
	}
	return view{p.View(name), p.GradView(name)}
}

// linearView is a Linear layer's weight [out,in] and bias [out].
type linearView struct {
	w, b    view
	in, out int
	int8    *quant.Linear // encoder layers after QuantizeInt8; nil otherwise
}

func linearOf(p *Params, prefix string) linearView {
	q, ok := p.Lookup(prefix + ".weight")
	if !ok {
		panic("model: no parameter " + prefix + ".weight")
	}
	return linearView{w: pv(p, prefix+".weight"), b: pv(p, prefix+".bias"), out: q.Shape[0], in: q.Shape[1]}
}

func (l linearView) forward(out, inp []float32, n int) {
	kernels.LinearForward(out, inp, l.w.w, l.b.w, n, l.in, l.out)
}

func (l linearView) backward(dinp, dout, inp []float32, n int) {
	kernels.LinearBackward(dinp, l.w.g, l.b.g, dout, inp, l.w.w, n, l.in, l.out)
}

// backwardAcc is backward with dinp accumulated (+=) instead of overwritten.
func (l linearView) backwardAcc(dinp, dout, inp []float32, n int) {
	kernels.LinearBackwardAcc(dinp, l.w.g, l.b.g, dout, inp, l.w.w, n, l.in, l.out)
}

// lnView is a LayerNorm's gamma and beta (eps 1e-12 everywhere in VL-BERT).
type lnView struct{ w, b view }

const lnEps = 1e-12

func lnOf(p *Params, prefix string) lnView {
	return lnView{w: pv(p, prefix+".weight"), b: pv(p, prefix+".bias")}
}

func (l lnView) forward(out, mean, rstd, inp []float32, n, c int) {
	kernels.LayerNormForward(out, mean, rstd, inp, l.w.w, l.b.w, n, c, lnEps)
}

// addForward is forward on res = a + b (res overwritten and kept for backward), in
// one pass.
func (l lnView) addForward(out, mean, rstd, res, a, b []float32, n, c int) {
	kernels.AddLayerNormForward(out, mean, rstd, res, a, b, l.w.w, l.b.w, n, c, lnEps)
}

func (l lnView) backward(dinp, dout, inp, mean, rstd []float32, n, c int) {
	kernels.LayerNormBackward(dinp, l.w.g, l.b.g, dout, inp, l.w.w, mean, rstd, n, c)
}

func checkLen(what string, got, want int) {
	if got != want {
		panic(fmt.Sprintf("model: %s has %d values, want %d", what, got, want))
	}
}

// Model is the shared encoder under the name that code treating every task alike
// has used (checkpoints, optimizers, inference replicas): a Module's Base().
type Model = Encoder

// FeatureDim is the width of a region feature the model reads, boxes[:, :, 4:]
// (NETWORK.IMAGE_FEAT_DIM, 2048 in the original).
func (m *Encoder) FeatureDim() int { return m.Cfg.FeatureDim() }
