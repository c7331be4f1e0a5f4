package train

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
)

// End-to-end mode (NETWORK.IMAGE_FEAT_PRECOMPUTED false): the datasets load
// and preprocess the images (resize, the flip the boxes got, BGR minus means;
// pretraining also zeroes the pixels of masked regions), and every forward
// runs the ResNet C4 backbone and the res5 RoI head of package visual on the
// padded batch, writes one feature per valid box (IMAGE_FEAT_DIM wide, 2048
// for ResNet-101) into the feature columns of model.Boxes, and lets the model
// run as on precomputed features.
// Backward takes the model's gradient with respect to those features
// (Boxes.FeatGrad) back through the head and the trainable backbone stages.
//
// The CNN's parameters live in the model's arena (model.NewE2E) under the
// original keys image_feature_extractor.backbone.* and
// image_feature_extractor.roi_head_feature_extractor.*, ahead of the model's
// own as in the original named_parameters(); the BatchNorm running statistics
// (buffers in PyTorch) come last. So the optimizer groups (LR_MULT), gradient
// clipping, data-parallel averaging and checkpoints cover them with no special
// case. Frozen parameters (IMAGE_FROZEN_BACKBONE_STAGES, every BatchNorm
// unless IMAGE_FROZEN_BN is false) never get a gradient, so the optimizer skips them as PyTorch skips p.grad None.

// e2eInput is what the CNN needs of one batch besides its boxes.
type e2eInput struct {
	images []*visual.Prepared // [B] preprocessed images (Image, W, H used)
	// masks, when not nil, is [B·NB·maskHW]: VCR's box-relative segmentation
	// masks, multiplied into the res5 output before the average pool.
	masks  []float32
	maskHW int
}

// e2eBatch is a batch that carries images for the CNN.
type e2eBatch interface {
	Batch
	e2e() (*e2eInput, *model.Boxes)
}

// visualConfigHook, when set (tests), edits the network configuration built
// from the config (a smaller network).
var visualConfigHook func(*visual.Config)

// isE2E reports whether cfg runs the CNN on images.
func isE2E(cfg *config.Config) bool { return !cfg.Network.ImageFeatPrecomputed }

// boxStride is the width of a model box row, 4 coordinates and the region
// feature: 4 + NETWORK.IMAGE_FEAT_DIM (0 read as the original's 2048).
func boxStride(cfg *config.Config) int {
	if f := cfg.Network.ImageFeatDim; f > 0 {
		return 4 + f
	}
	return 4 + model.DefaultFeatureDim
}

