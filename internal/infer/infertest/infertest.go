// Package infertest builds small random checkpoints and realistic inputs (from the
// synthetic world of internal/data/synth) for tests of the inference pipeline,
// the server and the CLI. Nothing here is trained: the weights are random.
package infertest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/synth/synthtest"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
)

// Config returns a small config of task (VQA, pretraining, RefCOCO+ or VCR):
// hidden 32, 2 layers, 2 heads, precomputed features, SCALES (600, 1000).
func Config(task config.Task, answers int) *config.Config {
	c, err := config.Defaults(task)
	if err != nil {
		panic(err)
	}
	v := &c.Network.VLBERT
	v.HiddenSize, v.VisualSize, v.NumHiddenLayers, v.NumAttentionHeads, v.IntermediateSize = 32, 32, 2, 2, 64
	v.VisualLN = true
	c.Network.ImageFinalDim = 32
	c.Network.ImageFeatPrecomputed = true
	c.Network.EnableCNNRegLoss = false
	c.Scales = []int{600, 1000}
	c.Dataset().AddImageAsABox = true
	switch task {
	case config.TaskVQA:
		c.Module = "ResNetVLBERT"
		c.Dataset().Dataset = "vqa"
		c.Dataset().AnswerVocabSize = answers
		c.Dataset().UseIMDB = false
		c.Network.ClassifierType = "mlm"
	case config.TaskRefCOCO:
		c.Module = "ResNetVLBERT"
		c.Dataset().Dataset = "refcoco+"
		c.Dataset().UseIMDB = false
	case config.TaskVCR:
		c.Module = "ResNetVLBERT"
		c.Dataset().Dataset = "vcr"
		c.Network.ImageSemantic = false
		c.Network.ClassifierType = "1fc"
		v.ObjectWordEmbedMode = 2
		v.WithPooler = true
		c.Scales = []int{600, 1200}
	default:
		c.Module = "ResNetVLBERTForPretraining"
		c.Dataset().Dataset = "conceptual_captions"
	}
	return c
}

// Answers is the answer vocabulary of the synthetic world.
func Answers() []string { return synth.AnswerVocab() }

// WriteVQA writes a random VQA checkpoint (vlbert safetensors, config and answers
// in the metadata) to dir/vqa.safetensors and returns its path.
func WriteVQA(dir string, seed uint64) (string, error) {
	return write(dir, "vqa.safetensors", Config(config.TaskVQA, len(Answers())), Answers(), seed)
}

// WriteVQAFeatDim is WriteVQA for a model of dim-d region features
// (NETWORK.IMAGE_FEAT_DIM) to dir/vqa<dim>.safetensors.
func WriteVQAFeatDim(dir string, seed uint64, dim int) (string, error) {
	c := Config(config.TaskVQA, len(Answers()))
	c.Network.ImageFeatDim = dim
	return write(dir, fmt.Sprintf("vqa%d.safetensors", dim), c, Answers(), seed)
}

// WritePretrain writes a random pretraining checkpoint to dir/pretrain.safetensors.
func WritePretrain(dir string, seed uint64) (string, error) {
	return write(dir, "pretrain.safetensors", Config(config.TaskPretrain, 0), nil, seed)
}

// WriteRefCOCO writes a random RefCOCO+ checkpoint to dir/refcoco.safetensors.
func WriteRefCOCO(dir string, seed uint64) (string, error) {
	return write(dir, "refcoco.safetensors", Config(config.TaskRefCOCO, 0), nil, seed)
}

// WriteVCR writes a random VCR checkpoint to dir/vcr.safetensors.
func WriteVCR(dir string, seed uint64) (string, error) {
	return write(dir, "vcr.safetensors", Config(config.TaskVCR, 0), nil, seed)
}

func write(dir, name string, cfg *config.Config, answers []string, seed uint64) (string, error) {
	mc, err := model.FromConfig(cfg)
	if err != nil {
		return "", err
	}
	m, err := model.New(mc)
	if err != nil {
		return "", err
	}
	m.Base().InitWeights(seed)
	// visual_scale_*_init are 0 in the shipped configs, which would hide the
	// visual input entirely; random weights should look at the regions.
	for _, q := range m.Base().Params.List {
		if strings.HasSuffix(q.Name, "visual_ln_text.weight") || strings.HasSuffix(q.Name, "visual_ln_object.weight") {
			for i := range m.Base().Params.View(q.Name) {
				m.Base().Params.View(q.Name)[i] = 1
			}
		}
	}
	path := filepath.Join(dir, name)
	return path, infer.SaveCheckpoint(path, m.Base(), cfg, answers)
}

