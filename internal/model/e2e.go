package model

import "fmt"

// ExternalParam is a parameter that another package computes with (the e2e
// CNN of package visual) but that lives in the model's arena, so that the
// optimizer, gradient clipping, checkpoints and partial loading treat it like
// the model's own. The model never reads or initialises it.
type ExternalParam struct {
	Name  string // original state_dict key, e.g. "image_feature_extractor.backbone.conv1.weight"
	Shape []int
}

// initExternal marks a parameter InitWeights leaves alone.
const initExternal initKind = -1

// NewE2E is New with the external parameters first (before) and last (after)
// in the arena and in Params.List, in the given order (the original FastRCNN
// registers backbone and roi_head_feature_extractor before obj_downsample, so
// named_parameters() lists them first; buffers such as BatchNorm running
// statistics, which are no module parameters, go after), and with extra aliases: state_dict keys that share an
// external parameter's storage (the original's head.0.* duplicates of
// roi_head_feature_extractor.*), shape-checked and otherwise ignored when
// loading.
func NewE2E(cfg Config, before, after []ExternalParam, aliases []Alias) (Module, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	own := buildParams(&cfg)
	b := paramBuilder{featDim: own.featDim}
	addAll := func(ps []ExternalParam) error {
		for _, e := range ps {
			if len(e.Shape) == 0 {
				return fmt.Errorf("model: external parameter %q has no shape", e.Name)
			}
			b.add(e.Name, initExternal, e.Shape...)
		}
		return nil
	}
	if err := addAll(before); err != nil {
		return nil, err
	}
	for _, q := range own.List {
		b.list = append(b.list, Param{Name: q.Name, Shape: q.Shape, init: q.init, Frozen: q.Frozen})
	}
	if err := addAll(after); err != nil {
		return nil, err
	}
	b.aliases = append(append(b.aliases, own.Aliases...), aliases...)
	return cfg.spec().bind(newEncoder(cfg, b.build())), nil
}
