package onnx

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Task is the original module an exported graph reproduces.
type Task string

const (
	TaskVQA     Task = "vqa"     // vqa/modules/resnet_vlbert_for_vqa.py ResNetVLBERT
	TaskRefCOCO Task = "refcoco" // refcoco/modules/resnet_vlbert_for_refcoco.py ResNetVLBERT
	TaskVCR     Task = "vcr"     // vcr/modules/resnet_vlbert_for_vcr.py ResNetVLBERT
)

// Spec is the network an export builds: NETWORK.VLBERT's sizes and the task head.
type Spec struct {
	Task         Task
	Hidden       int // hidden_size (== visual_size == IMAGE_FINAL_DIM)
	Layers       int // num_hidden_layers
	Heads        int // num_attention_heads
	Intermediate int // intermediate_size
	Vocab        int // vocab_size
	MaxPositions int // max_position_embeddings
	TypeVocab    int // type_vocab_size
	Pooler       bool
	FeatureDim   int // width of a region feature, NETWORK.IMAGE_FEAT_DIM (2048 in the original)
	// E2E, when set, puts the visual network in the graph (the e2e configs,
	// IMAGE_FEAT_PRECOMPUTED false): the inputs are images and boxes instead of
	// boxes with precomputed features.
	E2E         *VisualNet
	AnswerVocab int      // VQA: DATASET.ANSWER_VOCAB_SIZE
	Answers     []string // VQA: the answer list (metadata), empty or AnswerVocab long
	Version     string   // vlbert's version (metadata)
}

// Options are the export's choices.
type Options struct {
	Opset int64 // 0 means 17; only 17 (LayerNormalization) is supported
	Int8  bool  // the encoder's Linear layers as QuantizeLinear/DequantizeLinear pairs
}

// Validate reports the first impossible size.
func (s *Spec) Validate() error {
	for _, p := range []struct {
		name string
		v    int
	}{{"hidden_size", s.Hidden}, {"num_hidden_layers", s.Layers}, {"num_attention_heads", s.Heads},
		{"intermediate_size", s.Intermediate}, {"vocab_size", s.Vocab}, {"max_position_embeddings", s.MaxPositions},
		{"type_vocab_size", s.TypeVocab}, {"feature dim", s.FeatureDim}} {
		if p.v <= 0 {
			return fmt.Errorf("onnx: %s = %d, want > 0", p.name, p.v)
		}
	}
	if s.Hidden%s.Heads != 0 {
		return fmt.Errorf("onnx: hidden_size %d is not a multiple of num_attention_heads %d", s.Hidden, s.Heads)
	}
	if v := s.E2E; v != nil {
		if v.Width <= 0 || v.HeadBlocks <= 0 || v.Blocks[0] <= 0 || v.Blocks[1] <= 0 || v.Blocks[2] <= 0 || v.PooledH <= 0 || v.PooledW <= 0 || !(v.SpatialScale > 0) {
			return fmt.Errorf("onnx: invalid visual network %+v", *v)
		}
		if 32*v.Width != s.FeatureDim {
			return fmt.Errorf("onnx: the visual network's %d-d features do not fit obj_downsample's %d (NETWORK.IMAGE_FEAT_DIM)", 32*v.Width, s.FeatureDim)
		}
	}
	if s.TypeVocab < 3 {
		return fmt.Errorf("onnx: type_vocab_size %d, want >= 3 (type 2 marks visual tokens)", s.TypeVocab)
	}
	switch s.Task {
	case TaskVQA:
		if s.AnswerVocab <= 0 {
			return fmt.Errorf("onnx: DATASET.ANSWER_VOCAB_SIZE = %d, want > 0", s.AnswerVocab)
		}
		if len(s.Answers) != 0 && len(s.Answers) != s.AnswerVocab {
			return fmt.Errorf("onnx: %d answers for a classifier of %d", len(s.Answers), s.AnswerVocab)
		}
	case TaskRefCOCO:
	case TaskVCR:
		if !s.Pooler {
			return fmt.Errorf("onnx: the VCR head reads the pooler: with_pooler must be true")
		}
	default:
		return fmt.Errorf("onnx: task %q is not exportable (want vqa, refcoco or vcr)", s.Task)
	}
	return nil
}

// IRVersion is the ONNX IR version written (ONNX 1.10-1.12 read it).
const IRVersion = 8

// exporter builds one model.
type exporter struct {
	b    *builder
	spec Spec
	opt  Options
}

