package visual

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/kernels"
)

// Config describes the visual network: a ResNet C4 backbone plus the res5 RoI head.
type Config struct {
	// Blocks is the number of bottlenecks in layer1..layer3 ({3, 4, 23} for ResNet-101).
	Blocks [3]int
	// HeadBlocks is the number of bottlenecks of the res5 RoI head (3).
	HeadBlocks int
	// Width is the stem's output channels and layer1's planes (64); stage i of
	// the backbone has Width·2^i planes and the head 8·Width. Tests shrink it.
	Width int
	// StrideIn1x1 puts each stage's stride in the first 1x1 conv (Caffe style,
	// IMAGE_STRIDE_IN_1x1=true).
	StrideIn1x1 bool
	// C5Dilated makes the head stride 1 / dilation 2 with a 14x14 output pooled
	// by AvgPool(14) (IMAGE_C5_DILATED=true); otherwise stride 2 and AvgPool(7).
	C5Dilated bool
	// FrozenStages lists stages without gradient (IMAGE_FROZEN_BACKBONE_STAGES):
	// 1 = conv1/bn1, 2..4 = layer1..layer3, 5 = the RoI head.
	FrozenStages []int
	// TrainBN is IMAGE_FROZEN_BN false: outside inference mode every BN (of
	// frozen stages too, as the original's nn.BatchNorm2d in train()) uses the
	// batch statistics and updates its running ones; the BN weight and bias of
	// trainable stages get gradients. In inference mode (eval) BN uses the
	// running statistics, on the fused path. False: BN frozen everywhere.
	TrainBN bool
	// RoIAlign is the pooling from the stride-16 map to the head.
	RoIAlign RoIAlign
}

// ResNet101C4 is VL-BERT's e2e configuration (ResNet-101, Caffe style, dilated
// res5 head, stages 1 and 2 frozen, 14x14 RoIAlign at 1/16).
func ResNet101C4() Config {
	return Config{Blocks: [3]int{3, 4, 23}, HeadBlocks: 3, Width: 64, StrideIn1x1: true, C5Dilated: true,
		FrozenStages: []int{1, 2}, RoIAlign: DefaultRoIAlign}
}

// FeatureDim is the size of one RoI feature vector (8·Width·4 = 2048).
func (c Config) FeatureDim() int { return 32 * c.Width }

// Network is the e2e visual path of FastRCNN: backbone → RoIAlign → res5 head
// → optional mask gating → average pool. Parameter names are the original
// state_dict keys under image_feature_extractor. (backbone.*,
// roi_head_feature_extractor.*).
type Network struct {
	Cfg    Config
	Params *ParamSet

	Conv1  Conv2D
	W1     *Param
	BN1    bnParams
	Pool   MaxPool
	Layers [3][]*Bottleneck
	Head   []*Bottleneck

	// StageTimer, when not nil, is called after each stage of a forward with
	// its name ("stem", "layer1", "layer2", "layer3", "roialign", "head",
	// "pool") and wall time: for benchmarks and progress reports.
	StageTimer func(stage string, d time.Duration)

	ws        Workspace
	inference bool
	// Shared block buffers in inference mode.
	inferBackbone, inferHead inferBufs

	// Forward state, read by Backward.
	n, h, w         int
	img             []float32
	c1              []float32 // stem after conv1/bn1/relu
	z1              []float32 // stem conv1 output before training-mode bn1
	bnOnes, bnZeros []float32
	h1, w1          int
	argmax          []int32
	pooled          []float32 // stem output after max-pool
	hp, wp          int
	feat            []float32 // layer3 output (body4), owned by the last block
	fh, fw          int
	rois            []float32
	r               int
	roiOut          []float32
	headOut         []float32 // owned by the last head block
	ho, wo          int
	masks, gated    []float32
	feats           []float32
	batch           []float32 // padded images of ForwardPrepared

	// Backward buffers.
	dHead, dRoiOut, dFeat []float32
	stageGrad, tmpGrad    [2][]float32
}

func (c Config) frozen(stage int) bool { return slices.Contains(c.FrozenStages, stage) }

