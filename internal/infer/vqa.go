package infer

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/vlbert/vlbert/internal/model"
)

// Answer is one VQA answer with its score.
type Answer struct {
	Answer string  `json:"answer"`
	Index  int     `json:"index"` // classifier row
	Score  float64 `json:"score"` // sigmoid(logit), see VQA
	Logit  float64 `json:"logit"`
}

// VQAResult is the answer to one question.
type VQAResult struct {
	Tokens  []string `json:"tokens"` // the question's wordpieces
	Answers []Answer `json:"answers"`
}

// VQA answers question about r with the topK highest-scoring answers (all when
// topK <= 0). A score is sigmoid(logit): the model is trained with a binary
// cross-entropy per answer against soft VQA-accuracy targets, so each score is
// that answer's own predicted accuracy in [0, 1]; the scores do not sum to 1.
func (p *Pipeline) VQA(ctx context.Context, question string, r *Regions, topK int) (*VQAResult, error) {
	if p.Model.Task != model.TaskVQA {
		return nil, fmt.Errorf("%w: VQA needs a ResNetVLBERT (VQA) checkpoint, this one is %s", ErrUnsupported, p.Model.Task)
	}
	toks, ids, err := p.tokenize("question", question)
	if err != nil {
		return nil, err
	}
	if err := p.check(r); err != nil {
		return nil, err
	}
	var logits []float32
	if p.batching.On() {
		logits, err = p.vqaBatched(ctx, ids, p.modelBoxes(r))
	} else {
		logits, err = p.vqaAlone(ctx, ids, r)
	}
	if err != nil {
		return nil, err
	}
	return &VQAResult{Tokens: toks, Answers: topAnswers(logits, p.Answers, topK)}, nil
}

// vqaAlone answers one request with a forward of its own.
func (p *Pipeline) vqaAlone(ctx context.Context, ids []int32, r *Regions) ([]float32, error) {
	bt := &model.VQABatch{Boxes: p.modelBoxes(r), LQ: len(ids), Question: ids}
	logits := make([]float32, p.Model.AnswerVocabSize)
	err := p.withModel(ctx, func(m model.Module) error {
		m.Base().Inference = true // answers only: reuse one layer's activations
		out, err := m.(*model.VQA).Forward(bt)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInput, err)
		}
		copy(logits, out.Logits)
		return nil
	})
	return logits, err
}

func topAnswers(logits []float32, answers []string, k int) []Answer {
	out := make([]Answer, len(logits))
	for i, z := range logits {
		out[i] = Answer{Answer: answers[i], Index: i, Logit: float64(z), Score: sigmoid(float64(z))}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Logit > out[j].Logit })
	if k > 0 && k < len(out) {
		out = out[:k]
	}
	return out
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
