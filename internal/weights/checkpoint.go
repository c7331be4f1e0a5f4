package weights

import (
	"fmt"

	"github.com/nlpodyssey/gopickle/types"
)

type pyItem struct{ key, value any }

// pyItems returns the entries of a dict or OrderedDict in order.
func pyItems(v any) ([]pyItem, bool) {
	switch d := v.(type) {
	case *types.Dict:
		out := make([]pyItem, len(*d))
		for i, e := range *d {
			out[i] = pyItem{e.Key, e.Value}
		}
		return out, true
	case *types.OrderedDict:
		out := make([]pyItem, 0, d.Len())
		for el := d.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			out = append(out, pyItem{e.Key, e.Value})
		}
		return out, true
	}
	return nil, false
}

// dictGet looks a string key up in a dict or OrderedDict (the last entry wins,
// as a repeated SETITEM does in Python).
func dictGet(v any, key string) (any, bool) {
	items, ok := pyItems(v)
	if !ok {
		return nil, false
	}
	var val any
	found := false
	for _, it := range items {
		if k, ok := it.key.(string); ok && k == key {
			val, found = it.value, true
		}
	}
	return val, found
}

// checkpointFrom interprets the unpickled top-level object.
func checkpointFrom(obj any, viewOf map[*Tensor]string) (*TorchCheckpoint, error) {
	if _, ok := pyItems(obj); !ok {
		return nil, fmt.Errorf("the saved object is a %s, not a dict", describe(obj))
	}
	ck := &TorchCheckpoint{}
	sdObj, ok := dictGet(obj, "state_dict")
	if !ok {
		// A bare state_dict (ResNet backbone, BERT pytorch_model.bin).
		ck.Raw = true
		sdObj = obj
	}
	if err := ck.setStateDict(sdObj, viewOf); err != nil {
		return nil, err
	}
	if ck.Raw && len(ck.Keys) == 0 {
		return nil, fmt.Errorf("no \"state_dict\" entry and no tensors at the top level")
	}
	if optObj, ok := dictGet(obj, "optimizer"); ok && optObj != nil && !ck.Raw {
		opt, err := optimizerFrom(optObj)
		if err != nil {
			return nil, fmt.Errorf("optimizer: %w", err)
		}
		ck.Optimizer = opt
	}
	if vm, ok := dictGet(obj, "validation_monitor"); ok && !ck.Raw {
		items, ok := pyItems(vm)
		if !ok {
			return nil, fmt.Errorf("validation_monitor is a %s, not a dict", describe(vm))
		}
		ck.ValidationMonitor = map[string]float64{}
		for _, it := range items {
			k, kok := it.key.(string)
			f, fok := pyFloat(it.value)
			if kok && fok {
				ck.ValidationMonitor[k] = f
			}
		}
	}
	return ck, nil
}

func (ck *TorchCheckpoint) setStateDict(sdObj any, viewOf map[*Tensor]string) error {
	items, ok := pyItems(sdObj)
	if !ok {
		return fmt.Errorf("state_dict is a %s, not a dict", describe(sdObj))
	}
	ck.StateDict = make(map[string]*Tensor, len(items))
	ck.Aliases = map[string]string{}
	firstWithView := map[string]string{}
	used := map[*Tensor]bool{}
	for _, it := range items {
		k, ok := it.key.(string)
		if !ok {
			return fmt.Errorf("state_dict key %v is not a string", describe(it.key))
		}
		t, ok := it.value.(*Tensor)
		if !ok {
			if ck.Raw {
				continue // other entries of a bare dict (e.g. an epoch number)
			}
			return fmt.Errorf("state_dict[%q] is a %s, not a tensor", k, describe(it.value))
		}
		if _, dup := ck.StateDict[k]; !dup {
			ck.Keys = append(ck.Keys, k)
		}
		v, hasView := viewOf[t]
		if used[t] { // the same pickled object under two keys: give each its own copy
			t = t.Clone()
		}
		used[t] = true
		ck.StateDict[k] = t
		if hasView {
			if first, ok := firstWithView[v]; ok && first != k {
				ck.Aliases[k] = first
			} else if !ok {
				firstWithView[v] = k
			}
		}
	}
	return nil
}

func optimizerFrom(v any) (*OptimizerState, error) {
	if _, ok := pyItems(v); !ok {
		return nil, fmt.Errorf("is a %s, not a dict", describe(v))
	}
	opt := &OptimizerState{State: map[int]*AdamState{}}
	if stObj, ok := dictGet(v, "state"); ok {
		items, ok := pyItems(stObj)
		if !ok {
			return nil, fmt.Errorf("state is a %s, not a dict", describe(stObj))
		}
		for _, it := range items {
			idx, ok := pyInt(it.key)
			if !ok {
				return nil, fmt.Errorf("state key %v is not a parameter index", describe(it.key))
			}
			entries, ok := pyItems(it.value)
			if !ok {
				return nil, fmt.Errorf("state[%d] is a %s, not a dict", idx, describe(it.value))
			}
			as := &AdamState{}
			for _, e := range entries {
				name, _ := e.key.(string)
				switch t, isT := e.value.(*Tensor); {
				case name == "step":
					step, ok := pyFloat(e.value) // int, or a scalar tensor in newer torch
					if !ok {
						return nil, fmt.Errorf("state[%d].step is a %s", idx, describe(e.value))
					}
					as.Step = int(step)
				case name == "exp_avg" && isT:
					as.ExpAvg = t
				case name == "exp_avg_sq" && isT:
					as.ExpAvgSq = t
				case isT:
					if as.Extra == nil {
						as.Extra = map[string]*Tensor{}
					}
					as.Extra[name] = t
				}
			}
			opt.State[int(idx)] = as
		}
	}
	if pgObj, ok := dictGet(v, "param_groups"); ok {
		list, ok := pgObj.(*types.List)
		if !ok {
			return nil, fmt.Errorf("param_groups is a %s, not a list", describe(pgObj))
		}
		for gi, g := range *list {
			if _, ok := pyItems(g); !ok {
				return nil, fmt.Errorf("param_groups[%d] is a %s, not a dict", gi, describe(g))
			}
			var pg ParamGroup
			num := func(name string) float64 {
				if x, ok := dictGet(g, name); ok {
					if f, ok := pyFloat(x); ok {
						return f
					}
				}
				return 0
			}
			pg.LR, pg.Eps, pg.WeightDecay, pg.InitialLR = num("lr"), num("eps"), num("weight_decay"), num("initial_lr")
			if b, ok := dictGet(g, "correct_bias"); ok {
				pg.CorrectBias = b == true
			}
			if b, ok := dictGet(g, "betas"); ok {
				if t, ok := b.(*types.Tuple); ok && t.Len() == 2 {
					pg.Betas[0], _ = pyFloat(t.Get(0))
					pg.Betas[1], _ = pyFloat(t.Get(1))
				}
			}
			if p, ok := dictGet(g, "params"); ok {
				ps, err := intTuple(p)
				if err != nil {
					return nil, fmt.Errorf("param_groups[%d].params: %w", gi, err)
				}
				for _, x := range ps {
					pg.Params = append(pg.Params, int(x))
				}
			}
			opt.ParamGroups = append(opt.ParamGroups, pg)
		}
	}
	return opt, nil
}
