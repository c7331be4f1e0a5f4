package importer

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vlbert/vlbert/internal/weights"
)

// hfConfig is the part of the HF frcnn config.yaml the mapping needs, with
// the values modeling_frcnn.py / detectron2 use when a key is absent.
type hfConfig struct {
	path          string // "" when no config.yaml was found
	PixelMean     []float64
	PixelStd      []float64
	Format        string // INPUT.FORMAT, "BGR" or "RGB"
	MaxPool       bool   // MODEL.MAX_POOL: Caffe's ceil-mode pool1
	BoxRegWeights []float64
	RPNRegWeights []float64
	AnchorSizes   []float64
	AnchorRatios  []float64
	AnchorOffset  float64
	Res5Halve     bool
	ClsAgnostic   bool
	PreNMS        int
	PostNMS       int
	NMSThresh     float64
	MinSize       float64
	assumed       []string // keys that took a default
}

func defaultHFConfig() hfConfig {
	return hfConfig{
		PixelMean: []float64{102.9801, 115.9465, 122.7717}, PixelStd: []float64{1, 1, 1}, Format: "BGR",
		MaxPool: true, BoxRegWeights: []float64{10, 10, 5, 5}, RPNRegWeights: []float64{1, 1, 1, 1},
		AnchorSizes: []float64{64, 128, 256, 512}, AnchorRatios: []float64{0.5, 1, 2},
		PreNMS: 6000, PostNMS: 300, NMSThresh: 0.7, MinSize: 0,
	}
}

// MaxConfigBytes bounds config.yaml.
const MaxConfigBytes = 1 << 20

// readHFConfigBeside reads config.yaml from the directory of the weights
// file; a missing file gives the defaults (listed in the notes).
func readHFConfigBeside(weightsPath string) (hfConfig, error) {
	p := filepath.Join(filepath.Dir(weightsPath), "config.yaml")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		c := defaultHFConfig()
		c.assumed = []string{"all (no config.yaml beside the weights)"}
		return c, nil
	}
	if err != nil {
		return hfConfig{}, fmt.Errorf("detector weights: %w", err)
	}
	return parseHFConfig(b, p)
}

// parseHFConfig reads the keys of the HF frcnn config.yaml (utils.Config:
// keys are looked up case-insensitively, at the top level or under MODEL,
// as detectron2 nests them).
func parseHFConfig(b []byte, name string) (hfConfig, error) {
	c := defaultHFConfig()
	c.path = name
	if len(b) > MaxConfigBytes {
		return c, fmt.Errorf("detector config: %s is %d bytes, more than %d", name, len(b), MaxConfigBytes)
	}
	var root map[string]any
	if err := yaml.Unmarshal(b, &root); err != nil {
		return c, fmt.Errorf("detector config: %s: %w", name, err)
	}
	look := func(path ...string) (any, bool) {
		for _, start := range []map[string]any{root, sub(root, "MODEL")} {
			cur := start
			for i, k := range path {
				v, ok := getFold(cur, k)
				if !ok {
					break
				}
				if i == len(path)-1 {
					return v, true
				}
				cur, _ = v.(map[string]any)
			}
		}
		return nil, false
	}
	var errs []error
	floats := func(dst *[]float64, n int, path ...string) {
		v, ok := look(path...)
		if !ok {
			c.assumed = append(c.assumed, strings.Join(path, "."))
			return
		}
		got, err := floatList(v)
		if err == nil && n > 0 && len(got) != n {
			err = fmt.Errorf("%d values, want %d", len(got), n)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", strings.Join(path, "."), err))
			return
		}
		*dst = got
	}
	number := func(dst *float64, path ...string) {
		var l []float64
		floats(&l, 1, path...)
		if len(l) == 1 {
			*dst = l[0]
		}
	}
	boolean := func(dst *bool, path ...string) {
		v, ok := look(path...)
		if !ok {
			c.assumed = append(c.assumed, strings.Join(path, "."))
			return
		}
		bv, ok := v.(bool)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %v is not a boolean", strings.Join(path, "."), v))
			return
		}
		*dst = bv
	}
	floats(&c.PixelMean, 3, "PIXEL_MEAN")
	floats(&c.PixelStd, 3, "PIXEL_STD")
	if v, ok := look("INPUT", "FORMAT"); ok {
		s, _ := v.(string)
		if s != "BGR" && s != "RGB" {
			errs = append(errs, fmt.Errorf("INPUT.FORMAT: %v, want BGR or RGB", v))
		}
		c.Format = s
	} else {
		c.assumed = append(c.assumed, "INPUT.FORMAT")
	}
	boolean(&c.MaxPool, "MAX_POOL")
	floats(&c.BoxRegWeights, 4, "ROI_BOX_HEAD", "BBOX_REG_WEIGHTS")
	floats(&c.RPNRegWeights, 4, "RPN", "BBOX_REG_WEIGHTS")
	if v, ok := look("ANCHOR_GENERATOR", "SIZES"); ok {
		if l, isList := v.([]any); isList && len(l) == 1 { // one feature map: [[...]]
			v = l[0]
		}
		got, err := floatList(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ANCHOR_GENERATOR.SIZES: %w", err))
		}
		c.AnchorSizes = got
	} else {
		c.assumed = append(c.assumed, "ANCHOR_GENERATOR.SIZES")
	}
	if v, ok := look("ANCHOR_GENERATOR", "ASPECT_RATIOS"); ok {
		if l, isList := v.([]any); isList && len(l) == 1 {
			v = l[0]
		}
		got, err := floatList(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ANCHOR_GENERATOR.ASPECT_RATIOS: %w", err))
		}
		c.AnchorRatios = got
	} else {
		c.assumed = append(c.assumed, "ANCHOR_GENERATOR.ASPECT_RATIOS")
	}
	number(&c.AnchorOffset, "ANCHOR_GENERATOR", "OFFSET")
	boolean(&c.Res5Halve, "ROI_BOX_HEAD", "RES5HALVE")
	boolean(&c.ClsAgnostic, "ROI_BOX_HEAD", "CLS_AGNOSTIC_BBOX_REG")
	var pre, post float64 = float64(c.PreNMS), float64(c.PostNMS)
	number(&pre, "RPN", "PRE_NMS_TOPK_TEST")
	number(&post, "RPN", "POST_NMS_TOPK_TEST")
	c.PreNMS, c.PostNMS = int(pre), int(post)
	number(&c.NMSThresh, "RPN", "NMS_THRESH")
	number(&c.MinSize, "PROPOSAL_GENERATOR", "MIN_SIZE")
	for i, s := range c.PixelStd {
		if !(s > 0) {
			errs = append(errs, fmt.Errorf("PIXEL_STD[%d] = %g, want > 0", i, s))
		}
	}
	for i, r := range append(slices.Clone(c.BoxRegWeights), c.RPNRegWeights...) {
		if !(r > 0) {
			errs = append(errs, fmt.Errorf("BBOX_REG_WEIGHTS value %d = %g, want > 0", i%4, r))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("detector config: %s: %w", name, err)
	}
	return c, nil
}

