package detect

import (
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/visual"
)

// conv is a convolution with its frozen BatchNorm+Scale folded in (or its own
// bias, for the RPN convolutions): out = conv(x, W) + b.
type conv struct {
	cv visual.Conv2D
	w  []float32 // [K, C, KH, KW]
	b  []float32 // [K]
}

// block is a bottleneck: relu(branch2c(relu(branch2b(relu(branch2a(x))))) + shortcut)
// with shortcut = branch1(x) in the first block of a stage, else x.
type block struct {
	name               string
	branch1            *conv
	branch2a, b2b, b2c conv
}

// Network is the detector with its weights loaded (BatchNorm folded). It
// owns its activation buffers, so one Network runs one image at a time.
type Network struct {
	Cfg importer.Config

	conv1  conv
	stages [4][]block // res2..res5; res5 runs on the RoI-pooled maps

	rpnConv, rpnCls, rpnBbox conv
	anchors                  []float64 // [A, 4] generate_anchors output

	clsW, clsB   []float32 // cls_score [NumClasses, F], [NumClasses]
	bboxW, bboxB []float32 // bbox_pred [4·NumClasses, F]
	embed        []float32 // cls_embedding [NumClasses, EmbedDim]
	attrW, attrB []float32 // fc_attr [AttrHidden, F+EmbedDim]
	attrSW       []float32 // attr_score [NumAttributes, AttrHidden]
	attrSB       []float32

	// Test image size (TEST.SCALES[0], TEST.MAX_SIZE): 600 and 1000 for the
	// released networks; a trained network's own (importer.Flags).
	TestScale, TestMaxSize int

	// Proposal settings (lib/fast_rcnn/config.py, __C.TEST).
	PreNMSTopN, PostNMSTopN int
	RPNNMSThresh            float32
	RPNMinSize              float64

	Behaviour Behaviour

	// HeadChunk is how many RoIs go through res5 together: larger chunks
	// make larger matrix products, each RoI costs about 10 MB of buffers
	// (14·14·(1024 + 3·2048 + 2·512 + 9·512) floats).
	HeadChunk int

	ws buffers
}

// Load builds the network described by cfg from canonical weights (checked
// with cfg.Validate; source names the file in errors) and folds every
// BatchNorm+Scale pair into its convolution:
//
//	y = ((conv(x) − mean)/sqrt(var + eps))·gamma + beta
//	  = conv(x, W·s) + (beta − mean·s),  s = gamma/sqrt(var + eps)
//
// computed in float64 and rounded once. Caffe computes BN and Scale as two
// float32 passes, so folded outputs differ from Caffe's in the last bits only.
func Load(cfg importer.Config, w importer.Weights, source string) (*Network, error) {
	if err := cfg.Validate(source, w); err != nil {
		return nil, err
	}
	n := &Network{Cfg: cfg, TestScale: 600, TestMaxSize: 1000, PreNMSTopN: 6000, PostNMSTopN: 300, RPNNMSThresh: 0.7, RPNMinSize: 16, HeadChunk: 16, Behaviour: CaffeBehaviour()}
	n.conv1 = foldConv(cfg, w, cfg.Stem())
	for s := range 4 {
		for _, bs := range cfg.Stage(s) {
			b := block{name: bs.Name}
			if bs.Branch1 != nil {
				c := foldConv(cfg, w, *bs.Branch1)
				b.branch1 = &c
			}
			b.branch2a = foldConv(cfg, w, bs.Branch2[0])
			b.b2b = foldConv(cfg, w, bs.Branch2[1])
			b.b2c = foldConv(cfg, w, bs.Branch2[2])
			n.stages[s] = append(n.stages[s], b)
		}
	}
	a, in := cfg.NumAnchors(), cfg.StageOut(2)
	n.rpnConv = biasConv(w, importer.RPNConv, in, cfg.RPNWidth, 3, 1)
	n.rpnCls = biasConv(w, importer.RPNClsScore, cfg.RPNWidth, 2*a, 1, 0)
	n.rpnBbox = biasConv(w, importer.RPNBboxPred, cfg.RPNWidth, 4*a, 1, 0)
	n.anchors = generateAnchors(cfg.AnchorBase, cfg.AnchorRatios, cfg.AnchorScales)
	n.clsW, n.clsB = w[importer.ClsScore+".weight"].F32, w[importer.ClsScore+".bias"].F32
	n.bboxW, n.bboxB = w[importer.BboxPred+".weight"].F32, w[importer.BboxPred+".bias"].F32
	n.embed = w[importer.ClsEmbed+".weight"].F32
	n.attrW, n.attrB = w[importer.FcAttr+".weight"].F32, w[importer.FcAttr+".bias"].F32
	n.attrSW, n.attrSB = w[importer.AttrScore+".weight"].F32, w[importer.AttrScore+".bias"].F32
	return n, nil
}

func foldConv(cfg importer.Config, w importer.Weights, s importer.ConvSpec) conv {
	weight := w[s.Name+".weight"].F32
	mean, variance := w[s.BN+".mean"].F32, w[s.BN+".var"].F32
	gamma, beta := w[s.Scale+".weight"].F32, w[s.Scale+".bias"].F32
	c := conv{
		cv: visual.Conv2D{C: s.In, K: s.Out, KH: s.Kernel, KW: s.Kernel, Stride: s.Stride, Pad: s.Pad, Dilation: s.Dilation},
		w:  make([]float32, len(weight)),
		b:  make([]float32, s.Out),
	}
	row := len(weight) / s.Out
	for k := 0; k < s.Out; k++ {
		scale := float64(gamma[k]) / math.Sqrt(float64(variance[k])+cfg.BNEps)
		c.b[k] = float32(float64(beta[k]) - float64(mean[k])*scale)
		for i := k * row; i < (k+1)*row; i++ {
			c.w[i] = float32(float64(weight[i]) * scale)
		}
	}
	return c
}

func biasConv(w importer.Weights, name string, in, out, k, pad int) conv {
	return conv{
		cv: visual.Conv2D{C: in, K: out, KH: k, KW: k, Stride: 1, Pad: pad, Dilation: 1},
		w:  w[name+".weight"].F32,
		b:  w[name+".bias"].F32,
	}
}

// FeatureDim is the length of one region feature (pool5_flat, 2048).
func (n *Network) FeatureDim() int { return n.Cfg.StageOut(3) }

func (n *Network) String() string {
	return fmt.Sprintf("detect.Network(%d classes, %d attributes, res2..res5 blocks %v, feature %d)",
		n.Cfg.NumClasses, n.Cfg.NumAttributes, n.Cfg.Blocks, n.FeatureDim())
}