// NewNetwork builds the network with zero weights; load them with
// LoadStateDict (or fill Params.Data directly).
func NewNetwork(cfg Config) *Network {
	if cfg.Width <= 0 || cfg.HeadBlocks <= 0 || cfg.Blocks[0] <= 0 || cfg.Blocks[1] <= 0 || cfg.Blocks[2] <= 0 {
		panic(fmt.Sprintf("visual: invalid network config %+v", cfg))
	}
	ps := newParamSet()
	n := &Network{Cfg: cfg, Params: ps, Pool: MaxPool{Kernel: 3, Stride: 2, Pad: 1}}
	n.Conv1 = Conv2D{C: 3, K: cfg.Width, KH: 7, KW: 7, Stride: 2, Pad: 3, Dilation: 1}
	n.W1 = ps.add("backbone.conv1.weight", !cfg.frozen(1), cfg.Width, 3, 7, 7)
	n.BN1 = addBN(ps, "backbone.bn1", cfg.Width, cfg.TrainBN && !cfg.frozen(1))
	inplanes := cfg.Width
	for i := 0; i < 3; i++ {
		planes := cfg.Width << i
		stride := 1
		if i > 0 {
			stride = 2
		}
		trainable := !cfg.frozen(i + 2)
		for j := 0; j < cfg.Blocks[i]; j++ {
			prefix := fmt.Sprintf("backbone.layer%d.%d", i+1, j)
			if j == 0 {
				// The first block of a stage changes width (and maybe stride): downsample.
				n.Layers[i] = append(n.Layers[i], newBottleneck(ps, prefix, inplanes, planes, stride, 1, cfg.StrideIn1x1, true, trainable, cfg.TrainBN))
			} else {
				n.Layers[i] = append(n.Layers[i], newBottleneck(ps, prefix, inplanes, planes, 1, 1, false, false, trainable, cfg.TrainBN))
			}
			inplanes = planes * 4
		}
	}
	stride, dilation := 2, 1
	if cfg.C5Dilated {
		stride, dilation = 1, 2
	}
	planes := cfg.Width * 8
	for j := 0; j < cfg.HeadBlocks; j++ {
		prefix := fmt.Sprintf("roi_head_feature_extractor.%d", j)
		if j == 0 {
			n.Head = append(n.Head, newBottleneck(ps, prefix, inplanes, planes, stride, dilation, cfg.StrideIn1x1, true, !cfg.frozen(5), cfg.TrainBN))
		} else {
			n.Head = append(n.Head, newBottleneck(ps, prefix, inplanes, planes, 1, dilation, false, false, !cfg.frozen(5), cfg.TrainBN))
		}
		inplanes = planes * 4
	}
	ps.finish()
	return n
}

// Backbone runs conv1 → bn1 → relu → maxpool → layer1..layer3 on images
// [N, 3, H, W] (preprocessed, see Preprocess) and returns the stride-16 map
// body4 [N, 4·4·Width, FH, FW] (1024 channels), owned by the network.
func (n *Network) Backbone(images []float32, N, H, W int) (feat []float32, FH, FW int) {
	checkLen("images", len(images), N*3*H*W)
	n.img, n.n, n.h, n.w = images, N, H, W
	t0 := time.Now()
	n.h1, n.w1 = n.Conv1.OutSize(H, W)
	n.c1 = grow(n.c1, N*n.Conv1.K*n.h1*n.w1)
	n.setBNTraining()
	if n.bnTraining() {
		convTrainBN(&n.ws, n.c1, &n.z1, images, n.W1, n.Conv1, n.BN1, &n.bnOnes, &n.bnZeros, nil, true, N, H, W)
	} else {
		var s, b []float32
		convBN(&n.ws, n.c1, images, n.W1, n.Conv1, n.BN1, &s, &b, nil, true, N, H, W)
	}
	n.hp, n.wp = n.Pool.OutSize(n.h1, n.w1)
	n.pooled = grow(n.pooled, N*n.Conv1.K*n.hp*n.wp)
	if cap(n.argmax) < len(n.pooled) {
		n.argmax = make([]int32, len(n.pooled))
	}
	n.argmax = n.argmax[:len(n.pooled)]
	MaxPoolForward(n.pooled, n.argmax, n.c1, n.Pool, N*n.Conv1.K, n.h1, n.w1)
	t0 = n.stageDone("stem", t0)
	x, h, w := n.pooled, n.hp, n.wp
	k := 0
	first := n.firstTrainableStage()
	for i, layer := range n.Layers {
		// Backward never enters a stage below the first trainable one, so
		// its blocks share buffers as in inference mode; the first trainable
		// block's input (the last shared output) stays valid until the next
		// forward.
		share := n.inference || i+2 < first
		for _, blk := range layer {
			x, h, w = n.forwardBlock(blk, share, &n.inferBackbone, &k, x, N, h, w)
		}
		t0 = n.stageDone(layerNames[i], t0)
	}
	n.feat, n.fh, n.fw = x, h, w
	return x, h, w
}

