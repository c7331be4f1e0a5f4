package importer

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/vlbert/vlbert/internal/weights"
)

// Weights is the canonical detector weight set: blob names of the published
// Caffe test network (models/vg/ResNet-101/faster_rcnn_end2end_final/
// test.prototxt of peteanderson80/bottom-up-attention) with one suffix per
// blob, every tensor float32 (weights.Tensor with DType "F32"). See the
// package doc for the naming and the semantics every importer maps onto.
type Weights map[string]*weights.Tensor

// Config carries the sizes of the network. Default() is the published
// network; a reduced-width Config (small goldens, tests) keeps every name
// and changes only the shapes and block counts.
type Config struct {
	NumClasses    int // cls_score outputs, background included (1601)
	NumAttributes int // attr_score outputs, "no attribute" included (401)

	AnchorScales []float64 // proposal_layer param_str scales (4, 8, 16, 32)
	AnchorRatios []float64 // generate_anchors ratios (0.5, 1, 2)
	AnchorBase   int       // generate_anchors base_size (16)
	FeatStride   int       // stride of res4 (16); RoI pooling's spatial_scale is 1/FeatStride
	PooledSize   int       // roi_pool5 pooled_w = pooled_h (14)

	StemWidth  int    // conv1 outputs (64)
	Blocks     [4]int // bottleneck blocks in res2..res5 (3, 4, 23, 3)
	Bottleneck [4]int // bottleneck (branch2a/2b) widths of res2..res5 (64, 128, 256, 512)
	Expansion  int    // branch2c width = Expansion * bottleneck width (4)
	RPNWidth   int    // rpn_conv/3x3 outputs (512)
	EmbedDim   int    // cls_embedding num_output (256)
	AttrHidden int    // fc_attr num_output (512)

	BNEps float64 // Caffe BatchNormParameter default eps (1e-5); the prototxt sets none
}

// Default is the published bottom-up-attention ResNet-101 test network.
func Default() Config {
	return Config{
		NumClasses: 1601, NumAttributes: 401,
		AnchorScales: []float64{4, 8, 16, 32}, AnchorRatios: []float64{0.5, 1, 2},
		AnchorBase: 16, FeatStride: 16, PooledSize: 14,
		StemWidth: 64, Blocks: [4]int{3, 4, 23, 3}, Bottleneck: [4]int{64, 128, 256, 512},
		Expansion: 4, RPNWidth: 512, EmbedDim: 256, AttrHidden: 512,
		BNEps: 1e-5,
	}
}

// NumAnchors is the number of anchors per feature-map position (12).
func (c Config) NumAnchors() int { return len(c.AnchorScales) * len(c.AnchorRatios) }

// StageOut is the output width of res(2+stage), stage 0..3.
func (c Config) StageOut(stage int) int { return c.Expansion * c.Bottleneck[stage] }

// Check reports a Config that cannot describe a network.
func (c Config) Check() error {
	pos := map[string]int{
		"NumClasses": c.NumClasses, "NumAttributes": c.NumAttributes, "AnchorBase": c.AnchorBase,
		"FeatStride": c.FeatStride, "PooledSize": c.PooledSize, "StemWidth": c.StemWidth,
		"Expansion": c.Expansion, "RPNWidth": c.RPNWidth, "EmbedDim": c.EmbedDim, "AttrHidden": c.AttrHidden,
	}
	for _, k := range slices.Sorted(maps.Keys(pos)) {
		if pos[k] <= 0 {
			return fmt.Errorf("detect config: %s = %d, want > 0", k, pos[k])
		}
	}
	for s := range 4 {
		if c.Blocks[s] <= 0 || c.Bottleneck[s] <= 0 {
			return fmt.Errorf("detect config: res%d has %d blocks of width %d, want both > 0", s+2, c.Blocks[s], c.Bottleneck[s])
		}
	}
	if c.NumClasses < 2 || c.NumAttributes < 2 {
		return fmt.Errorf("detect config: %d classes and %d attributes, want at least 2 each (index 0 is background / no attribute)", c.NumClasses, c.NumAttributes)
	}
	if c.NumAnchors() == 0 {
		return fmt.Errorf("detect config: no anchors (scales %v, ratios %v)", c.AnchorScales, c.AnchorRatios)
	}
	if !(c.BNEps > 0) {
		return fmt.Errorf("detect config: BNEps = %g, want > 0", c.BNEps)
	}
	return nil
}

// BlockName is the Caffe name of block i (0-based) of res(2+stage): res2 and
// res5 count a, b, c, ...; res3 and res4 count a, b1, b2, ... (res4b22 is the
// 23rd block of res4), as the ResNet-101 prototxt names them.
func BlockName(stage, i int) string {
	n := stage + 2
	if i == 0 {
		return fmt.Sprintf("res%da", n)
	}
	if n == 3 || n == 4 {
		return fmt.Sprintf("res%db%d", n, i)
	}
	return fmt.Sprintf("res%d%c", n, 'a'+i)
}

