package infer

import (
	"context"
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/model"
)

// BoxScore is one region's grounding score.
type BoxScore struct {
	Index int        `json:"index"` // region index in the request (0-based, without the image box)
	Box   [4]float32 `json:"box"`   // x1, y1, x2, y2 in original-image pixels
	Score float64    `json:"score"` // sigmoid of the region's logit
	Logit float64    `json:"logit"`
}

// GroundResult is the answer to a referring expression.
type GroundResult struct {
	Tokens []string   `json:"tokens"`
	Best   int        `json:"best"`  // index of the highest-scoring region
	Boxes  []BoxScore `json:"boxes"` // in region order
	// ImageScore is the whole-image box's score (the original's argmax may pick
	// it; Best never does).
	ImageScore *float64 `json:"image_score,omitempty"`
}

// ChoiceScore is one VCR answer (or rationale) choice.
type ChoiceScore struct {
	Index int     `json:"index"`
	Text  string  `json:"text"`
	Prob  float64 `json:"prob"` // softmax over the choices, as the original test
	Logit float64 `json:"logit"`
}

// VCRResult is the answer to a VCR question.
type VCRResult struct {
	Best    int           `json:"best"`
	Choices []ChoiceScore `json:"choices"`
}

// Ground scores each region of r against a referring expression with a RefCOCO+
// checkpoint: a score is sigmoid(logit) of the region, the model being trained
// with a binary cross-entropy per box (IoU > 0.5 with the referred object).
func (p *Pipeline) Ground(ctx context.Context, expression string, r *Regions) (*GroundResult, error) {
	toks, ids, err := p.tokenize("expression", expression)
	if err != nil {
		return nil, err
	}
	if err := p.check(r); err != nil {
		return nil, err
	}
	if p.Model.Task != model.TaskRefCOCO {
		return nil, fmt.Errorf("%w: grounding needs a RefCOCO+ checkpoint; this one is %s", ErrUnsupported, p.Model.Task)
	}
	bx := p.modelBoxes(r)
	logits := make([]float32, bx.NB)
	err = p.withModel(ctx, func(m model.Module) error {
		m.Base().Inference = true
		out, err := m.(*model.RefCOCO).Forward(&model.RefCOCOBatch{Boxes: bx, LE: len(ids), Expression: ids})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInput, err)
		}
		copy(logits, out.Logits)
		return nil
	})
	if err != nil {
		return nil, err
	}
	first := 0
	res := &GroundResult{Tokens: toks}
	if p.imageBox() {
		first = 1
		s := sigmoid(float64(logits[0]))
		res.ImageScore = &s
	}
	for i := 0; i < r.N(); i++ {
		z := float64(logits[first+i])
		res.Boxes = append(res.Boxes, BoxScore{Index: i, Box: [4]float32(r.Boxes[4*i : 4*i+4]), Score: sigmoid(z), Logit: z})
		if z > res.Boxes[res.Best].Logit {
			res.Best = i
		}
	}
	return res, nil
}

// VCR scores the answer choices of a VCR question with a VCR checkpoint (Q→A;
// for QA→R pass the question followed by the chosen answer, and the rationales
// as choices). The probabilities are a softmax over the choices' logits, as the
// original test. VCR has exactly model.VCRChoices (4) choices. Tokens carry no
// grounding tags: every text token sees the whole-image feature.
func (p *Pipeline) VCR(ctx context.Context, question string, choices []string, r *Regions) (*VCRResult, error) {
	_, qids, err := p.tokenize("question", question)
	if err != nil {
		return nil, err
	}
	if len(choices) != model.VCRChoices {
		return nil, inputErrorf("%d choices, want %d (the VCR head scores exactly %d)", len(choices), model.VCRChoices, model.VCRChoices)
	}
	var aids [][]int32
	la := 0
	for i, c := range choices {
		_, ids, err := p.tokenize(fmt.Sprintf("choice %d", i), c)
		if err != nil {
			return nil, err
		}
		aids = append(aids, ids)
		la = max(la, len(ids))
	}
	if err := p.check(r); err != nil {
		return nil, err
	}
	if p.Model.Task != model.TaskVCR {
		return nil, fmt.Errorf("%w: VCR needs a VCR checkpoint; this one is %s", ErrUnsupported, p.Model.Task)
	}
	bt := &model.VCRBatch{Boxes: p.modelBoxes(r), LQ: len(qids), LA: la, Question: qids,
		QTags: fill(len(qids), -1), Answers: make([]int32, model.VCRChoices*la), ATags: fill(model.VCRChoices*la, -1)}
	for c, ids := range aids {
		copy(bt.Answers[c*la:], ids)
	}
	logits := make([]float32, model.VCRChoices)
	err = p.withModel(ctx, func(m model.Module) error {
		m.Base().Inference = true
		out, err := m.(*model.VCR).Forward(bt)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInput, err)
		}
		copy(logits, out.Logits)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := &VCRResult{}
	mx := math.Inf(-1)
	for _, z := range logits {
		mx = max(mx, float64(z))
	}
	sum := 0.0
	for _, z := range logits {
		sum += math.Exp(float64(z) - mx)
	}
	for i, z := range logits {
		res.Choices = append(res.Choices, ChoiceScore{Index: i, Text: choices[i], Logit: float64(z), Prob: math.Exp(float64(z)-mx) / sum})
		if z > logits[res.Best] {
			res.Best = i
		}
	}
	return res, nil
}

func fill(n int, v int32) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = v
	}
	return s
}