// visualConfig maps the NETWORK keys of an e2e config to the network, and
// rejects the settings package visual does not implement.
func visualConfig(cfg *config.Config) (visual.Config, error) {
	n := &cfg.Network
	vc := visual.ResNet101C4()
	switch n.ImageNumLayers {
	case 50:
		vc.Blocks = [3]int{3, 4, 6}
	case 101:
		vc.Blocks = [3]int{3, 4, 23}
	case 152:
		vc.Blocks = [3]int{3, 8, 36}
	case 18, 34:
		return visual.Config{}, fmt.Errorf("train: NETWORK.IMAGE_NUM_LAYERS %d fails in the original: its BasicBlock RoI head gives 512-d features, but FastRCNN.obj_downsample takes 2·2048 inputs (common/fast_rcnn.py)", n.ImageNumLayers)
	default:
		return visual.Config{}, fmt.Errorf("train: NETWORK.IMAGE_NUM_LAYERS %d is not supported in e2e mode (50, 101 or 152: bottleneck ResNets)", n.ImageNumLayers)
	}
	vc.StrideIn1x1, vc.C5Dilated = n.ImageStrideIn1x1, n.ImageC5Dilated
	for _, s := range n.ImageFrozenBackboneStages {
		if s < 1 || s > 5 {
			return visual.Config{}, fmt.Errorf("train: NETWORK.IMAGE_FROZEN_BACKBONE_STAGES has stage %d (want 1..5)", s)
		}
	}
	vc.FrozenStages = slices.Clone(n.ImageFrozenBackboneStages)
	// IMAGE_FROZEN_BN false: nn.BatchNorm2d in training mode while training
	// (frozen stages' BN too: the original only drops their requires_grad),
	// running statistics in evaluation (common/fast_rcnn.py, resnet.py).
	vc.TrainBN = !n.ImageFrozenBN
	if n.OutputConv5 {
		return visual.Config{}, fmt.Errorf("train: NETWORK.OUTPUT_CONV5 true fails in the original: FastRCNN.init_weight loads into self.conv5 and forward calls self.img_head, neither of which FastRCNN defines (AttributeError)")
	}
	for i, m := range n.PixelMeans {
		if i >= 3 || float32(m) != visual.PixelMeansBGR[i] {
			return visual.Config{}, fmt.Errorf("train: NETWORK.PIXEL_MEANS %v: only the Caffe means %v are supported", n.PixelMeans, visual.PixelMeansBGR)
		}
	}
	for _, s := range n.PixelStds {
		if s != 1 {
			return visual.Config{}, fmt.Errorf("train: NETWORK.PIXEL_STDS %v: only 1 is supported", n.PixelStds)
		}
	}
	if len(cfg.Scales) < 2 || cfg.Scales[0] <= 0 {
		return visual.Config{}, fmt.Errorf("train: SCALES needs (short side, max long side) in e2e mode, got %v", cfg.Scales)
	}
	if visualConfigHook != nil {
		visualConfigHook(&vc)
	}
	if want := boxStride(cfg) - 4; vc.FeatureDim() != want {
		return visual.Config{}, fmt.Errorf("train: the RoI head gives %d-d features, the model takes %d (NETWORK.IMAGE_FEAT_DIM; set it to %d for this network)", vc.FeatureDim(), want, vc.FeatureDim())
	}
	return vc, nil
}

// cnnKeyPrefix is where the CNN's parameters sit in the model's state_dict.
const cnnKeyPrefix = "image_feature_extractor."

// newE2EModel builds the network of vc and a model whose arena holds its
// parameters (see the comment at the top of this file). The network's
// parameters are views into the model's arena afterwards.
func newE2EModel(mc model.Config, vc visual.Config) (model.Module, *visual.Network, error) {
	net := visual.NewNetwork(vc)
	var before, after []model.ExternalParam
	var aliases []model.Alias
	for _, p := range net.Params.Params {
		e := model.ExternalParam{Name: cnnKeyPrefix + p.Name, Shape: p.Shape}
		if p.Buffer() {
			after = append(after, e)
		} else {
			before = append(before, e)
		}
		// The original's self.head = Sequential(roi_head_feature_extractor, ...)
		// puts every head tensor in the state_dict twice.
		if rest, ok := strings.CutPrefix(p.Name, "roi_head_feature_extractor."); ok {
			aliases = append(aliases, model.Alias{Name: cnnKeyPrefix + "head.0." + rest, Target: e.Name})
		}
	}
	m, err := model.NewE2E(mc, before, after, aliases)
	if err != nil {
		return nil, nil, err
	}
	net.Params.Bind(func(p *visual.Param) ([]float32, []float32) {
		name := cnnKeyPrefix + p.Name
		return m.Base().Params.View(name), m.Base().Params.GradView(name)
	})
	return m, net, nil
}

// initCNN sets the CNN's starting weights: the raw ResNet state_dict
// '{IMAGE_PRETRAINED}-{IMAGE_PRETRAINED_EPOCH:04d}.model' (conv1, bn1,
// layer1..3 into the backbone, layer4 into the RoI head, as the original's
// resnet constructor and FastRCNN.init_weight), or, without one, a seeded
// He initialisation (the original would download torchvision's ImageNet
// ResNet, which vlbert does not).
func initCNN(cfg *config.Config, net *visual.Network, log io.Writer) error {
	if cfg.Network.ImagePretrained == "" {
		net.InitRandom(uint64(cfg.RNGSeed))
		fmt.Fprintf(log, "[Warning] NETWORK.IMAGE_PRETRAINED is empty: the ResNet starts from random weights (the original downloads torchvision's ImageNet ResNet-%d)\n", cfg.Network.ImageNumLayers)
		return nil
	}
	path := fmt.Sprintf("%s-%04d.model", cfg.Network.ImagePretrained, cfg.Network.ImagePretrainedEpoch)
	raw, err := weights.ReadModelWeights(path) // torch.save, or safetensors
	if err != nil {
		return fmt.Errorf("train: NETWORK.IMAGE_PRETRAINED: %w", err)
	}
	sd := make(map[string]visual.Tensor, len(raw))
	for k, t := range raw {
		if t != nil && t.F32 != nil {
			sd[k] = visual.Tensor{Shape: t.Shape, F32: t.F32}
		}
	}
	missing, err := net.LoadStateDict(sd)
	if err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("train: %s lacks %d ResNet tensors, e.g. %s", path, len(missing), strings.Join(missing[:min(4, len(missing))], ", "))
	}
	fmt.Fprintf(log, "ResNet weights from %s\n", path)
	return nil
}