func sub(m map[string]any, k string) map[string]any {
	v, _ := getFold(m, k)
	s, _ := v.(map[string]any)
	return s
}

func getFold(m map[string]any, k string) (any, bool) {
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v, true
		}
	}
	return nil, false
}

func floatList(v any) ([]float64, error) {
	var out []float64
	add := func(x any) error {
		switch n := x.(type) {
		case int:
			out = append(out, float64(n))
		case float64:
			out = append(out, n)
		default:
			return fmt.Errorf("%v is not a number", x)
		}
		return nil
	}
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if err := add(x); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return out, add(v)
}

// fromHF maps modeling_frcnn.py's GeneralizedRCNN onto the canonical
// network; see the package doc for every step.
func fromHF(path string, sd map[string]*weights.Tensor, hc hfConfig) (*Result, error) {
	if hc.Res5Halve {
		return nil, fmt.Errorf("detector weights: %s: config says ROI_BOX_HEAD.RES5HALVE: true (res5 with stride 2, no dilation), which is not the bottom-up-attention head", path)
	}
	m := &d2Mapper{src: path, sd: sd, used: map[string]bool{}, w: Weights{}}
	cfg := Default()
	if err := widthsFromKeys(path, sd, &cfg); err != nil {
		return nil, err
	}
	if err := m.trunk(&cfg); err != nil {
		return nil, err
	}
	var notes []string
	conv1 := m.w["conv1.weight"]
	if hc.Format == "RGB" { // the canonical network reads BGR: reverse conv1's input channels
		reverseInputChannels(conv1)
		notes = append(notes, "conv1 input channels reversed (config INPUT.FORMAT RGB -> BGR)")
	}
	means := hc.PixelMean
	std := hc.PixelStd
	if hc.Format == "RGB" {
		means = []float64{means[2], means[1], means[0]}
		std = []float64{std[2], std[1], std[0]}
	}
	if std[0] != 1 || std[1] != 1 || std[2] != 1 { // conv(pad((x-m)/s)) = conv_{w/s}(pad(x-m)): exact
		scaleInputChannels(conv1, std)
		notes = append(notes, fmt.Sprintf("PIXEL_STD %v (BGR order) folded into conv1", std))
	}

	// RPN: one objectness logit per anchor -> Caffe's (background, foreground)
	// pair with background 0: softmax([0, x])[1] = sigmoid(x).
	rpnConv, err := m.pair("proposal_generator.rpn_head.conv")
	if err != nil {
		return nil, err
	}
	m.putPair(RPNConv, rpnConv)
	obj, err := m.pair("proposal_generator.rpn_head.objectness_logits")
	if err != nil {
		return nil, err
	}
	a := obj[0].Shape[0]
	m.w[RPNClsScore+".weight"] = padRows(obj[0], a)
	m.w[RPNClsScore+".bias"] = padRows(obj[1], a)
	deltas, err := m.pair("proposal_generator.rpn_head.anchor_deltas")
	if err != nil {
		return nil, err
	}
	m.w[RPNBboxPred+".weight"] = divideDeltaRows(deltas[0], hc.RPNRegWeights)
	m.w[RPNBboxPred+".bias"] = divideDeltaRows(deltas[1], hc.RPNRegWeights)
	notes = append(notes, fmt.Sprintf("rpn: %d objectness logits -> %d (background channels zero); anchor deltas divided by %v", a, 2*a, hc.RPNRegWeights))

	anchors, anchorNote, err := hfAnchors(path, m, hc, a)
	if err != nil {
		return nil, err
	}
	notes = append(notes, anchorNote)

	// Heads: background is the last class in detectron2, the first in Caffe.
	cls, err := m.pair("roi_heads.box_predictor.cls_score")
	if err != nil {
		return nil, err
	}
	k := cls[0].Shape[0] // classes with background
	m.w[ClsScore+".weight"] = lastRowFirst(cls[0], 1)
	m.w[ClsScore+".bias"] = lastRowFirst(cls[1], 1)
	box, err := m.pair("roi_heads.box_predictor.bbox_pred")
	if err != nil {
		return nil, err
	}
	bw, bb, boxNote, err := hfBoxes(path, box, k, hc.BoxRegWeights)
	if err != nil {
		return nil, err
	}
	m.w[BboxPred+".weight"], m.w[BboxPred+".bias"] = bw, bb
	emb, err := m.take("roi_heads.box_predictor.cls_embedding.weight")
	if err != nil {
		return nil, err
	}
	if len(emb.Shape) != 2 || emb.Shape[0] != k {
		return nil, fmt.Errorf("detector weights: %s: roi_heads.box_predictor.cls_embedding.weight has shape %v, want [%d, E]", path, emb.Shape, k)
	}
	m.w[ClsEmbed+".weight"] = lastRowFirst(emb, 1)
	fc, err := m.pair("roi_heads.box_predictor.fc_attr")
	if err != nil {
		return nil, err
	}
	m.putPair(FcAttr, fc)
	attr, err := m.pair("roi_heads.box_predictor.attr_score")
	if err != nil {
		return nil, err
	}
	m.w[AttrScore+".weight"] = lastRowFirst(attr[0], 1)
	m.w[AttrScore+".bias"] = lastRowFirst(attr[1], 1)
	notes = append(notes,
		fmt.Sprintf("cls_score, cls_embedding: %d classes, background moved from last to index 0", k),
		boxNote,
		fmt.Sprintf("attr_score: %d attributes, \"no attribute\" moved from last (modeling_frcnn.py _predict_attrs drops it) to index 0", attr[0].Shape[0]))

	if left := m.leftovers("proposal_generator.anchor_generator.", "pixel_mean", "pixel_std"); len(left) > 0 {
		return nil, fmt.Errorf("detector weights: %s: %d keys not part of the bottom-up-attention network: %s", path, len(left), listSome(left, 8))
	}
	cfg.AnchorScales, cfg.AnchorRatios = anchorScales(hc, a)
	cfg, err = InferConfig(path, m.w, cfg)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(path, m.w); err != nil {
		return nil, err
	}
	f := Flags{
		BoxCoding:       BoxCodingDetectron2,
		DeltaScaleClamp: math.Log(1000.0 / 16),
		Anchors:         anchors,
		PixelMeans:      [3]float32{float32(means[0]), float32(means[1]), float32(means[2])},
		StemPoolCeil:    hc.MaxPool,
		ResizePIL:       true,
		Proposals:       &ProposalParams{PreNMSTopK: hc.PreNMS, PostNMSTopK: hc.PostNMS, NMSThresh: hc.NMSThresh, MinSize: hc.MinSize},
	}
	cfgNote := "config: " + hc.path
	if hc.path == "" {
		cfgNote = "config: no config.yaml beside the weights"
	}
	if len(hc.assumed) > 0 {
		cfgNote += "; defaults assumed for " + strings.Join(hc.assumed, ", ")
	}
	notes = append([]string{cfgNote, fmt.Sprintf("%d PyTorch tensors -> %d canonical tensors", len(m.used), len(m.w))}, notes...)
	notes = append(notes, "flags: detectron2 box coding (no +1, dw/dh clamp), anchors and proposal settings from the file/config, PIL resize; see the importer package doc")
	return &Result{Format: FormatHF, Path: path, Weights: m.w, Config: cfg, Flags: f, Notes: notes}, nil
}

func (m *d2Mapper) pair(prefix string) ([2]*weights.Tensor, error) {
	w, err := m.take(prefix + ".weight")
	if err != nil {
		return [2]*weights.Tensor{}, err
	}
	b, err := m.take(prefix + ".bias")
	if err != nil {
		return [2]*weights.Tensor{}, err
	}
	if len(w.Shape) == 0 || len(b.Shape) != 1 || b.Shape[0] != w.Shape[0] {
		return [2]*weights.Tensor{}, fmt.Errorf("detector weights: %s: %s.weight %v and .bias %v do not match", m.src, prefix, w.Shape, b.Shape)
	}
	return [2]*weights.Tensor{w, b}, nil
}

func (m *d2Mapper) putPair(name string, p [2]*weights.Tensor) {
	m.put(name+".weight", p[0])
	m.put(name+".bias", p[1])
}
