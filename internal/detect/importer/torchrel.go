package importer

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/vlbert/vlbert/internal/weights"
)

// ReadTorchRelease reads a torch.save detector checkpoint: the HF
// unc-nlp/frcnn-vg-finetuned pytorch_model.bin (keys of
// examples/research_projects/lxmert/modeling_frcnn.py, GeneralizedRCNN) or a
// MILVLG bottom-up-attention.pytorch bua-caffe-frcn-r101*.pth (keys of
// bua/caffe/modeling, possibly under detectron2's {"model": ...}). The two
// are told apart by their attribute-head key names.
func ReadTorchRelease(path string) (*Result, error) {
	ck, err := weights.ReadTorchNested(path, "model", "state_dict")
	if err != nil {
		return nil, err
	}
	sd := weights.StripModulePrefix(ck.StateDict)
	switch {
	case sd["roi_heads.box_predictor.cls_embedding.weight"] != nil:
		hc, err := readHFConfigBeside(path)
		if err != nil {
			return nil, err
		}
		return fromHF(path, sd, hc)
	case sd["roi_heads.box_predictor.cls_embed.weight"] != nil:
		return fromMILVLG(path, sd)
	}
	return nil, fmt.Errorf("detector weights: %s: a PyTorch checkpoint with %d tensors but neither roi_heads.box_predictor.cls_embedding.weight (HF frcnn-vg-finetuned) nor roi_heads.box_predictor.cls_embed.weight (MILVLG bua-caffe); first keys: %s",
		path, len(sd), strings.Join(ck.Keys[:min(5, len(ck.Keys))], ", "))
}

// d2Mapper moves detectron2-named tensors to canonical names, remembering
// which source keys it used so that leftovers can be reported.
type d2Mapper struct {
	src  string
	sd   map[string]*weights.Tensor
	used map[string]bool
	w    Weights
}

func (m *d2Mapper) take(key string) (*weights.Tensor, error) {
	t, ok := m.sd[key]
	if !ok {
		return nil, fmt.Errorf("detector weights: %s: missing %s", m.src, key)
	}
	if !t.IsFloat() {
		return nil, fmt.Errorf("detector weights: %s: %s is %s, want a floating-point tensor", m.src, key, t.DType)
	}
	m.used[key] = true
	return t, nil
}

func (m *d2Mapper) put(name string, t *weights.Tensor) {
	m.w[name] = weights.NewF32(slices.Clone(t.F32), t.Shape...)
}

// conv maps a detectron2 Conv2d with a BatchNorm (.norm) onto a canonical
// convolution and its BatchNorm + Scale: PyTorch's BatchNorm2d(eps 1e-5) is
// (x - running_mean) / sqrt(running_var + eps) * weight + bias, which is
// Caffe's BatchNorm (eps 1e-5) followed by Scale.
func (m *d2Mapper) conv(prefix string, s ConvSpec) error {
	for _, p := range [][2]string{
		{prefix + ".weight", s.Name + ".weight"},
		{prefix + ".norm.running_mean", s.BN + ".mean"},
		{prefix + ".norm.running_var", s.BN + ".var"},
		{prefix + ".norm.weight", s.Scale + ".weight"},
		{prefix + ".norm.bias", s.Scale + ".bias"},
	} {
		t, err := m.take(p[0])
		if err != nil {
			return err
		}
		m.put(p[1], t)
	}
	if _, ok := m.sd[prefix+".norm.num_batches_tracked"]; ok { // BatchNorm2d's counter: not a weight
		m.used[prefix+".norm.num_batches_tracked"] = true
	}
	return nil
}

