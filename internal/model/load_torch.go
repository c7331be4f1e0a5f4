package model

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/weights"
)

// LoadTorchStateDict loads a state dict read by weights.ReadTorch (or from
// safetensors). See Params.LoadStateDict for the rules; source names the file.
func (m *Encoder) LoadTorchStateDict(sd map[string]*weights.Tensor, source string, strict bool) (LoadReport, error) {
	in := make(map[string]StateTensor, len(sd))
	for k, t := range sd {
		if t == nil {
			return LoadReport{}, fmt.Errorf("model: %s: key %q has no tensor", source, k)
		}
		in[k] = StateTensor{Shape: t.Shape, F32: t.F32}
	}
	return m.Params.LoadStateDict(in, source, strict)
}

// LoadCheckpoint reads an original VL-BERT .model file (legacy or zip torch.save) and
// loads its state_dict strictly: every parameter must be present with its shape.
func (m *Encoder) LoadCheckpoint(path string) error {
	ck, err := weights.ReadTorch(path)
	if err != nil {
		return err
	}
	_, err = m.LoadTorchStateDict(ck.StateDict, path, true)
	return err
}