// ConvSpec is one convolution of the trunk or the res5 head and its frozen
// BatchNorm + Scale pair.
type ConvSpec struct {
	Name                          string // Convolution layer, e.g. "res4b3_branch2b"
	BN, Scale                     string // "bn4b3_branch2b", "scale4b3_branch2b"
	In, Out                       int
	Kernel, Stride, Pad, Dilation int
}

// BlockSpec is one bottleneck block: Branch1 (projection shortcut, only in
// the first block of a stage) and branch2a/2b/2c. Name is the Eltwise top
// ("res4b3").
type BlockSpec struct {
	Name    string
	Branch1 *ConvSpec
	Branch2 [3]ConvSpec
}

func convSpec(layer string, in, out, k, stride, pad, dil int) ConvSpec {
	suffix := layer[len("res"):] // "4b3_branch2b"
	return ConvSpec{Name: layer, BN: "bn" + suffix, Scale: "scale" + suffix,
		In: in, Out: out, Kernel: k, Stride: stride, Pad: pad, Dilation: dil}
}

// Stem is conv1 (7x7 stride 2 pad 3) with bn_conv1 / scale_conv1; the
// 3x3 stride 2 ceil-mode max pool "pool1" follows and has no weights.
func (c Config) Stem() ConvSpec {
	return ConvSpec{Name: "conv1", BN: "bn_conv1", Scale: "scale_conv1",
		In: 3, Out: c.StemWidth, Kernel: 7, Stride: 2, Pad: 3, Dilation: 1}
}

// Stage lists the blocks of res(2+stage), stage 0..3 (res2..res5). As in the
// prototxt the stride sits in the 1x1 convolutions (branch1 and branch2a of
// res3a and res4a); res5 (run on the 14x14 RoI-pooled features) has stride 1
// and a dilation-2, pad-2 3x3.
func (c Config) Stage(stage int) []BlockSpec {
	in := c.StemWidth
	if stage > 0 {
		in = c.StageOut(stage - 1)
	}
	stride, dil := 1, 1
	if stage == 1 || stage == 2 {
		stride = 2
	}
	if stage == 3 {
		dil = 2
	}
	mid, out := c.Bottleneck[stage], c.StageOut(stage)
	blocks := make([]BlockSpec, c.Blocks[stage])
	for i := range blocks {
		name := BlockName(stage, i)
		b := BlockSpec{Name: name}
		s, bin := 1, out
		if i == 0 {
			s, bin = stride, in
			br := convSpec(name+"_branch1", in, out, 1, stride, 0, 1)
			b.Branch1 = &br
		}
		b.Branch2[0] = convSpec(name+"_branch2a", bin, mid, 1, s, 0, 1)
		b.Branch2[1] = convSpec(name+"_branch2b", mid, mid, 3, 1, dil, dil)
		b.Branch2[2] = convSpec(name+"_branch2c", mid, out, 1, 1, 0, 1)
		blocks[i] = b
	}
	return blocks
}

// Canonical head layer names (test.prototxt).
const (
	RPNConv     = "rpn_conv/3x3"
	RPNClsScore = "rpn_cls_score"
	RPNBboxPred = "rpn_bbox_pred"
	ClsScore    = "cls_score"
	BboxPred    = "bbox_pred"
	ClsEmbed    = "cls_embedding"
	FcAttr      = "fc_attr"
	AttrScore   = "attr_score"
)

// Param is one canonical tensor name and its shape.
type Param struct {
	Name  string
	Shape []int
}

// Params lists every canonical tensor of the network described by c, in
// prototxt order: convolutions "<layer>.weight" [out, in, kh, kw] (and
// ".bias" for the RPN convs), BatchNorm "<bn>.mean" / "<bn>.var" [C], Scale
// "<scale>.weight" / "<scale>.bias" [C], InnerProduct "<layer>.weight"
// [out, in] + ".bias" [out], Embed "cls_embedding.weight" [NumClasses,
// EmbedDim].
func (c Config) Params() []Param {
	var ps []Param
	conv := func(s ConvSpec) {
		ps = append(ps,
			Param{s.Name + ".weight", []int{s.Out, s.In, s.Kernel, s.Kernel}},
			Param{s.BN + ".mean", []int{s.Out}}, Param{s.BN + ".var", []int{s.Out}},
			Param{s.Scale + ".weight", []int{s.Out}}, Param{s.Scale + ".bias", []int{s.Out}})
	}
	biased := func(name string, shape ...int) {
		ps = append(ps, Param{name + ".weight", shape}, Param{name + ".bias", []int{shape[0]}})
	}
	conv(c.Stem())
	for stage := range 4 {
		if stage == 3 { // the RPN reads res4's output; res5 runs after RoI pooling
			c.rpnParams(biased)
		}
		for _, b := range c.Stage(stage) {
			if b.Branch1 != nil {
				conv(*b.Branch1)
			}
			for _, s := range b.Branch2 {
				conv(s)
			}
		}
	}
	feat := c.StageOut(3)
	biased(ClsScore, c.NumClasses, feat)
	biased(BboxPred, 4*c.NumClasses, feat)
	ps = append(ps, Param{ClsEmbed + ".weight", []int{c.NumClasses, c.EmbedDim}})
	biased(FcAttr, c.AttrHidden, feat+c.EmbedDim)
	biased(AttrScore, c.NumAttributes, c.AttrHidden)
	return ps
}

