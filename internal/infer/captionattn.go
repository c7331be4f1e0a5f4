package infer

import (
	"context"
	"fmt"

	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
)

// CaptionAttention is one item of the original's attention-map dump
// (pretrain/vis_attention_maps.py with MODULE ResNetVLBERTForAttentionVis on
// the coco_captions data set): the caption as "[CLS] wordpieces [SEP]" with no
// masking (WITH_MLM_LOSS false), the regions computed from img and its boxes
// (original-image inclusive corners; the whole-image box first when
// ADD_IMAGE_AS_A_BOX), and the pair truncated to seqLen positions as
// COCOCaptionsDataset.__getitem__ does: while text+boxes > seqLen, drop the
// last box when there are more boxes than text tokens, else the last text
// token (even [SEP]). Only pretraining checkpoints qualify.
func (p *Pipeline) CaptionAttention(ctx context.Context, caption string, img *visual.RGBImage, boxes []float32, seqLen int) (*Attention, *Regions, error) {
	toks, ids := p.Tok.Encode(caption)
	text := make([]int32, 0, len(ids)+2)
	text = append(text, model.ClsID)
	for _, id := range ids {
		text = append(text, int32(id))
	}
	text = append(text, model.SepID)
	labels := append(append([]string{"[CLS]"}, toks...), "[SEP]")
	first := 0
	if p.imageBox() {
		first = 1
	}
	textKeep, boxKeep := len(text), len(boxes)/4+first
	for textKeep+boxKeep > seqLen {
		if boxKeep > textKeep {
			boxKeep--
		} else {
			textKeep--
		}
	}
	if boxKeep-first < 1 || textKeep < 1 {
		return nil, nil, inputErrorf("DATASET.SEQ_LEN %d leaves %d text tokens and %d boxes", seqLen, textKeep, boxKeep-first)
	}
	text, labels = text[:textKeep], labels[:textKeep]
	r, err := p.RegionsFromImage(ctx, img, boxes[:4*(boxKeep-first)])
	if err != nil {
		return nil, nil, err
	}
	bx := p.modelBoxes(r)
	a := &Attention{Regions: r, ImageBox: p.imageBox()}
	err = p.withModel(ctx, func(m model.Module) error {
		pt, ok := model.AsPretrain(m)
		if !ok {
			return fmt.Errorf("%w: caption attention maps need a pretraining checkpoint, not %s", ErrUnsupported, m.Base().Cfg.Task)
		}
		pt.Base().Inference = false // CoreOutputs needs every layer's attention probabilities
		if err := p.forwardText(pt, bx, text); err != nil {
			return err
		}
		co := pt.Base().CoreOutputs()
		a.Layers, a.Heads, a.L = co.Layers, co.NH, co.L
		a.Probs = co.AttentionProbs
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return a, r, a.label(labels, bx.NB)
}
