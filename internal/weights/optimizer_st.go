package weights

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// OptimizerFromSafetensors rebuilds the optimizer state that `vlbert
// convert` stored in a safetensors file (tensors "optimizer.exp_avg.<name>"
// and "optimizer.exp_avg_sq.<name>", metadata "optimizer.param_groups",
// "optimizer.step" or "optimizer.steps"). Parameter indices follow the
// order of the param groups' params; names[i] is the key of index i (the
// canonical state_dict key, or the original index as text when the
// converter could not name parameters). It returns nil, nil, nil when the
// file has no optimizer state.
func OptimizerFromSafetensors(tensors map[string]*Tensor, meta map[string]string) (opt *OptimizerState, names []string, err error) {
	pgJSON, ok := meta["optimizer.param_groups"]
	if !ok {
		return nil, nil, nil
	}
	var groups []struct {
		LR          float64    `json:"lr"`
		Betas       [2]float64 `json:"betas"`
		Eps         float64    `json:"eps"`
		WeightDecay float64    `json:"weight_decay"`
		CorrectBias bool       `json:"correct_bias"`
		InitialLR   float64    `json:"initial_lr"`
		Params      []string   `json:"params"`
	}
	if err := json.Unmarshal([]byte(pgJSON), &groups); err != nil {
		return nil, nil, fmt.Errorf("weights: optimizer.param_groups metadata: %w", err)
	}
	steps := map[string]int{}
	if s, ok := meta["optimizer.steps"]; ok {
		if err := json.Unmarshal([]byte(s), &steps); err != nil {
			return nil, nil, fmt.Errorf("weights: optimizer.steps metadata: %w", err)
		}
	}
	common := -1
	if s, ok := meta["optimizer.step"]; ok {
		if common, err = strconv.Atoi(s); err != nil {
			return nil, nil, fmt.Errorf("weights: optimizer.step metadata %q: %w", s, err)
		}
	}
	opt = &OptimizerState{State: map[int]*AdamState{}}
	for _, g := range groups {
		pg := ParamGroup{LR: g.LR, Betas: g.Betas, Eps: g.Eps, WeightDecay: g.WeightDecay, CorrectBias: g.CorrectBias, InitialLR: g.InitialLR}
		for _, name := range g.Params {
			i := len(names)
			names = append(names, name)
			pg.Params = append(pg.Params, i)
			m, v := tensors["optimizer.exp_avg."+name], tensors["optimizer.exp_avg_sq."+name]
			if m == nil && v == nil {
				continue // never stepped
			}
			if m == nil || v == nil || !m.IsFloat() || !v.IsFloat() {
				return nil, nil, fmt.Errorf("weights: optimizer state of %s is incomplete", name)
			}
			st := &AdamState{Step: common, ExpAvg: m, ExpAvgSq: v}
			if s, ok := steps[name]; ok {
				st.Step = s
			}
			if st.Step < 0 {
				return nil, nil, fmt.Errorf("weights: no step recorded for %s", name)
			}
			opt.State[i] = st
		}
		opt.ParamGroups = append(opt.ParamGroups, pg)
	}
	for k := range tensors {
		if rest, ok := strings.CutPrefix(k, "optimizer.exp_avg."); ok && !contains(names, rest) {
			return nil, nil, fmt.Errorf("weights: %s belongs to no param group", k)
		}
	}
	return opt, names, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