// Scene is one synthetic image with its detections.
type Scene struct {
	Scene    synth.Scene
	PNG      []byte // the rendered image
	Boxes    [][4]float32
	Features []float32 // [N*2048]
	JSON     []byte    // the bottom-up per-image JSON record
}

// NewScene renders scene number i of a small synthetic world.
func NewScene(i int) (*Scene, error) {
	cfg := synth.DefaultConfig()
	cfg.TrainScenes, cfg.ValScenes = i+1, 1
	w, err := synth.Generate(cfg)
	if err != nil {
		return nil, err
	}
	s := w.Train[i]
	img := synth.Render(s)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	out := &Scene{Scene: s, PNG: buf.Bytes()}
	var boxes []float32
	for _, o := range s.Objects {
		out.Boxes = append(out.Boxes, o.Box)
		boxes = append(boxes, o.Box[:]...)
		out.Features = append(out.Features, synthtest.Feature(o, s.Width, 2048)...)
	}
	out.JSON = RecordJSON(s.ID, s.Width, s.Height, boxes, out.Features, 2048)
	return out, nil
}

// RecordJSON encodes a bottom-up per-image JSON record with dim-wide features.
func RecordJSON(id, w, h int, boxes, feats []float32, dim int) []byte {
	rec := map[string]any{"image_id": id, "image_w": w, "image_h": h, "num_boxes": len(boxes) / 4,
		"boxes": B64(boxes), "features": B64(feats)}
	b, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	_ = dim
	return b
}

// RandomRecord is a record of n random boxes in a w x h image with dim-wide
// random features.
func RandomRecord(seed uint64, n, w, h, dim int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var boxes, feats []float32
	for i := 0; i < n; i++ {
		x1, y1 := rng.Float32()*float32(w/2), rng.Float32()*float32(h/2)
		boxes = append(boxes, x1, y1, x1+1+rng.Float32()*float32(w/2-1), y1+1+rng.Float32()*float32(h/2-1))
		for k := 0; k < dim; k++ {
			feats = append(feats, float32(math.Abs(rng.NormFloat64())))
		}
	}
	return RecordJSON(int(seed), w, h, boxes, feats, dim)
}

// B64 is base64 of little-endian float32 values, as the bottom-up files store arrays.
func B64(v []float32) string {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// Question is a question about s that the synthetic world can ask.
func Question(s synth.Scene) string {
	if len(s.Objects) == 0 {
		return "is there a shape?"
	}
	return fmt.Sprintf("what color is the %s?", synth.Shapes[s.Objects[0].Shape])
}

// TinyVisual is a random ResNet with one block per stage (2048-d features, fast)
// and its weights under the checkpoint keys infer.Pipeline.SetVisual takes.
func TinyVisual() (visual.Config, map[string]visual.Tensor) {
	vc := visual.Config{Blocks: [3]int{1, 1, 1}, HeadBlocks: 1, Width: 64, StrideIn1x1: true, C5Dilated: true, RoIAlign: visual.DefaultRoIAlign}
	n := visual.NewNetwork(vc)
	rng := rand.New(rand.NewPCG(1, 2))
	sd := map[string]visual.Tensor{}
	for _, p := range n.Params.Params {
		switch {
		case strings.HasSuffix(p.Name, "running_var"), strings.Contains(p.Name, "bn") && strings.HasSuffix(p.Name, ".weight"):
			for i := range p.Data {
				p.Data[i] = 1
			}
		case len(p.Shape) == 4:
			std := math.Sqrt(2 / float64(p.Shape[1]*p.Shape[2]*p.Shape[3]))
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64() * std)
			}
		}
		sd["image_feature_extractor."+p.Name] = visual.Tensor{Shape: p.Shape, F32: p.Data}
	}
	return vc, sd
}
