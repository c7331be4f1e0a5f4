package weights

import (
	"fmt"
	"os"
)

// ReadTorchNested reads a torch.save file whose state dict may sit under
// one of the keys in wrappers (detectron2 checkpoints save
// {"model": state_dict, ...}); when no wrapper key is present the top-level
// dict is the state dict. Non-tensor entries of the state dict are skipped.
// Errors name the file.
func ReadTorchNested(path string, wrappers ...string) (ck *TorchCheckpoint, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("weights: %s is a directory, not a checkpoint file", path)
	}
	defer func() {
		if p := recover(); p != nil {
			ck, err = nil, fmt.Errorf("weights: %s: malformed checkpoint (%v)", path, p)
		}
	}()
	obj, s, err := loadTorchSession(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	if _, ok := pyItems(obj); !ok {
		return nil, fmt.Errorf("weights: %s: the saved object is a %s, not a dict", path, describe(obj))
	}
	sd := obj
	for _, w := range wrappers {
		if v, ok := dictGet(obj, w); ok {
			if _, isDict := pyItems(v); isDict {
				sd = v
				break
			}
		}
	}
	ck = &TorchCheckpoint{Raw: true, Format: s.format}
	if err := ck.setStateDict(sd, s.viewOf); err != nil {
		return nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	if len(ck.Keys) == 0 {
		return nil, fmt.Errorf("weights: %s: no tensors in the state dict (looked under %q and the top level)", path, wrappers)
	}
	return ck, nil
}
