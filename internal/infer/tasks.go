package infer

import (
	"context"
	"fmt"
)

// BoxScore is one region's grounding score.
type BoxScore struct {
	Index int        `json:"index"` // region index in the request (0-based, without the image box)
	Box   [4]float32 `json:"box"`   // x1, y1, x2, y2 in original-image pixels
	Score float64    `json:"score"` // sigmoid of the region's logit
}

// GroundResult is the answer to a referring expression.
type GroundResult struct {
	Tokens []string   `json:"tokens"`
	Best   int        `json:"best"`
	Boxes  []BoxScore `json:"boxes"` // in region order
}

// ChoiceScore is one VCR answer (or rationale) choice.
type ChoiceScore struct {
	Index int     `json:"index"`
	Text  string  `json:"text"`
	Prob  float64 `json:"prob"` // softmax over the choices, as the original test
}

// VCRResult is the answer to a VCR question.
type VCRResult struct {
	Best    int           `json:"best"`
	Choices []ChoiceScore `json:"choices"`
}

// Ground scores each region of r against a referring expression (RefCOCO+
// module). The model package has no RefCOCO head yet: the request is validated
// (tokens, regions) and then answered with ErrUnsupported. When
// model.TaskRefCOCO exists, this is a ForwardRefCOCO call and a sigmoid per box.
func (p *Pipeline) Ground(ctx context.Context, expression string, r *Regions) (*GroundResult, error) {
	if _, _, err := p.tokenize("expression", expression); err != nil {
		return nil, err
	}
	if err := p.check(r); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: grounding needs a RefCOCO+ (ResNetVLBERT refcoco) checkpoint; this one is %s, and the model package has no RefCOCO head yet", ErrUnsupported, p.Model.Task)
}

// VCR scores the answer choices of a VCR question (Q→A; with a chosen answer,
// QA→R). The model package has no VCR head yet: the request is validated and
// then answered with ErrUnsupported. The probabilities will be a softmax over
// the choices' logits, as the original test.
func (p *Pipeline) VCR(ctx context.Context, question string, choices []string, r *Regions) (*VCRResult, error) {
	if _, _, err := p.tokenize("question", question); err != nil {
		return nil, err
	}
	if len(choices) < 2 || len(choices) > 8 {
		return nil, inputErrorf("%d choices, want 2 to 8 (VCR has 4)", len(choices))
	}
	for i, c := range choices {
		if _, _, err := p.tokenize(fmt.Sprintf("choice %d", i), c); err != nil {
			return nil, err
		}
	}
	if err := p.check(r); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: VCR needs a ResNetVLBERT VCR checkpoint; this one is %s, and the model package has no VCR head yet", ErrUnsupported, p.Model.Task)
}