func (c Config) rpnParams(biased func(string, ...int)) {
	a, in := c.NumAnchors(), c.StageOut(2)
	biased(RPNConv, c.RPNWidth, in, 3, 3)
	biased(RPNClsScore, 2*a, c.RPNWidth, 1, 1)
	biased(RPNBboxPred, 4*a, c.RPNWidth, 1, 1)
}

// Shapes is Params as a map.
func (c Config) Shapes() map[string][]int {
	m := make(map[string][]int)
	for _, p := range c.Params() {
		m[p.Name] = p.Shape
	}
	return m
}

// Validate checks that w holds exactly the canonical tensors of c with
// their shapes, all float32 and finite, BatchNorm variances >= 0. source (a file name) is quoted in
// the error, which names every missing, unexpected or mis-shaped key
// (a *weights.KeyMismatchError) or the first bad value.
func (c Config) Validate(source string, w Weights) error {
	if err := c.Check(); err != nil {
		return err
	}
	if err := weights.CheckKeys(source, c.Shapes(), w); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(w)) {
		t := w[k]
		if t.DType != "F32" || len(t.F32) != t.Numel() {
			return fmt.Errorf("detect weights: %s: %s is %s with %d float values for shape %v, want F32", source, k, t.DType, len(t.F32), t.Shape)
		}
		isVar := strings.HasSuffix(k, ".var")
		for i, v := range t.F32 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || (isVar && v < 0) {
				return fmt.Errorf("detect weights: %s: %s[%d] = %v", source, k, i, v)
			}
		}
	}
	return nil
}

// InferConfig reads the sizes of a network from its canonical tensors: the
// block counts from which res<N><block> names are present, the widths from
// the weight shapes. Anchor scales and ratios, strides, the pooled size and
// BNEps are not stored in the weights; they come from base, whose
// NumAnchors must agree with rpn_cls_score. source is quoted in errors. The
// result still has to pass Validate.
func InferConfig(source string, w Weights, base Config) (Config, error) {
	c := base
	dim := func(name string, axis int) (int, error) {
		t, ok := w[name]
		if !ok {
			return 0, fmt.Errorf("detect weights: %s: missing %s", source, name)
		}
		if len(t.Shape) <= axis {
			return 0, fmt.Errorf("detect weights: %s: %s has shape %v, want at least %d dimensions", source, name, t.Shape, axis+1)
		}
		return t.Shape[axis], nil
	}
	var err error
	get := func(dst *int, name string, axis int) {
		if err == nil {
			*dst, err = dim(name, axis)
		}
	}
	get(&c.StemWidth, "conv1.weight", 0)
	for s := range 4 {
		get(&c.Bottleneck[s], BlockName(s, 0)+"_branch2a.weight", 0)
		c.Blocks[s] = 0
		for w[BlockName(s, c.Blocks[s])+"_branch2a.weight"] != nil {
			c.Blocks[s]++
		}
	}
	var out2 int
	get(&out2, "res2a_branch2c.weight", 0)
	get(&c.RPNWidth, RPNConv+".weight", 0)
	var rpnCls int
	get(&rpnCls, RPNClsScore+".weight", 0)
	get(&c.NumClasses, ClsScore+".weight", 0)
	get(&c.NumAttributes, AttrScore+".weight", 0)
	get(&c.EmbedDim, ClsEmbed+".weight", 1)
	get(&c.AttrHidden, FcAttr+".weight", 0)
	if err != nil {
		return c, err
	}
	if c.Bottleneck[0] <= 0 || out2%c.Bottleneck[0] != 0 {
		return c, fmt.Errorf("detect weights: %s: res2a_branch2c has %d outputs, not a multiple of the bottleneck width %d", source, out2, c.Bottleneck[0])
	}
	c.Expansion = out2 / c.Bottleneck[0]
	if rpnCls != 2*c.NumAnchors() {
		return c, fmt.Errorf("detect weights: %s: %s has %d outputs, want 2 x %d anchors", source, RPNClsScore, rpnCls, c.NumAnchors())
	}
	return c, nil
}
