package train

import (
	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/model"
)

// LoadForInference builds the model of task from cfg and loads ckpt (a vlbert
// .safetensors or an original .model) in float32 for inference, as Evaluate does:
// dropout off. Other programs (the ONNX export's checks) run it on Task.Load batches
// through ModelInput.
func LoadForInference(cfg *config.Config, task Task, ckpt string) (model.Module, error) {
	m, err := loadForInference(cfg, task, ckpt, InferenceOptions{})
	if err != nil {
		return nil, err
	}
	m.Base().Train = false
	return m, nil
}

// ModelInput is the model's input in a batch that Task.Load produced:
// *model.VQABatch, *model.RefCOCOBatch or *model.VCRBatch (VCR: the batch's first
// query, Q->A); nil for pretraining batches. For e2e configs the boxes carry features
// only after the task's CNN ran, so callers use precomputed-feature configs.
func ModelInput(b Batch) any {
	switch b := b.(type) {
	case *vqaBatch:
		return &b.m
	case *refBatch:
		return &b.m
	case *vcrBatch:
		return &b.m
	}
	return nil
}