// dropBatchCounters removes BatchNorm's num_batches_tracked from a state_dict
// (the CNN keeps BatchNorm frozen and never reads it), so that original e2e
// checkpoints load strictly.
func dropBatchCounters(sd map[string]*weights.Tensor) map[string]*weights.Tensor {
	for k := range sd {
		if strings.HasSuffix(k, ".num_batches_tracked") {
			delete(sd, k)
		}
	}
	return sd
}

// batchCounters returns the CNN's BatchNorm num_batches_tracked counters by
// state_dict key (image_feature_extractor.…), or nil when the task has no CNN
// or its BatchNorm is frozen (the counters then never move and checkpoints
// carry none, as before).
func batchCounters(task Task) map[string]*int64 {
	e := e2eOf(task)
	if e == nil || e.cnn == nil || !e.cnn.net.Cfg.TrainBN {
		return nil
	}
	out := map[string]*int64{}
	for k, c := range e.cnn.net.BatchCounters() {
		out[cnnKeyPrefix+k] = c
	}
	return out
}

// saveBatchCounters adds the counters to a checkpoint's tensors as int64
// scalars under the original keys.
func saveBatchCounters(task Task, tensors map[string]*weights.Tensor) {
	for k, c := range batchCounters(task) {
		tensors[k] = weights.NewI64([]int64{*c})
	}
}

// loadBatchCounters restores the counters from a state_dict (ours or the
// original's, with or without "module."). A checkpoint without them (trained
// with frozen BN) leaves them at zero; one with a malformed counter is an error.
func loadBatchCounters(task Task, sd map[string]*weights.Tensor, source string) error {
	counters := batchCounters(task)
	if counters == nil {
		return nil
	}
	for k, t := range sd {
		c := counters[strings.TrimPrefix(k, "module.")]
		if c == nil {
			continue
		}
		if t == nil || len(t.I64) != 1 {
			return fmt.Errorf("train: %s: %s is not an integer scalar", source, k)
		}
		*c = t.I64[0]
	}
	return nil
}

// e2eCNN runs the network for the batches of one model.
type e2eCNN struct {
	net      *visual.Network
	batch    []float32 // padded images
	rois     []float32 // [R, 5]
	slots    []int     // b·NB+j of each RoI
	masks    []float32 // [R, maskHW]
	featGrad []float32 // Boxes.FeatGrad of the last forward
	dfeats   []float32 // [R, F], F the RoI head's width (== IMAGE_FEAT_DIM)
	ran      bool      // a forward ran since the last backward
}

// boxValid is the model's validity test of box j of sample b (VCR pads
// with -1 and tests y2, the others pad with -2 and test x1); stride is 4+F.
func boxValid(bx *model.Boxes, b, j, stride int) bool {
	row := (b*bx.NB + j) * stride
	if bx.VCRMask {
		return bx.Data[row+3] > -0.5
	}
	return bx.Data[row] > -1.5
}

