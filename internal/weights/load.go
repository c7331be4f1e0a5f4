package weights

import (
	"fmt"
	"os"
	"strings"
)

// IsSafetensors reports whether the file at path looks like safetensors: an
// 8-byte header length followed by '{'. A header length that does not fit
// the file still counts, so that ReadSafetensors reports the damage instead of
// the torch reader calling the file "not a PyTorch checkpoint".
func IsSafetensors(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [9]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return false
	}
	return head[8] == '{'
}

// ReadModelWeights reads model weights from either a vlbert safetensors file
// or an original torch.save checkpoint, under canonical key names
// (CanonicalKey). From safetensors, "optimizer.*" tensors are left out and
// tied copies recorded as "tied.<key>" metadata are restored, so both
// sources give the same key set.
func ReadModelWeights(path string) (map[string]*Tensor, error) {
	if IsSafetensors(path) {
		ts, meta, err := ReadSafetensors(path)
		if err != nil {
			return nil, err
		}
		out := make(map[string]*Tensor, len(ts))
		for k, t := range ts {
			if !strings.HasPrefix(k, "optimizer.") {
				out[CanonicalKey(k)] = t
			}
		}
		for mk, src := range meta {
			if dst, ok := strings.CutPrefix(mk, "tied."); ok {
				t, ok := out[src]
				if !ok {
					return nil, fmt.Errorf("weights: %s: %s is tied to %s, which the file lacks", path, dst, src)
				}
				out[dst] = t.Clone()
			}
		}
		return out, nil
	}
	ck, err := ReadTorch(path)
	if err != nil {
		return nil, err
	}
	sd, _, err := Canonicalize(ck.Keys, ck.StateDict)
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	return sd, nil
}
