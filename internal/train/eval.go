package train

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/dist"
	"github.com/vlbert/vlbert/internal/model"
)

// Evaluate loads ckpt (a vlbert .safetensors or an original .model) and
// returns the task's metrics on split ("val", or "train"), dropout off.
func Evaluate(ctx context.Context, cfg *config.Config, ckpt, split string, opt InferenceOptions) (map[string]float64, []string, error) {
	task, err := NewTask(cfg, split)
	if err != nil {
		return nil, nil, err
	}
	defer task.Close()
	m, err := loadForInference(cfg, task, ckpt, opt)
	if err != nil {
		return nil, nil, err
	}
	val, err := evaluate(ctx, cfg, task, m, split, dist.Single{})
	return val, task.MetricNames(), err
}

// Predict loads ckpt and writes the leaderboard files of split (VQA:
// {name}_vqa2_{split}.json) under outDir; name is the config file's base
// name. It returns the files written.
func Predict(ctx context.Context, cfg *config.Config, cfgPath, ckpt, split, outDir string, opt InferenceOptions) ([]string, error) {
	task, err := NewTask(cfg, "test")
	if err != nil {
		return nil, err
	}
	defer task.Close()
	pr, ok := task.(Predictor)
	if !ok {
		return nil, fmt.Errorf("train: MODULE %s has no test output", cfg.Module)
	}
	m, err := loadForInference(cfg, task, ckpt, opt)
	if err != nil {
		return nil, err
	}
	m.Base().Train = false
	defer inferenceMode(m.Base())()
	defer e2eInference(task)()
	s, err := task.Sampler("test")
	if err != nil {
		return nil, err
	}
	s.Shuffle = false // results map back to ids in order (vqa/function/test.py and refcoco/function/test.py map results by sequential index)
	batches, err := s.Batches(0)
	if err != nil {
		return nil, err
	}
	loader := task.Load(ctx, "test", batches, 0, 0, 0)
	defer loader.Close()
	for range batches {
		b, err := loader.Next()
		if err != nil {
			return nil, fmt.Errorf("train: test: %w", err)
		}
		if err := pr.Predict(m, b); err != nil {
			return nil, err
		}
	}
	name := strings.TrimSuffix(filepath.Base(cfgPath), filepath.Ext(cfgPath))
	return pr.WriteResults(outDir, name, split)
}

func loadForInference(cfg *config.Config, task Task, ckpt string, opt InferenceOptions) (model.Module, error) {
	m, err := newModel(cfg, task)
	if err != nil {
		return nil, err
	}
	if err := LoadWeights(m.Base(), ckpt); err != nil {
		return nil, err
	}
	if opt.Int8 {
		if err := m.Base().QuantizeInt8(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// InferenceOptions are the choices of Evaluate and Predict.
type InferenceOptions struct {
	// Int8 runs the encoder's Linear layers in int8 (model.QuantizeInt8): faster,
	// answers within ~1% of float32.
	Int8 bool
}