// forward computes the features of every valid box of bx from the images
// of in, writes them into bx.Data and points bx.FeatGrad at a buffer the
// model's backward fills.
func (c *e2eCNN) forward(in *e2eInput, bx *model.Boxes) error {
	B, NB := bx.B, bx.NB
	K := c.net.Cfg.FeatureDim()
	stride := 4 + K
	if len(in.images) != B {
		return fmt.Errorf("train: e2e batch has %d images for %d samples", len(in.images), B)
	}
	if len(bx.Data) != B*NB*stride {
		return fmt.Errorf("train: e2e boxes hold %d values, want %d·%d·%d", len(bx.Data), B, NB, stride)
	}
	var H, W int
	c.batch, H, W = visual.PadBatch(c.batch, in.images)
	c.rois, c.slots, c.masks = c.rois[:0], c.slots[:0], c.masks[:0]
	for b := 0; b < B; b++ {
		for j := 0; j < NB; j++ {
			if !boxValid(bx, b, j, stride) {
				continue
			}
			row := bx.Data[(b*NB+j)*stride:]
			c.rois = append(c.rois, float32(b), row[0], row[1], row[2], row[3])
			c.slots = append(c.slots, b*NB+j)
			if in.masks != nil {
				c.masks = append(c.masks, in.masks[(b*NB+j)*in.maskHW:(b*NB+j+1)*in.maskHW]...)
			}
		}
	}
	R := len(c.slots)
	if R == 0 {
		return fmt.Errorf("train: no valid box in the batch")
	}
	var masks []float32
	if in.masks != nil {
		if len(in.masks) != B*NB*in.maskHW {
			return fmt.Errorf("train: e2e masks hold %d values, want %d·%d·%d", len(in.masks), B, NB, in.maskHW)
		}
		if in.maskHW != c.headHW() {
			return fmt.Errorf("train: segmentation masks of %d cells, the RoI head output has %d (DATASET.MASK_SIZE must match it)", in.maskHW, c.headHW())
		}
		masks = c.masks
	}
	feats := c.net.Forward(c.batch, B, H, W, c.rois, R, masks)
	for r, s := range c.slots {
		copy(bx.Data[s*stride+4:(s+1)*stride], feats[r*K:(r+1)*K])
	}
	if cap(c.featGrad) < B*NB*K {
		c.featGrad = make([]float32, B*NB*K)
	}
	c.featGrad = c.featGrad[:B*NB*K]
	clear(c.featGrad)
	bx.FeatGrad = c.featGrad
	c.ran = true
	return nil
}

// headHW is the number of cells of the RoI head's output (14·14 dilated).
func (c *e2eCNN) headHW() int {
	ra := c.net.Cfg.RoIAlign
	if c.net.Cfg.C5Dilated {
		return ra.PooledH * ra.PooledW
	}
	return ((ra.PooledH + 1) / 2) * ((ra.PooledW + 1) / 2)
}

// backward back-propagates the feature gradient the model wrote (after its
// own backward) into the CNN's trainable parameters, accumulating.
func (c *e2eCNN) backward() {
	if !c.ran {
		panic("train: e2e backward without a forward")
	}
	c.ran = false
	K := c.net.Cfg.FeatureDim()
	R := len(c.slots)
	if cap(c.dfeats) < R*K {
		c.dfeats = make([]float32, R*K)
	}
	c.dfeats = c.dfeats[:R*K]
	for r, s := range c.slots {
		copy(c.dfeats[r*K:(r+1)*K], c.featGrad[s*K:(s+1)*K])
	}
	c.net.Backward(c.dfeats)
}

// e2eInference switches an e2e task's CNN to forward-only mode (shared
// activation buffers: evaluation and prediction keep no activations for a
// backward) and returns the function that switches it back.
func e2eInference(task Task) (restore func()) {
	e := e2eOf(task)
	if e == nil || e.cnn == nil {
		return func() {}
	}
	e.cnn.net.SetInference(true)
	return func() { e.cnn.net.SetInference(false) }
}

// e2eTask runs a task's batches through the CNN first; cnn is set when the
// model is built (attachCNN).
type e2eTask struct {
	Task
	cnn *e2eCNN
}

// e2ePredictor is an e2eTask whose task writes test results.
type e2ePredictor struct{ *e2eTask }

// wrapE2E wraps t for an e2e config.
func wrapE2E(t Task) Task {
	e := &e2eTask{Task: t}
	if _, ok := t.(Predictor); ok {
		return e2ePredictor{e}
	}
	return e
}

