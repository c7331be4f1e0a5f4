package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/optim"
	"github.com/vlbert/vlbert/internal/weights"
)

// Checkpoint format (vlbert's own, safetensors):
//
//	<state_dict key>                      F32 parameter (original key, no "module.")
//	optimizer.step                        I64 [params] updates per parameter
//	optimizer.exp_avg.<key>               F32 AdamW/Adam first moment
//	optimizer.exp_avg_sq.<key>            F32 AdamW/Adam second moment
//	optimizer.momentum_buffer.<key>       F32 SGD momentum
//	trainer.pending_grad                  F32 [arena] gradients accumulated since the last update (only when non-empty)
//	metadata: format=vlbert-train, version=1, trainer=<State JSON>, groups=<[]optim.Group JSON>, optimizer=<kind>, config=<YAML>,
//	          answers=<VQA answer list JSON> (VQA), data_sha256=<hex> (weights.MetaDataSHA256)
//
// The file is written atomically, so one that exists is complete.
const (
	ckptFormat  = "vlbert-train"
	ckptVersion = "1"
	ckptExt     = ".safetensors"
)

// metaAnswers is infer.MetaAnswers: the VQA answer list, a JSON array of
// strings, so that a checkpoint is self-contained for inference.
const metaAnswers = "answers"

// answerList is the answer vocabulary of a VQA task (nil for other tasks).
func answerList(t Task) []string {
	vt, ok := t.(*vqaTask)
	if !ok {
		return nil
	}
	for _, d := range vt.sets {
		if d.Vocab != nil {
			return d.Vocab.Answers
		}
	}
	return nil
}

// State is the trainer's position, saved in every checkpoint.
type State struct {
	Epoch     int     `json:"epoch"`      // current epoch (0-based)
	Batch     int     `json:"batch"`      // next batch of Epoch
	Global    int     `json:"global"`     // batches done in the whole run (the TensorBoard step)
	Updates   int     `json:"updates"`    // optimizer updates done
	BestVal   float64 `json:"best_val"`   // best host metric so far (-Inf: none)
	BestEpoch int     `json:"best_epoch"` // its epoch (-1: none)
	Seed      int64   `json:"seed"`       // RNG_SEED of the run
	Pending   bool    `json:"pending"`    // gradients are accumulated but not applied
}

// MarshalJSON writes -Inf best values as null.
func (s State) MarshalJSON() ([]byte, error) {
	type plain State
	p := struct {
		plain
		BestVal *float64 `json:"best_val"`
	}{plain: plain(s)}
	if !math.IsInf(s.BestVal, 0) && !math.IsNaN(s.BestVal) {
		p.BestVal = &s.BestVal
	}
	return json.Marshal(p)
}

