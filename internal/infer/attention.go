package infer

import (
	"context"
	"fmt"
	"strconv"

	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/npy"
)

// Attention is VisualLinguisticBert's attention for one input (pretrain/vis_attention_maps.py, resnet_vlbert_for_attention_vis.py): the
// sequence is [text | [IMG] 1..n | [END]], text being "[CLS] caption [SEP]" for
// pretraining checkpoints, "[CLS] expression [SEP]" for RefCOCO+ ones and
// "[CLS] question [SEP] [MASK] [SEP]" for VQA ones. VCR checkpoints are not
// supported (their forward holds four question-answer rows).
type Attention struct {
	Layers, Heads, L int
	NumText          int       // positions [0, NumText) are text tokens
	NumRegions       int       // positions [NumText, NumText+NumRegions) are [IMG] and the boxes; L-1 is [END]
	Probs            []float32 // [Layers, Heads, L, L] post-softmax; row = attending (query) token, column = attended (key) token
	Tokens           []string  // [L] labels as the original notebook: [CLS] ... [SEP] [IMG] 1..n [END]
	Regions          *Regions  // the input regions (original-image boxes), for drawing
	ImageBox         bool      // whether [IMG] (the whole image) is region slot 0
	Answers          []Answer  // VQA checkpoints: the top answers of the same forward
}

// Attention runs text and r through the model and returns every layer's
// attention probabilities.
func (p *Pipeline) Attention(ctx context.Context, text string, r *Regions) (*Attention, error) {
	toks, ids, err := p.tokenize("text", text)
	if err != nil {
		return nil, err
	}
	if err := p.check(r); err != nil {
		return nil, err
	}
	bx := p.modelBoxes(r)
	a := &Attention{Regions: r, ImageBox: p.imageBox()}
	var labels []string
	err = p.withModel(ctx, func(m model.Module) error {
		e := m.Base()
		e.Inference = false // CoreOutputs needs every layer's attention probabilities
		switch m := m.(type) {
		case *model.VQA:
			out, err := m.Forward(&model.VQABatch{Boxes: bx, LQ: len(ids), Question: ids})
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInput, err)
			}
			a.Answers = topAnswers(out.Logits, p.Answers, 5)
			labels = append(append([]string{"[CLS]"}, toks...), "[SEP]", "[MASK]", "[SEP]")
		case *model.RefCOCO:
			if _, err := m.Forward(&model.RefCOCOBatch{Boxes: bx, LE: len(ids), Expression: ids}); err != nil {
				return fmt.Errorf("%w: %w", ErrInput, err)
			}
			labels = append(append([]string{"[CLS]"}, toks...), "[SEP]")
		default:
			pt, ok := model.AsPretrain(m)
			if !ok {
				return fmt.Errorf("%w: attention maps of %s checkpoints (four question-answer rows) are not implemented", ErrUnsupported, e.Cfg.Task)
			}
			if err := p.forwardCaption(pt, bx, ids); err != nil {
				return err
			}
			labels = append(append([]string{"[CLS]"}, toks...), "[SEP]")
		}
		co := e.CoreOutputs()
		a.Layers, a.Heads, a.L = co.Layers, co.NH, co.L
		a.Probs = co.AttentionProbs // B == 1: [Layers, 1, NH, L, L] is [Layers, NH, L, L]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, a.label(labels, bx.NB)
}

// label appends the region labels ([IMG], 1..n, [END]) to the text labels.
func (a *Attention) label(labels []string, nb int) error {
	a.NumText = len(labels)
	a.NumRegions = nb
	for j := 0; j < nb; j++ {
		if j == 0 && a.ImageBox {
			labels = append(labels, "[IMG]")
			continue
		}
		k := j
		if !a.ImageBox {
			k = j + 1
		}
		labels = append(labels, strconv.Itoa(k))
	}
	labels = append(labels, "[END]")
	if len(labels) != a.L {
		return fmt.Errorf("infer: attention over %d positions but %d labels (internal error)", a.L, len(labels))
	}
	a.Tokens = labels
	return nil
}

// forwardCaption runs a pretraining module on "[CLS] caption [SEP]" with nothing
// masked, as the original attention visualisation does.
func (p *Pipeline) forwardCaption(m *model.Pretrain, bx model.Boxes, ids []int32) error {
	text := make([]int32, 0, len(ids)+2)
	return p.forwardText(m, bx, append(append(append(text, model.ClsID), ids...), model.SepID))
}

// forwardText runs a pretraining module on one text row (with its [CLS] and
// [SEP], if any) with nothing masked.
func (p *Pipeline) forwardText(m *model.Pretrain, bx model.Boxes, text []int32) error {
	LT := len(text)
	bt := &model.PretrainBatch{Boxes: bx, LT: LT, Text: text, RelLabel: []int32{0},
		MLMLabels: make([]int32, LT), MVRCOps: make([]int32, bx.NB)}
	for i := range bt.MLMLabels {
		bt.MLMLabels[i] = -1
	}
	if m.Cfg.WithMVRCLoss {
		bt.MVRCLabels = make([]float32, bx.NB*m.Cfg.RegionClasses)
	}
	if _, err := m.Forward(bt); err != nil {
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	return nil
}

// NPY returns the raw probabilities as the original writes them:
// float32 [num_layers, num_heads, L, L].
func (a *Attention) NPY() *npy.Array {
	return npy.NewF32(a.Probs, a.Layers, a.Heads, a.L, a.L)
}