// Forward computes one feature vector per RoI.
//
//	images [N, 3, H, W], preprocessed
//	rois   [R, 5] = (batch index, x1, y1, x2, y2) in preprocessed-image pixels
//	masks  [R, HO·WO] (14x14 for the dilated head) or nil: the VCR segmentation
//	       masks, multiplied into the head output before the average pool
//
// It returns feats [R, FeatureDim()] (2048), owned by the network until the next
// Forward. The network keeps references to images, rois and masks for Backward.
func (n *Network) Forward(images []float32, N, H, W int, rois []float32, R int, masks []float32) []float32 {
	feat, FH, FW := n.Backbone(images, N, H, W)
	return n.forwardHead(feat, N, FH, FW, rois, R, masks)
}

// ForwardPrepared pads the images into one batch (PadBatch), builds the RoIs from
// their boxes (RoIs) and runs Forward: one feature vector per box, in image then
// box order. masks are as for Forward.
func (n *Network) ForwardPrepared(images []*Prepared, masks []float32) []float32 {
	var H, W int
	n.batch, H, W = PadBatch(n.batch, images)
	rois := RoIs(images)
	return n.Forward(n.batch, len(images), H, W, rois, len(rois)/5, masks)
}

// ForwardFromFeatures runs RoIAlign, the head, mask gating and the average pool on
// a body4 map [N, 1024, FH, FW] computed elsewhere; a following Backward reaches
// only the head.
func (n *Network) ForwardFromFeatures(feat []float32, N, FH, FW int, rois []float32, R int, masks []float32) []float32 {
	n.img = nil
	return n.forwardHead(feat, N, FH, FW, rois, R, masks)
}

func (n *Network) forwardHead(feat []float32, N, FH, FW int, rois []float32, R int, masks []float32) []float32 {
	C := n.Head[0].Conv1.C
	checkLen("body4", len(feat), N*C*FH*FW)
	n.feat, n.n, n.fh, n.fw = feat, N, FH, FW
	n.rois, n.r, n.masks = rois, R, masks
	n.setBNTraining()
	ra := n.Cfg.RoIAlign
	P := ra.PooledH * ra.PooledW
	n.roiOut = grow(n.roiOut, R*C*P)
	n.feats = grow(n.feats, R*n.Cfg.FeatureDim())
	if R == 0 {
		return n.feats
	}
	t0 := time.Now()
	RoIAlignForward(n.roiOut, feat, rois, ra, N, C, FH, FW, R)
	t0 = n.stageDone("roialign", t0)
	x, h, w := n.roiOut, ra.PooledH, ra.PooledW
	k := 0
	for _, blk := range n.Head {
		x, h, w = n.forwardBlock(blk, n.inference, &n.inferHead, &k, x, R, h, w)
	}
	n.headOut, n.ho, n.wo = x, h, w
	t0 = n.stageDone("head", t0)
	K := n.Cfg.FeatureDim()
	pooledIn := x
	if masks != nil {
		checkLen("masks", len(masks), R*h*w)
		n.gated = grow(n.gated, len(x))
		applyMask(n.gated, x, masks, R, K, h*w)
		pooledIn = n.gated
	}
	AvgPoolForward(n.feats, pooledIn, R*K, h*w)
	n.stageDone("pool", t0)
	return n.feats
}

var layerNames = [3]string{"layer1", "layer2", "layer3"}

// stageDone reports the stage that started at t0 to the StageTimer, if any,
// and returns the start of the next stage.
func (n *Network) stageDone(stage string, t0 time.Time) time.Time {
	if n.StageTimer == nil {
		return t0
	}
	now := time.Now()
	n.StageTimer(stage, now.Sub(t0))
	return now
}

// applyMask sets out[r, k, i] = x[r, k, i]·mask[r, i].
func applyMask(out, x, mask []float32, R, K, HW int) {
	for r := 0; r < R; r++ {
		m := mask[r*HW : (r+1)*HW]
		for k := 0; k < K; k++ {
			o := (r*K + k) * HW
			for i, mv := range m {
				out[o+i] = x[o+i] * mv
			}
		}
	}
}