// e2eOf returns the e2e wrapper of t, or nil.
func e2eOf(t Task) *e2eTask {
	switch w := t.(type) {
	case *e2eTask:
		return w
	case e2ePredictor:
		return w.e2eTask
	}
	return nil
}

func (t *e2eTask) features(b Batch) error {
	if t.cnn == nil {
		return fmt.Errorf("train: e2e task without a CNN (the model was not built by this package)")
	}
	eb, ok := b.(e2eBatch)
	if !ok {
		return fmt.Errorf("train: the %T batch carries no images for the e2e CNN", b)
	}
	in, bx := eb.e2e()
	return t.cnn.forward(in, bx)
}

func (t *e2eTask) Forward(m model.Module, b Batch, mt *Metrics) (float32, map[string]float32, error) {
	if err := t.features(b); err != nil {
		return 0, nil, err
	}
	return t.Task.Forward(m, b, mt)
}

func (t *e2eTask) Backward(m model.Module, dloss float32) {
	t.Task.Backward(m, dloss)
	t.cnn.backward()
}

// initModel forwards the wrapped task's initialisation hook.
func (t *e2eTask) initModel(m model.Module) error {
	if in, ok := t.Task.(interface{ initModel(model.Module) error }); ok {
		return in.initModel(m)
	}
	return nil
}

func (t e2ePredictor) Predict(m model.Module, b Batch) error {
	if err := t.features(b); err != nil {
		return err
	}
	t.cnn.ran = false // no backward follows
	return t.Task.(Predictor).Predict(m, b)
}

func (t e2ePredictor) WriteResults(dir, name, split string) ([]string, error) {
	return t.Task.(Predictor).WriteResults(dir, name, split)
}

// loadImage reads and preprocesses the image at path for a sample whose
// boxes were transformed to imInfo (flipped or not) from a w0 x h0 original;
// the image must have that size. blank makes an unreadable image a zero
// (mean-colour) image of the annotation's size, as the original pretraining
// dataset does.
func loadImage(fs *zipfs.FS, path string, w0, h0 int, imInfo []float32, flipped bool, scales []int, blank bool) (*visual.Prepared, error) {
	img, err := readImage(fs, path)
	if err != nil {
		if !blank {
			return nil, err
		}
		p, err := visual.PreprocessBlank(w0, h0, nil, visual.Transform{MinSize: scales[0], MaxSize: scales[1], Flip: flipped})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return p, checkResized(p, path, imInfo)
	}
	if img.W != w0 || img.H != h0 {
		return nil, fmt.Errorf("%s is %dx%d, its annotation says %dx%d", path, img.W, img.H, w0, h0)
	}
	return prepareImage(img, path, imInfo, flipped, scales)
}

// readImage reads and decodes one image (JPEG, PNG; grayscale and CMYK
// JPEGs become RGB).
func readImage(fs *zipfs.FS, path string) (*visual.RGBImage, error) {
	b, err := fs.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := visual.DecodeImage(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// prepareImage resizes (SCALES), flips and normalises img as the boxes
// were (imInfo, flipped).
func prepareImage(img *visual.RGBImage, path string, imInfo []float32, flipped bool, scales []int) (*visual.Prepared, error) {
	p, err := visual.Preprocess(img, nil, visual.Transform{MinSize: scales[0], MaxSize: scales[1], Flip: flipped})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, checkResized(p, path, imInfo)
}

func checkResized(p *visual.Prepared, path string, imInfo []float32) error {
	p.Boxes = nil
	if len(imInfo) >= 2 && (float32(p.W) != imInfo[0] || float32(p.H) != imInfo[1]) {
		return fmt.Errorf("%s: resized to %dx%d, the boxes were scaled for %gx%g", path, p.W, p.H, imInfo[0], imInfo[1])
	}
	return nil
}

// flipMasks mirrors the columns of n square masks of side s in place (the
// original's masks[:, :, ::-1] for flipped images).
func flipMasks(masks []float32, n, s int) {
	for k := 0; k < n*s; k++ {
		slices.Reverse(masks[k*s : (k+1)*s])
	}
}
