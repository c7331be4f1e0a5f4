package importer

import (
	"encoding/json"
	"fmt"

	"github.com/vlbert/vlbert/internal/weights"
)

// Safetensors metadata keys of a converted detector.
const (
	metaFormat = "format" // = vlbertDetector
	metaSource = "source_format"
	metaConfig = "detector_config" // Config as JSON
	metaFlags  = "detector_flags"  // Flags as JSON
	// vlbertDetector marks vlbert's detector safetensors (version 1).
	vlbertDetector = "vlbert-detector-v1"
)

// WriteVlbert writes r as vlbert's detector safetensors (atomic): the
// canonical tensors, with the Config, the Flags and the source format in
// the metadata, so ReadVlbert gives back the same Result.
func WriteVlbert(path string, r *Result) error {
	cfg, err := json.Marshal(r.Config)
	if err != nil {
		return fmt.Errorf("detector weights: %w", err)
	}
	flags, err := json.Marshal(r.Flags)
	if err != nil {
		return fmt.Errorf("detector weights: %w", err)
	}
	ts := make(map[string]*weights.Tensor, len(r.Weights))
	for k, t := range r.Weights {
		ts[k] = t
	}
	return weights.WriteSafetensors(path, ts, map[string]string{
		metaFormat: vlbertDetector, metaSource: r.Format, metaConfig: string(cfg), metaFlags: string(flags),
	})
}

// ReadVlbert reads what WriteVlbert wrote; the tensors are validated
// against the stored Config.
func ReadVlbert(path string) (*Result, error) {
	ts, meta, err := weights.ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	if meta[metaFormat] != vlbertDetector {
		return nil, fmt.Errorf("detector weights: %s is a safetensors file without %s=%q metadata (format %q): not a converted detector; convert the release with `vlbert convert --ckpt X --out detector.safetensors`",
			path, metaFormat, vlbertDetector, meta[metaFormat])
	}
	r := &Result{Format: FormatVlbert, Path: path, Weights: Weights{}}
	if err := json.Unmarshal([]byte(meta[metaConfig]), &r.Config); err != nil {
		return nil, fmt.Errorf("detector weights: %s: metadata %s: %w", path, metaConfig, err)
	}
	if err := json.Unmarshal([]byte(meta[metaFlags]), &r.Flags); err != nil {
		return nil, fmt.Errorf("detector weights: %s: metadata %s: %w", path, metaFlags, err)
	}
	for k, t := range ts {
		if t.DType != "F32" {
			return nil, fmt.Errorf("detector weights: %s: %s is %s, want F32", path, k, t.DType)
		}
		r.Weights[k] = t
	}
	if err := r.Config.Validate(path, r.Weights); err != nil {
		return nil, err
	}
	r.Notes = []string{"converted earlier from a " + meta[metaSource] + " file"}
	return r, nil
}
