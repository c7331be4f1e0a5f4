package dettrain

import (
	"fmt"
	"strings"

	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
)

// Net is the detector's training network: every canonical tensor (Caffe
// layer names, internal/detect/importer) is a view into one flat arena, Data,
// with its gradient in the parallel arena Grad. BatchNorm and Scale tensors
// are frozen (use_global_stats: true, lr_mult 0 in train.prototxt); so is
// every layer whose name starts with one of Frozen. Convolutions run through
// internal/visual's Bottleneck and convolution kernels (forward and
// backward), in NCHW.
type Net struct {
	Cfg    importer.Config
	Params []*visual.Param // canonical order (Config.Params)
	Data   []float32
	Grad   []float32 // same layout as Data; frozen views stay zero
	index  map[string]*visual.Param

	stem    stem
	stages  [4][]*visual.Bottleneck
	rpn     [3]biasConv // rpn_conv/3x3, rpn_cls_score, rpn_bbox_pred
	ws      visual.Workspace
	blockIn [][2]int // input size of each trunk block in the last forward
}

// stem is conv1 + bn_conv1/scale_conv1 + ReLU + pool1 (Caffe MAX, ceil mode).
type stem struct {
	cv        visual.Conv2D
	weight    *visual.Param
	bn        visual.FrozenBN
	trainable bool

	img          []float32 // forward input
	h, w, h1, w1 int
	y            []float32 // after BN + ReLU
	scale, shift []float32
	pooled       []float32
	argmax       []int32
	hp, wp       int
}

// biasConv is an RPN convolution with its own bias.
type biasConv struct {
	cv   visual.Conv2D
	w, b *visual.Param
}

// NewNet builds the network of cfg with the given weights (canonical names;
// importer.Config.Validate checks them). frozen lists layer-name prefixes
// with lr_mult 0.
func NewNet(cfg importer.Config, w importer.Weights, frozen []string, source string) (*Net, error) {
	if err := cfg.Validate(source, w); err != nil {
		return nil, err
	}
	n := &Net{Cfg: cfg, index: map[string]*visual.Param{}}
	ps := cfg.Params()
	total := 0
	for _, p := range ps {
		total += numel(p.Shape)
	}
	n.Data, n.Grad = make([]float32, total), make([]float32, total)
	off := 0
	for _, p := range ps {
		k := numel(p.Shape)
		vp := &visual.Param{Name: p.Name, Shape: p.Shape, Data: n.Data[off : off+k : off+k], Trainable: trainable(p.Name, frozen)}
		if vp.Trainable {
			vp.Grad = n.Grad[off : off+k : off+k]
		}
		copy(vp.Data, w[p.Name].F32)
		off += k
		n.Params = append(n.Params, vp)
		n.index[p.Name] = vp
	}
	s := cfg.Stem()
	n.stem = stem{cv: convOf(s), weight: n.index[s.Name+".weight"], bn: n.frozenBN(s)}
	n.stem.trainable = n.stem.weight.Trainable
	for st := range 4 {
		for _, bs := range cfg.Stage(st) {
			n.stages[st] = append(n.stages[st], n.block(bs))
		}
	}
	A, C4 := cfg.NumAnchors(), cfg.StageOut(2)
	n.rpn[0] = n.biasConv(importer.RPNConv, visual.Conv2D{C: C4, K: cfg.RPNWidth, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1})
	n.rpn[1] = n.biasConv(importer.RPNClsScore, visual.Conv2D{C: cfg.RPNWidth, K: 2 * A, KH: 1, KW: 1, Stride: 1, Dilation: 1})
	n.rpn[2] = n.biasConv(importer.RPNBboxPred, visual.Conv2D{C: cfg.RPNWidth, K: 4 * A, KH: 1, KW: 1, Stride: 1, Dilation: 1})
	return n, nil
}

