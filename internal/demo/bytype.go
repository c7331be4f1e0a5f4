package demo

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/infer"
)

// TypeAccuracy is the VQA accuracy of one question type on the val split.
type TypeAccuracy struct {
	Type       string   `json:"type"`
	Questions  int      `json:"questions"`
	PreTrained *float64 `json:"pretrained"`
	Scratch    *float64 `json:"from_scratch"`
}

// vqaByType answers every val question with the pre-trained and the
// from-scratch VQA checkpoints (the inference pipeline of `vlbert vqa`) and
// averages the VQA accuracy per question type: the headline number hides
// which skills (colour, shape, count, existence, left/right, saying "none"
// about an object the scene lacks) were learned.
func (r *runner) vqaByType(ctx context.Context) error {
	entries, err := valQuestions(r.data)
	if err != nil {
		return err
	}
	rows := map[string]*TypeAccuracy{}
	for _, e := range entries {
		if rows[e.QuestionType] == nil {
			rows[e.QuestionType] = &TypeAccuracy{Type: e.QuestionType}
		}
		rows[e.QuestionType].Questions++
	}
	// The pre-trained model also answers with its encoder in int8 (--int8): the
	// report shows what that costs in accuracy, against the same pipeline in float32.
	// The int8 pass reuses the pre-trained pipeline (quantized in place) and the
	// regions it parsed.
	var (
		pipelineF32 float64
		pre         *infer.Pipeline
		preRegions  map[int64]*infer.Regions
	)
	for _, m := range []struct {
		phase string
		int8  bool
	}{{PhaseVQA, false}, {PhaseVQAScratch, false}, {PhaseVQA, true}} {
		phase := m.phase
		run, ok := r.runs[phase]
		if !ok {
			continue
		}
		var p *infer.Pipeline
		regions := map[int64]*infer.Regions{}
		if m.int8 {
			p, regions = pre, preRegions
			if err := p.QuantizeInt8(); err != nil {
				return err
			}
		} else {
			var err error
			if p, err = infer.Load(infer.Options{Checkpoint: run.ckpt}); err != nil {
				return fmt.Errorf("loading %s: %w", run.ckpt, err)
			}
			if phase == PhaseVQA {
				pre, preRegions = p, regions
			}
		}
		sum := map[string]float64{}
		for _, e := range entries {
			reg := regions[e.ImageID]
			if reg == nil {
				name := fmt.Sprintf("%d.json", e.ImageID)
				js, err := os.ReadFile(filepath.Join(r.data, synth.Layout.Features, name))
				if err != nil {
					return err
				}
				if reg, err = p.ParseFeatures(name, js); err != nil {
					return err
				}
				regions[e.ImageID] = reg
			}
			res, err := p.VQA(ctx, e.Question, reg, 1)
			if err != nil {
				return fmt.Errorf("question %d: %w", e.QuestionID, err)
			}
			if len(res.Answers) > 0 {
				sum[e.QuestionType] += vqa.Accuracy(res.Answers[0].Answer, e.Answers)
			}
		}
		// Sum in key order: a map's order varies from run to run, and so would
		// the last bit of the total.
		var total float64
		for _, k := range slices.Sorted(maps.Keys(sum)) {
			total += sum[k]
		}
		total /= float64(len(entries))
		if m.int8 {
			r.rep.VQAAccuracyInt8, r.rep.VQAAccuracyPipeline = ptr(total), ptr(pipelineF32)
			continue
		}
		if phase == PhaseVQA {
			pipelineF32 = total
		}
		for t, row := range rows {
			acc := sum[t] / float64(row.Questions)
			if phase == PhaseVQA {
				row.PreTrained = &acc
			} else {
				row.Scratch = &acc
			}
		}
	}
	r.rep.VQAByType = r.rep.VQAByType[:0]
	for _, row := range rows {
		r.rep.VQAByType = append(r.rep.VQAByType, *row)
	}
	order := map[string]int{"color": 0, "shape": 1, "count": 2, "exist": 3, "relation": 4, "absent": 5}
	sort.Slice(r.rep.VQAByType, func(i, j int) bool {
		a, b := r.rep.VQAByType[i].Type, r.rep.VQAByType[j].Type
		if order[a] != order[b] {
			return order[a] < order[b]
		}
		return a < b
	})
	return nil
}