// SetInference switches the network to forward-only mode: blocks share their
// activation buffers (two alternating output buffers for the backbone and two for
// the head, one pair of scratch buffers) instead of keeping them for Backward,
// which cuts a 600x1000 forward's memory several-fold. Backward panics in this
// mode. The body4 map returned by Backbone stays valid through
// ForwardFromFeatures.
func (n *Network) SetInference(on bool) {
	n.inference = on
	if !on {
		n.ws.int8 = nil // int8 is for inference only
	}
}

// inferBufs are the buffers that blocks share in inference mode.
type inferBufs struct {
	out    [2][]float32
	y1, y2 []float32
}

// forwardBlock runs one block; with share (inference mode, frozen stages) it
// lends the block the shared buffers and takes them back afterwards (k
// alternates the output buffer, so a block never writes over its own input).
func (n *Network) forwardBlock(blk *Bottleneck, share bool, bufs *inferBufs, k *int, x []float32, N, H, W int) ([]float32, int, int) {
	if !share {
		return blk.Forward(&n.ws, x, N, H, W)
	}
	blk.y1, blk.y2, blk.out = bufs.y1, bufs.y2, bufs.out[*k]
	out, oh, ow := blk.Forward(&n.ws, x, N, H, W)
	bufs.y1, bufs.y2, bufs.out[*k] = blk.y1, blk.y2, blk.out
	blk.y1, blk.y2, blk.out, blk.x = nil, nil, nil, nil
	*k ^= 1
	return out, oh, ow
}

// firstTrainableStage is the smallest backbone stage (1..4) with a gradient, or 5
// when the whole backbone is frozen.
func (n *Network) firstTrainableStage() int {
	for s := 1; s <= 4; s++ {
		if !n.Cfg.frozen(s) {
			return s
		}
	}
	return 5
}

// Backward takes dfeats [R, FeatureDim()], the gradient of the last Forward's
// output, and ACCUMULATES the gradients of the trainable parameters (call
// Params.AllocGrads first). Frozen stages are skipped entirely: no gradient is
// propagated below the first trainable stage, and never into the images.
// After ForwardFromFeatures only the head gets gradients.
func (n *Network) Backward(dfeats []float32) {
	if n.Params.Grad == nil {
		panic("visual: Backward before Params.AllocGrads")
	}
	if n.inference {
		panic("visual: Backward in inference mode")
	}
	R, K := n.r, n.Cfg.FeatureDim()
	checkLen("dfeats", len(dfeats), R*K)
	if R == 0 {
		return // every gradient is zero
	}
	first := n.firstTrainableStage()
	needBackbone := first <= 4 && n.img != nil

	// Average pool and mask gating, then the head.
	hw := n.ho * n.wo
	n.dHead = grow(n.dHead, R*K*hw)
	AvgPoolBackward(n.dHead, dfeats, R*K, hw)
	if n.masks != nil {
		applyMask(n.dHead, n.dHead, n.masks, R, K, hw)
	}
	var dRoi []float32
	if needBackbone {
		n.dRoiOut = grow(n.dRoiOut, len(n.roiOut))
		dRoi = n.dRoiOut
	}
	n.backwardBlocks(n.Head, n.dHead, dRoi, needBackbone)
	if !needBackbone {
		return
	}
	C := n.Head[0].Conv1.C
	n.dFeat = grow(n.dFeat, n.n*C*n.fh*n.fw)
	RoIAlignBackward(n.dFeat, n.dRoiOut, n.rois, n.Cfg.RoIAlign, n.n, C, n.fh, n.fw, R)

	// layer3 → layer1, stopping at the first trainable stage.
	g, k := n.dFeat, 0
	for i := 2; i >= 0; i-- {
		stage := i + 2
		if stage < first {
			return
		}
		// The first trainable stage needs no input gradient unless the stem trains.
		needIn := stage > first || first == 1
		var dst []float32
		if needIn {
			n.stageGrad[k] = grow(n.stageGrad[k], len(n.Layers[i][0].x))
			dst = n.stageGrad[k]
			k ^= 1
		}
		n.backwardBlocks(n.Layers[i], g, dst, needIn)
		if !needIn {
			return
		}
		g = dst
	}
	// Stem: maxpool → relu → bn1 → conv1 (weight gradient only).
	n.tmpGrad[0] = grow(n.tmpGrad[0], len(n.c1))
	dc1 := n.tmpGrad[0]
	MaxPoolBackward(dc1, g, n.argmax, n.n*n.Conv1.K, n.h1, n.w1, n.hp, n.wp)
	kernels.ReLUBackward(dc1, n.c1, dc1)
	if n.bnTraining() {
		n.BN1.train().Backward(dc1, n.BN1.Weight.Grad, n.BN1.Bias.Grad, dc1, n.z1, n.BN1.batch, n.n, n.Conv1.K, n.h1*n.w1)
	} else {
		s, b := make([]float32, n.Conv1.K), make([]float32, n.Conv1.K)
		n.BN1.frozen().ScaleShift(s, b)
		BatchNormBackward(dc1, dc1, s, n.n, n.Conv1.K, n.h1*n.w1)
	}
	Conv2DBackward(nil, n.W1.Grad, dc1, n.img, n.W1.Data, n.ws.colFor(n.Conv1, n.h, n.w), n.Conv1, n.n, n.h, n.w)
}