// trunk maps the stem, backbone.res2-4 and roi_heads.res5 for a network of
// cfg's depth (block counts are found from the keys).
func (m *d2Mapper) trunk(cfg *Config) error {
	if err := m.conv("backbone.stem.conv1", cfg.Stem()); err != nil {
		return err
	}
	for s := range 4 {
		prefix := fmt.Sprintf("backbone.res%d.", s+2)
		if s == 3 {
			prefix = "roi_heads.res5."
		}
		n := 0
		for m.sd[fmt.Sprintf("%s%d.conv1.weight", prefix, n)] != nil {
			n++
		}
		if n == 0 {
			return fmt.Errorf("detector weights: %s: no %s0.conv1.weight", m.src, prefix)
		}
		cfg.Blocks[s] = n
	}
	for s := range 4 {
		prefix := fmt.Sprintf("backbone.res%d.", s+2)
		if s == 3 {
			prefix = "roi_heads.res5."
		}
		for i, b := range cfg.Stage(s) {
			p := fmt.Sprintf("%s%d.", prefix, i)
			if b.Branch1 != nil {
				if err := m.conv(p+"shortcut", *b.Branch1); err != nil {
					return err
				}
			}
			for j, c := range b.Branch2 {
				if err := m.conv(fmt.Sprintf("%sconv%d", p, j+1), c); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// leftovers lists source keys that were not mapped (ignoring the ones in
// ignore, matched as prefixes).
func (m *d2Mapper) leftovers(ignore ...string) []string {
	var out []string
outer:
	for k := range m.sd {
		if m.used[k] {
			continue
		}
		for _, p := range ignore {
			if strings.HasPrefix(k, p) {
				continue outer
			}
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// widthsFromKeys fills the Config sizes that Stage() needs before the trunk
// is mapped (block counts are filled by trunk).
func widthsFromKeys(src string, sd map[string]*weights.Tensor, cfg *Config) error {
	dim0 := func(key string) (int, error) {
		t, ok := sd[key]
		if !ok || len(t.Shape) == 0 {
			return 0, fmt.Errorf("detector weights: %s: missing %s", src, key)
		}
		return t.Shape[0], nil
	}
	var err error
	if cfg.StemWidth, err = dim0("backbone.stem.conv1.weight"); err != nil {
		return err
	}
	for s := range 4 {
		key := fmt.Sprintf("backbone.res%d.0.conv1.weight", s+2)
		if s == 3 {
			key = "roi_heads.res5.0.conv1.weight"
		}
		if cfg.Bottleneck[s], err = dim0(key); err != nil {
			return err
		}
	}
	out2, err := dim0("backbone.res2.0.conv3.weight")
	if err != nil {
		return err
	}
	if cfg.Bottleneck[0] == 0 || out2%cfg.Bottleneck[0] != 0 {
		return fmt.Errorf("detector weights: %s: res2 output width %d is not a multiple of its bottleneck width %d", src, out2, cfg.Bottleneck[0])
	}
	cfg.Expansion = out2 / cfg.Bottleneck[0]
	return nil
}

// fromMILVLG maps bua/caffe/modeling's names. Its layout is Caffe's (the
// checkpoint was converted from the caffemodel): class 0 is background,
// bbox_pred has a row block per class including background, the RPN has 2A
// objectness channels viewed as (2, A) (rpn_outputs.py,
// predict_objectness_logits), box regression weights are (1, 1, 1, 1)
// (configs/caffe/test-caffe-r101.yaml) and box coding keeps the +1 widths
// (box_regression.py, TO_REMOVE = 1).
func fromMILVLG(path string, sd map[string]*weights.Tensor) (*Result, error) {
	m := &d2Mapper{src: path, sd: sd, used: map[string]bool{}, w: Weights{}}
	cfg := Default()
	if err := widthsFromKeys(path, sd, &cfg); err != nil {
		return nil, err
	}
	if err := m.trunk(&cfg); err != nil {
		return nil, err
	}
	for _, p := range [][2]string{
		{"proposal_generator.rpn_head.conv", RPNConv},
		{"proposal_generator.rpn_head.objectness_logits", RPNClsScore},
		{"proposal_generator.rpn_head.anchor_deltas", RPNBboxPred},
		{"roi_heads.box_predictor.cls_score", ClsScore},
		{"roi_heads.box_predictor.bbox_pred", BboxPred},
		{"roi_heads.box_predictor.attr_linear1", FcAttr},
		{"roi_heads.box_predictor.attr_linear2", AttrScore},
	} {
		for _, suffix := range []string{".weight", ".bias"} {
			t, err := m.take(p[0] + suffix)
			if err != nil {
				return nil, err
			}
			m.put(p[1]+suffix, t)
		}
	}
	t, err := m.take("roi_heads.box_predictor.cls_embed.weight")
	if err != nil {
		return nil, err
	}
	m.put(ClsEmbed+".weight", t)
	if left := m.leftovers("proposal_generator.anchor_generator.", "pixel_mean", "pixel_std"); len(left) > 0 {
		return nil, fmt.Errorf("detector weights: %s: %d keys not part of the bottom-up-attention network: %s", path, len(left), listSome(left, 8))
	}
	cfg, err = InferConfig(path, m.w, cfg)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(path, m.w); err != nil {
		return nil, err
	}
	f := CaffeFlags()
	// BUABox2BoxTransform clamps dw, dh at log(1000/16) (box_regression.py,
	// _DEFAULT_SCALE_CLAMP); Caffe's bbox_transform_inv does not.
	f.DeltaScaleClamp = math.Log(1000.0 / 16)
	return &Result{Format: FormatMILVLG, Path: path, Weights: m.w, Config: cfg, Flags: f, Notes: []string{
		fmt.Sprintf("%d PyTorch tensors -> %d canonical tensors by name (detectron2 conv/norm -> Caffe conv/bn/scale; cls_embed, attr_linear1/2 -> cls_embedding, fc_attr, attr_score); layout already Caffe's", len(m.used), len(m.w)),
		"flag: box deltas clamped at log(1000/16) before exp, as BUABox2BoxTransform does",
	}}, nil
}

func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", ... (%d more)", len(items)-n)
}