// Build makes the ONNX model of spec with the checkpoint tensors w (keys as in the
// original state_dict, without "module."). Every tensor the graph needs must be
// present with the shape spec implies; tensors it does not need are ignored.
func Build(spec Spec, w Weights, opt Options) (*Model, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if opt.Opset == 0 {
		opt.Opset = 17
	}
	if opt.Opset != 17 {
		return nil, fmt.Errorf("onnx: opset %d is not supported: the graph uses LayerNormalization (opset 17), and opset 17 is the newest Debian's onnx 1.12 checks", opt.Opset)
	}
	e := &exporter{b: newBuilder(w), spec: spec, opt: opt}
	switch spec.Task {
	case TaskVQA:
		e.vqa()
	case TaskRefCOCO:
		e.refcoco()
	case TaskVCR:
		e.vcr()
	}
	if e.b.err != nil {
		return nil, e.b.err
	}
	e.b.g.Name = "vlbert_" + string(spec.Task)
	e.b.g.DocString = docString(spec.Task)
	if spec.E2E != nil {
		e.b.g.DocString += " E2E: the ResNet-101 C4 backbone, RoIAlign and res5 head are in the graph: inputs image [B,3,H,W] and boxes [B,R,4] " +
			"(VCR: [B,R,6] x1,y1,x2,y2,score,class, and masks [B,R,14,14]) instead of boxes with features."
	}
	meta := []StringStringKV{
		{"vlbert_version", spec.Version},
		{"task", string(spec.Task)},
		{"hidden_size", strconv.Itoa(spec.Hidden)},
		{"num_hidden_layers", strconv.Itoa(spec.Layers)},
		{"int8", strconv.FormatBool(opt.Int8)},
		{"visual_path", map[bool]string{true: "e2e", false: "precomputed"}[spec.E2E != nil]},
	}
	if len(spec.Answers) > 0 {
		var a strings.Builder
		enc := json.NewEncoder(&a)
		enc.SetEscapeHTML(false) // "<unk>" stays readable
		if err := enc.Encode(spec.Answers); err != nil {
			return nil, err
		}
		meta = append(meta, StringStringKV{"answers", strings.TrimSuffix(a.String(), "\n")})
	}
	return &Model{
		IRVersion:       IRVersion,
		Opsets:          []OpsetID{{Domain: "", Version: opt.Opset}},
		ProducerName:    "vlbert",
		ProducerVersion: spec.Version,
		DocString:       e.b.g.DocString,
		Graph:           e.b.g,
		Metadata:        meta,
	}, nil
}

func docString(t Task) string {
	switch t {
	case TaskVQA:
		return "VL-BERT VQA (vqa/modules/resnet_vlbert_for_vqa.py ResNetVLBERT, inference_forward) on precomputed region features. " +
			"Inputs boxes [B,R,4+F] (padding rows x1=-2), im_info [B,4], question int64 [B,T] (0 = padding); output label_logits [B,A]. " +
			"Metadata 'answers' lists the answer vocabulary in logit order."
	case TaskRefCOCO:
		return "VL-BERT RefCOCO+ grounding (refcoco/modules/resnet_vlbert_for_refcoco.py ResNetVLBERT, inference_forward) on precomputed region features. " +
			"Inputs boxes [B,R,4+F] (padding rows x1=-2), im_info [B,4], expression int64 [B,T] (0 = padding); outputs label_logits [B,R], pred_boxes [B,4]."
	case TaskVCR:
		return "VL-BERT VCR Q->A / QA->R (vcr/modules/resnet_vlbert_for_vcr.py ResNetVLBERT, inference_forward) on precomputed region features. " +
			"Inputs boxes [B,R,4+F] (padding rows y2=-1), im_info [B,4], question int64 [B,Tq,2], answer_choices int64 [B,4,Ta,2] ((id, tag) pairs, id 0 = padding); output label_logits [B,4]."
	}
	return ""
}

func (e *exporter) input(name string, elem int32, shape []Dim, doc string) string {
	e.b.g.Inputs = append(e.b.g.Inputs, &ValueInfo{Name: name, ElemType: elem, Shape: shape, DocString: doc})
	return name
}

// output names value v as a graph output (through Identity, so the name is the
// module's output key).
func (e *exporter) output(v, name string, shape []Dim, doc string) {
	e.b.g.Nodes = append(e.b.g.Nodes, &Node{OpType: "Identity", Name: "output_" + name, Inputs: []string{v}, Outputs: []string{name}})
	e.b.g.Outputs = append(e.b.g.Outputs, &ValueInfo{Name: name, ElemType: Float, Shape: shape, DocString: doc})
}

// linear is an encoder layer's Linear: float32, or with Options.Int8 the weight
// quantized per output channel and the activation per tensor (QDQ).
func (e *exporter) linear(x, prefix string, in, out int) string {
	if e.opt.Int8 {
		return e.b.linearInt8(x, prefix, in, out)
	}
	return e.b.linear(x, prefix, in, out)
}