// trainable reports whether a canonical tensor has a gradient: not BatchNorm
// or Scale (frozen in the original), not under a frozen prefix.
func trainable(name string, frozen []string) bool {
	if strings.HasPrefix(name, "bn") || strings.HasPrefix(name, "scale") {
		return false
	}
	for _, f := range frozen {
		if strings.HasPrefix(name, f) {
			return false
		}
	}
	return true
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func convOf(s importer.ConvSpec) visual.Conv2D {
	return visual.Conv2D{C: s.In, K: s.Out, KH: s.Kernel, KW: s.Kernel, Stride: s.Stride, Pad: s.Pad, Dilation: s.Dilation}
}

// frozenBN maps the Caffe BatchNorm+Scale pair onto visual's frozen BN
// (gamma = Scale weight, beta = Scale bias). visual.BNEps is Caffe's default
// eps too (1e-5), which importer.Config.BNEps must equal.
func (n *Net) frozenBN(s importer.ConvSpec) visual.FrozenBN {
	return visual.FrozenBN{
		Weight: n.index[s.Scale+".weight"].Data, Bias: n.index[s.Scale+".bias"].Data,
		RunningMean: n.index[s.BN+".mean"].Data, RunningVar: n.index[s.BN+".var"].Data,
	}
}

// block builds an internal/visual Bottleneck over the canonical tensors of
// bs. Conv geometry (stride in the 1x1, res5's dilation) comes from bs.
func (n *Net) block(bs importer.BlockSpec) *visual.Bottleneck {
	b := &visual.Bottleneck{
		Conv1: convOf(bs.Branch2[0]), Conv2: convOf(bs.Branch2[1]), Conv3: convOf(bs.Branch2[2]),
		HasDown: bs.Branch1 != nil,
	}
	b.W1, b.W2, b.W3 = n.index[bs.Branch2[0].Name+".weight"], n.index[bs.Branch2[1].Name+".weight"], n.index[bs.Branch2[2].Name+".weight"]
	n.bindBN(&b.BN1.Weight, &b.BN1.Bias, &b.BN1.RunningMean, &b.BN1.RunningVar, bs.Branch2[0])
	n.bindBN(&b.BN2.Weight, &b.BN2.Bias, &b.BN2.RunningMean, &b.BN2.RunningVar, bs.Branch2[1])
	n.bindBN(&b.BN3.Weight, &b.BN3.Bias, &b.BN3.RunningMean, &b.BN3.RunningVar, bs.Branch2[2])
	b.Trainable = b.W1.Trainable || b.W2.Trainable || b.W3.Trainable
	if bs.Branch1 != nil {
		b.Down = convOf(*bs.Branch1)
		b.WDown = n.index[bs.Branch1.Name+".weight"]
		n.bindBN(&b.BNDown.Weight, &b.BNDown.Bias, &b.BNDown.RunningMean, &b.BNDown.RunningVar, *bs.Branch1)
		b.Trainable = b.Trainable || b.WDown.Trainable
	}
	return b
}

func (n *Net) bindBN(gamma, beta, mean, variance **visual.Param, s importer.ConvSpec) {
	*gamma, *beta = n.index[s.Scale+".weight"], n.index[s.Scale+".bias"]
	*mean, *variance = n.index[s.BN+".mean"], n.index[s.BN+".var"]
}

func (n *Net) biasConv(name string, cv visual.Conv2D) biasConv {
	return biasConv{cv: cv, w: n.index[name+".weight"], b: n.index[name+".bias"]}
}

// Param returns the canonical tensor name, or nil.
func (n *Net) Param(name string) *visual.Param { return n.index[name] }

// Weights returns a copy of the network's tensors as canonical weights.
func (n *Net) Weights() importer.Weights {
	w := make(importer.Weights, len(n.Params))
	for _, p := range n.Params {
		w[p.Name] = weights.NewF32(append([]float32(nil), p.Data...), p.Shape...)
	}
	return w
}

// ZeroGrad clears every gradient.
func (n *Net) ZeroGrad() { clear(n.Grad) }

func (n *Net) String() string {
	tr := 0
	for _, p := range n.Params {
		if p.Trainable {
			tr += len(p.Data)
		}
	}
	return fmt.Sprintf("dettrain.Net(%d tensors, %d values, %d trainable)", len(n.Params), len(n.Data), tr)
}