// UnmarshalJSON reads null best values as -Inf.
func (s *State) UnmarshalJSON(b []byte) error {
	type plain State
	p := struct {
		*plain
		BestVal *float64 `json:"best_val"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	s.BestVal = math.Inf(-1)
	if p.BestVal != nil {
		s.BestVal = *p.BestVal
	}
	return nil
}

// SaveCheckpoint writes the trainer's weights, optimizer and state to path.
func (tr *Trainer) SaveCheckpoint(path string) error { return tr.saveCheckpoint(path, nil) }

// saveCheckpoint is SaveCheckpoint with the epoch's running averages (nil:
// none) for a resume to continue.
func (tr *Trainer) saveCheckpoint(path string, running *Metrics) error {
	p := tr.Model.Params
	tensors := make(map[string]*weights.Tensor, 4*len(p.List))
	st := tr.Opt.State()
	steps := make([]int64, len(p.List))
	for i, q := range p.List {
		tensors[q.Name] = weights.NewF32(p.Data[q.Offset:q.Offset+q.Size], q.Shape...)
		steps[i] = int64(st.Steps[i])
		for _, mom := range []struct {
			name string
			buf  []float32
		}{{"exp_avg", st.ExpAvg}, {"exp_avg_sq", st.ExpAvgSq}, {"momentum_buffer", st.MomentumBuf}} {
			if mom.buf != nil {
				tensors["optimizer."+mom.name+"."+q.Name] = weights.NewF32(mom.buf[q.Offset:q.Offset+q.Size], q.Shape...)
			}
		}
	}
	tensors["optimizer.step"] = weights.NewI64(steps, len(steps))
	saveBatchCounters(tr.Task, tensors)
	if tr.State.Pending {
		tensors["trainer.pending_grad"] = weights.NewF32(p.Grad, len(p.Grad))
	}
	stateJSON, err := json.Marshal(tr.State)
	if err != nil {
		return err
	}
	groupsJSON, err := json.Marshal(st.Groups)
	if err != nil {
		return err
	}
	cfgYAML, err := tr.Cfg.Marshal()
	if err != nil {
		return fmt.Errorf("train: config: %w", err)
	}
	meta := map[string]string{"format": ckptFormat, "version": ckptVersion, "trainer": string(stateJSON),
		"groups": string(groupsJSON), "optimizer": st.Kind, "config": string(cfgYAML)}
	if rm := runningOf(running); rm != nil {
		// Non-finite sums (JSON has no NaN) are not saved: the resumed run
		// then says its averages restart.
		if b, err := json.Marshal(rm); err == nil {
			meta[metaRunning] = string(b)
		}
	}
	if answers := answerList(tr.Task); answers != nil {
		// Inference reads the answers from here and never opens a path
		// stored in a checkpoint.
		b, err := json.Marshal(answers)
		if err != nil {
			return err
		}
		meta[metaAnswers] = string(b)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return weights.WriteSafetensors(path, tensors, meta)
}

// loadOwnCheckpoint restores weights, optimizer state, pending gradients and
// the trainer state from one of our checkpoints.
func (tr *Trainer) loadOwnCheckpoint(path string) error {
	tensors, meta, err := weights.ReadSafetensors(path)
	if err != nil {
		return err
	}
	return tr.applyCheckpoint(tensors, meta, path)
}

// loadCandidate restores the trainer from c, reusing what findResume read
// while verifying it.
func (tr *Trainer) loadCandidate(c candidate) error {
	if c.tensors == nil {
		return tr.loadOwnCheckpoint(c.path)
	}
	return tr.applyCheckpoint(c.tensors, c.meta, c.path)
}

// applyCheckpoint restores the trainer from a checkpoint's tensors and
// metadata; path names it in errors.
func (tr *Trainer) applyCheckpoint(tensors map[string]*weights.Tensor, meta map[string]string, path string) error {
	if meta["format"] != ckptFormat {
		return fmt.Errorf("train: %s is not a vlbert training checkpoint (metadata format %q)", path, meta["format"])
	}
	if meta["version"] != ckptVersion {
		return fmt.Errorf("train: %s has checkpoint version %q, this vlbert reads %q", path, meta["version"], ckptVersion)
	}
	if err := loadParams(tr.Model, tensors, path); err != nil {
		return err
	}
	if err := loadBatchCounters(tr.Task, tensors, path); err != nil {
		return err
	}
	var s State
	if err := json.Unmarshal([]byte(meta["trainer"]), &s); err != nil {
		return fmt.Errorf("train: %s: trainer state: %w", path, err)
	}
	st := tr.Opt.State()
	if meta["optimizer"] != st.Kind {
		return fmt.Errorf("train: %s holds a %s optimizer state, TRAIN.OPTIMIZER builds %s", path, meta["optimizer"], st.Kind)
	}
	var groups []optim.Group
	if err := json.Unmarshal([]byte(meta["groups"]), &groups); err != nil {
		return fmt.Errorf("train: %s: optimizer groups: %w", path, err)
	}
	if len(groups) != len(st.Groups) {
		return fmt.Errorf("train: %s has %d parameter groups, TRAIN.LR_MULT gives %d", path, len(groups), len(st.Groups))
	}
	next := &optim.State{Kind: st.Kind, Steps: make([]int, len(st.Steps)), Groups: groups}
	p := tr.Model.Params
	stepT := tensors["optimizer.step"]
	if stepT == nil || len(stepT.I64) != len(p.List) {
		return fmt.Errorf("train: %s: optimizer.step missing or not %d integers", path, len(p.List))
	}
	for i := range p.List {
		next.Steps[i] = int(stepT.I64[i])
	}
	for _, mom := range []struct {
		name string
		dst  *[]float32
		want []float32
	}{{"exp_avg", &next.ExpAvg, st.ExpAvg}, {"exp_avg_sq", &next.ExpAvgSq, st.ExpAvgSq}, {"momentum_buffer", &next.MomentumBuf, st.MomentumBuf}} {
		if mom.want == nil {
			continue
		}
		buf := make([]float32, len(mom.want))
		for _, q := range p.List {
			t := tensors["optimizer."+mom.name+"."+q.Name]
			if t == nil || len(t.F32) != q.Size {
				return fmt.Errorf("train: %s: optimizer.%s.%s missing or not %d floats", path, mom.name, q.Name, q.Size)
			}
			copy(buf[q.Offset:], t.F32)
		}
		*mom.dst = buf
	}
	if err := tr.Opt.LoadState(next); err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	clear(p.Grad)
	if s.Pending {
		g := tensors["trainer.pending_grad"]
		if g == nil || len(g.F32) != len(p.Grad) {
			return fmt.Errorf("train: %s: trainer.pending_grad missing or not %d floats", path, len(p.Grad))
		}
		copy(p.Grad, g.F32)
	}
	tr.State = s
	tr.touched = touchedFromSteps(next.Steps)
	return nil
}

// loadParams copies the parameters of a tensor map (ours: plain state_dict
// keys plus optimizer/trainer entries) into m, strictly.
func loadParams(m *model.Model, tensors map[string]*weights.Tensor, source string) error {
	sd := make(map[string]*weights.Tensor, len(m.Params.List))
	for k, t := range tensors {
		if !strings.HasPrefix(k, "optimizer.") && !strings.HasPrefix(k, "trainer.") {
			sd[k] = t
		}
	}
	_, err := m.LoadTorchStateDict(dropBatchCounters(sd), source, true)
	return err
}

// LoadWeights loads the parameters of a checkpoint into m: one of vlbert's
// training checkpoints (.safetensors) or an original PyTorch .model file
// (its state_dict). Every parameter must be present.
func LoadWeights(m *model.Model, path string) error {
	if isSafetensors(path) {
		tensors, _, err := weights.ReadSafetensors(path)
		if err != nil {
			return err
		}
		return loadParams(m, tensors, path)
	}
	ck, err := weights.ReadTorch(path)
	if err != nil {
		return err
	}
	_, err = m.LoadTorchStateDict(dropBatchCounters(ck.StateDict), path, true)
	return err
}

// isSafetensors tells the two checkpoint formats apart by content: a
// safetensors file starts with a little-endian header length and '{'.
func isSafetensors(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return strings.HasSuffix(path, ckptExt)
	}
	defer f.Close()
	var b [9]byte
	if n, _ := f.Read(b[:]); n < 9 {
		return false
	}
	return b[8] == '{'
}

// checkpoint names: {prefix}-{epoch:04d}.safetensors at epoch ends,
// {prefix}-latest.safetensors mid-epoch (interrupt, step limit, periodic),
// {prefix}-best.safetensors, and the original's {prefix}-{epoch:04d}.model.
func epochCheckpoint(prefix string, epoch int) string {
	return fmt.Sprintf("%s-%04d%s", prefix, epoch, ckptExt)
}
func latestCheckpoint(prefix string) string { return prefix + "-latest" + ckptExt }
func bestCheckpoint(prefix string) string   { return prefix + "-best" + ckptExt }

// candidate is a checkpoint a run can resume from.
type candidate struct {
	path   string
	global int  // batches done
	torch  bool // original .model file
	epoch  int  // torch: the epoch it ends

	// Set by findResume: the verified contents of one of our checkpoints
	// (nil: read again), and the newer checkpoints it skipped, with why.
	tensors  map[string]*weights.Tensor
	meta     map[string]string
	warnings []string
}

// findResume returns the checkpoint of prefix with the most batches done that
// verifies (reads completely: checksum, finite values, trainer state), or ""
// when there is none. Newer checkpoints that do not verify are skipped, each
// with a warning in the result. batchesPerEpoch converts original epoch
// numbers.
func findResume(prefix string, batchesPerEpoch int) (candidate, error) {
	cands, warnings, err := listResume(prefix, batchesPerEpoch)
	if err != nil {
		return candidate{}, err
	}
	for _, c := range cands {
		if err := c.verify(); err != nil {
			warnings = append(warnings, fmt.Sprintf("skipping %s: %v", c.path, err))
			continue
		}
		c.warnings = warnings
		return c, nil
	}
	if len(warnings) > 0 {
		return candidate{}, fmt.Errorf("train: no checkpoint of %s verifies:\n  %s", prefix, strings.Join(warnings, "\n  "))
	}
	return candidate{}, nil
}

// verify reads c completely; ours keep what was read.
func (c *candidate) verify() error {
	if c.torch {
		_, err := weights.ReadTorch(c.path)
		return err
	}
	tensors, meta, err := weights.ReadSafetensors(c.path)
	if err != nil {
		return err
	}
	if _, err := stateOf(meta, c.path); err != nil {
		return err
	}
	c.tensors, c.meta = tensors, meta
	return nil
}

// listResume lists the checkpoints of prefix, most batches first (ours before
// an original at the same point), from their headers; unreadable headers are
// warnings.
func listResume(prefix string, batchesPerEpoch int) ([]candidate, []string, error) {
	dir, base := filepath.Dir(prefix), filepath.Base(prefix)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	re := regexp.MustCompile("^" + regexp.QuoteMeta(base) + `-(\d{4}|latest)(\.safetensors|\.model)$`)
	var cands []candidate
	var warnings []string
	for _, e := range entries {
		mm := re.FindStringSubmatch(e.Name())
		if mm == nil || mm[1] == "latest" && mm[2] == ".model" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if mm[2] == ".model" {
			ep, _ := strconv.Atoi(mm[1])
			cands = append(cands, candidate{path: path, global: (ep + 1) * batchesPerEpoch, torch: true, epoch: ep})
			continue
		}
		s, err := readState(path)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("skipping %s: %v", path, err))
			continue
		}
		cands = append(cands, candidate{path: path, global: s.Global})
	}
	// Most batches first; ours before an original at the same point.
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].global != cands[j].global {
			return cands[i].global > cands[j].global
		}
		return !cands[i].torch && cands[j].torch
	})
	return cands, warnings, nil
}

// readState reads the trainer state of one of our checkpoints from its header.
func readState(path string) (State, error) {
	meta, err := weights.ReadSafetensorsMetadata(path)
	if err != nil {
		return State{}, err
	}
	return stateOf(meta, path)
}

// stateOf parses the trainer state in a checkpoint's metadata.
func stateOf(meta map[string]string, path string) (State, error) {
	if meta["format"] != ckptFormat {
		return State{}, fmt.Errorf("train: %s is not a vlbert training checkpoint", path)
	}
	var s State
	if err := json.Unmarshal([]byte(meta["trainer"]), &s); err != nil {
		return State{}, fmt.Errorf("train: %s: trainer state: %w", path, err)
	}
	return s, nil
}

// loadTorchResume resumes from an original {prefix}-{epoch}.model: weights,
// AdamW state and validation monitor; the run continues at epoch+1.
func (tr *Trainer) loadTorchResume(c candidate, batchesPerEpoch int) error {
	ck, err := weights.ReadTorch(c.path)
	if err != nil {
		return err
	}
	if err := loadBatchCounters(tr.Task, ck.StateDict, c.path); err != nil {
		return err
	}
	if _, err := tr.Model.LoadTorchStateDict(dropBatchCounters(ck.StateDict), c.path, true); err != nil {
		return err
	}
	if ck.Optimizer != nil {
		aw, ok := tr.Opt.(*optim.AdamW)
		if !ok {
			return fmt.Errorf("train: %s: resuming an original optimizer state needs TRAIN.OPTIMIZER AdamW", c.path)
		}
		if err := optim.LoadTorchAdamW(aw, ck); err != nil {
			return fmt.Errorf("train: %s: %w", c.path, err)
		}
		tr.touched = touchedFromSteps(aw.State().Steps)
	}
	accum := max(1, tr.Cfg.Train.GradAccumulateSteps)
	tr.State.Epoch, tr.State.Batch = c.epoch+1, 0
	tr.State.Global = (c.epoch + 1) * batchesPerEpoch
	tr.State.Updates = tr.State.Global / accum
	tr.State.Pending = false
	if v, ok := ck.ValidationMonitor["best_val"]; ok {
		tr.State.BestVal = v
		tr.State.BestEpoch = int(ck.ValidationMonitor["best_epoch"])
	}
	clear(tr.Model.Params.Grad)
	return nil
}

func touchedFromSteps(steps []int) []bool {
	t := make([]bool, len(steps))
	for i, s := range steps {
		t[i] = s > 0
	}
	return t
}
