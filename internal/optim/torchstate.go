package optim

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/weights"
)

// LoadTorchAdamW resumes o from the AdamW state of an original checkpoint
// (the "optimizer" entry of a {prefix}-XXXX.model file), as the original's
// optimizer.load_state_dict does. Checkpoint parameter indices are mapped to
// names with ck.ParamNames and matched to o.Params by weights.CanonicalKey;
// every Param must exist in the checkpoint with the same size. Parameters
// the checkpoint has no state for keep step 0 (PyTorch: never stepped). The
// group hyperparameters (lr, initial_lr, weight_decay, betas, eps,
// correct_bias) are taken from the checkpoint; its group count must match.
func LoadTorchAdamW(o *AdamW, ck *weights.TorchCheckpoint) error {
	names, err := ck.ParamNames()
	if err != nil {
		return fmt.Errorf("optim: %w", err)
	}
	pgs := ck.Optimizer.ParamGroups
	if len(pgs) != len(o.groups) {
		return fmt.Errorf("optim: checkpoint has %d parameter groups, the optimizer %d", len(pgs), len(o.groups))
	}
	index := make(map[string]int, len(names))
	for i, n := range names {
		index[weights.CanonicalKey(n)] = i
	}
	for i, p := range o.Params {
		ti, ok := index[weights.CanonicalKey(p.Name)]
		if !ok {
			return fmt.Errorf("optim: parameter %s is not in the checkpoint's optimizer", p.Name)
		}
		if n := ck.StateDict[names[ti]].Numel(); n != p.Size {
			return fmt.Errorf("optim: parameter %s has %d elements, the checkpoint %d", p.Name, p.Size, n)
		}
		st := ck.Optimizer.State[ti]
		if st == nil {
			o.steps[i] = 0
			clear(o.expAvg[p.Offset : p.Offset+p.Size])
			clear(o.expAvgSq[p.Offset : p.Offset+p.Size])
			continue
		}
		if st.ExpAvg == nil || st.ExpAvgSq == nil || st.ExpAvg.F32 == nil || st.ExpAvgSq.F32 == nil {
			return fmt.Errorf("optim: checkpoint state of %s lacks float exp_avg/exp_avg_sq", p.Name)
		}
		if err := o.SetAdamState(i, st.Step, st.ExpAvg.F32, st.ExpAvgSq.F32); err != nil {
			return err
		}
	}
	for g, pg := range pgs {
		o.groups[g] = Group{LR: pg.LR, InitialLR: pg.InitialLR, WeightDecay: pg.WeightDecay}
		if pg.InitialLR == 0 {
			o.groups[g].InitialLR = pg.LR
		}
	}
	o.Beta1, o.Beta2, o.Eps, o.CorrectBias = pgs[0].Betas[0], pgs[0].Betas[1], pgs[0].Eps, pgs[0].CorrectBias
	return nil
}