// bnTraining reports whether BN runs in training mode (Config.TrainBN outside
// inference mode).
func (n *Network) bnTraining() bool { return n.Cfg.TrainBN && !n.inference }

// setBNTraining passes the BN mode to every block before a forward.
func (n *Network) setBNTraining() {
	on := n.bnTraining()
	for _, layer := range n.Layers {
		for _, blk := range layer {
			blk.bnTraining = on
		}
	}
	for _, blk := range n.Head {
		blk.bnTraining = on
	}
}

// backwardBlocks runs the blocks backward from dout; the first block's input
// gradient goes to dinp (skipped when needIn is false). Intermediate gradients
// alternate between the two tmpGrad buffers, which alias neither dout nor dinp.
func (n *Network) backwardBlocks(blocks []*Bottleneck, dout, dinp []float32, needIn bool) {
	g, k := dout, 0
	for j := len(blocks) - 1; j >= 0; j-- {
		blk := blocks[j]
		var dst []float32
		if j > 0 {
			n.tmpGrad[k] = grow(n.tmpGrad[k], len(blk.x))
			dst = n.tmpGrad[k]
			k ^= 1
		} else if needIn {
			dst = dinp[:len(blk.x)]
		}
		blk.Backward(&n.ws, dst, g)
		g = dst
	}
}

// Tensor is a float32 tensor from a checkpoint (weights.Tensor has the same fields).
type Tensor struct {
	Shape []int
	F32   []float32
}

// CanonicalKey maps a checkpoint key to the network's parameter name. It accepts
// VL-BERT checkpoints ("module." optional, then "image_feature_extractor."
// with backbone.*, roi_head_feature_extractor.* or its duplicate head.0.*) and
// the raw ResNet checkpoint of the original (conv1/bn1/layer1..3 → backbone.*,
// layer4.* → roi_head_feature_extractor.*, as FastRCNN.init_weight does). Keys
// of other modules and num_batches_tracked give ok=false.
func CanonicalKey(key string) (name string, ok bool) {
	k := strings.TrimPrefix(key, "module.")
	if strings.HasSuffix(k, ".num_batches_tracked") {
		return "", false
	}
	if rest, found := strings.CutPrefix(k, "image_feature_extractor."); found {
		switch {
		case strings.HasPrefix(rest, "backbone."), strings.HasPrefix(rest, "roi_head_feature_extractor."):
			return rest, true
		case strings.HasPrefix(rest, "head.0."):
			return "roi_head_feature_extractor." + strings.TrimPrefix(rest, "head.0."), true
		}
		return "", false
	}
	for _, p := range []string{"conv1.", "bn1.", "layer1.", "layer2.", "layer3."} {
		if strings.HasPrefix(k, p) {
			return "backbone." + k, true
		}
	}
	if rest, found := strings.CutPrefix(k, "layer4."); found {
		return "roi_head_feature_extractor." + rest, true
	}
	return "", false
}

// LoadStateDict copies every tensor whose key maps (CanonicalKey) to a network
// parameter, checking shapes, and returns the names of the parameters that no
// key provided. A shape mismatch is an error naming the key.
func (n *Network) LoadStateDict(sd map[string]Tensor) (missing []string, err error) {
	loaded := map[string]bool{}
	keys := make([]string, 0, len(sd))
	for k := range sd {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name, ok := CanonicalKey(k)
		if !ok || n.Params.Get(name) == nil {
			continue
		}
		t := sd[k]
		if err := n.Params.Set(name, t.Shape, t.F32); err != nil {
			return nil, fmt.Errorf("visual: checkpoint key %q: %w", k, err)
		}
		loaded[name] = true
	}
	for _, p := range n.Params.Params {
		if !loaded[p.Name] {
			missing = append(missing, p.Name)
		}
	}
	return missing, nil
}
