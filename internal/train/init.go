package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/dist"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/weights"
)

// buildModel creates the network of cfg with weights drawn from RNG_SEED,
// then the BERT checkpoint of NETWORK.BERT_PRETRAINED or BERT_MODEL_NAME
// (languagePretrained), the NETWORK.PARTIAL_PRETRAIN checkpoint (non-strict,
// with PARTIAL_PRETRAIN_PREFIX_CHANGES; unmatched keys are reported) and the
// task's own initialisation (VQA CLASSIFIER_PRETRAINED).
func buildModel(cfg *config.Config, task Task, log io.Writer) (model.Module, error) {
	m, err := newModel(cfg, task)
	if err != nil {
		return nil, err
	}
	m.Base().InitWeights(uint64(cfg.RNGSeed))
	if e := e2eOf(task); e != nil {
		if err := initCNN(cfg, e.cnn.net, log); err != nil {
			return nil, err
		}
	}
	if path := languagePretrained(cfg); path != "" {
		sd, err := weights.ReadModelWeights(path)
		if err != nil {
			return nil, fmt.Errorf("train: BERT weights: %w", err)
		}
		imp, err := weights.ImportBERT(sd)
		if err != nil {
			return nil, fmt.Errorf("train: %s: %w", path, err)
		}
		rep, err := m.Base().LoadBERT(imp, path)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "BERT weights from %s: %d tensors loaded\n", path, len(rep.Loaded))
	}
	if path := cfg.Network.PartialPretrain; path != "" {
		rep, err := LoadPartial(m.Base(), path, cfg.Network.PartialPretrainPrefixChanges)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "partial pretrain %s: %d keys loaded\n", path, len(rep.Loaded))
		if len(rep.Unexpected) > 0 {
			fmt.Fprintf(log, "[Warning] not matched keys in the pretrained checkpoint: %s\n", strings.Join(rep.Unexpected, ", "))
		}
		if len(rep.Missing) > 0 {
			fmt.Fprintf(log, "[Warning] model keys not pretrained: %s\n", strings.Join(rep.Missing, ", "))
		}
	}
	if in, ok := task.(interface{ initModel(model.Module) error }); ok {
		if err := in.initModel(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// languagePretrained is the BERT checkpoint every original module loads into
// VisualLinguisticBert when it is built (load_language_pretrained_model, e.g.
// vqa/modules/resnet_vlbert_for_vqa.py ResNetVLBERT.__init__):
// '{BERT_PRETRAINED}-{BERT_PRETRAINED_EPOCH:04d}.model' when BERT_PRETRAINED
// is set, else BERT_MODEL_NAME/pytorch_model.bin when that file exists, else
// none (the original prints "no pretrained language model found, training
// from scratch").
func languagePretrained(cfg *config.Config) string {
	n := &cfg.Network
	if n.BertPretrained != "" {
		return fmt.Sprintf("%s-%04d.model", n.BertPretrained, n.BertPretrainedEpoch)
	}
	path := filepath.Join(n.BertModelName, "pytorch_model.bin")
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return path
	}
	return ""
}

// newModel builds the model of cfg with zero weights; for an e2e config the
// CNN too, attached to task (its parameters in the model's arena).
func newModel(cfg *config.Config, task Task) (model.Module, error) {
	mc, err := modelConfig(cfg)
	if err != nil {
		return nil, err
	}
	e := e2eOf(task)
	if !isE2E(cfg) || e == nil {
		if isE2E(cfg) {
			return nil, fmt.Errorf("train: an e2e config needs its task built by NewTask")
		}
		return model.New(mc)
	}
	vc, err := visualConfig(cfg)
	if err != nil {
		return nil, err
	}
	m, net, err := newE2EModel(mc, vc)
	if err != nil {
		return nil, err
	}
	e.cnn = &e2eCNN{net: net}
	return m, nil
}

// LoadPartial loads the state_dict of an original .model (or one of vlbert's
// checkpoints) into m after the "old->new" prefix rules, keeping every
// parameter the file does not have, as the original's
// smart_partial_load_model_state_dict.
func LoadPartial(m *model.Model, path string, rules []string) (model.LoadReport, error) {
	var sd map[string]*weights.Tensor
	if isSafetensors(path) {
		t, _, err := weights.ReadSafetensors(path)
		if err != nil {
			return model.LoadReport{}, err
		}
		sd = map[string]*weights.Tensor{}
		for k, v := range t {
			if !strings.HasPrefix(k, "optimizer.") && !strings.HasPrefix(k, "trainer.") {
				sd[k] = v
			}
		}
	} else {
		ck, err := weights.ReadTorch(path)
		if err != nil {
			return model.LoadReport{}, err
		}
		sd = ck.StateDict
	}
	sd, err := weights.ApplyPrefixChanges(rules, dropBatchCounters(sd))
	if err != nil {
		return model.LoadReport{}, err
	}
	return m.LoadTorchStateDict(sd, path, false)
}

// resume continues from the latest checkpoint when --resume, TRAIN.RESUME
// or TRAIN.AUTO_RESUME asks for it. In a data-parallel job rank 0 picks the
// checkpoint and every rank loads it (the output directory must be visible
// to all ranks, as in the original).
func (tr *Trainer) resume(prefix string, force, anyway bool, log io.Writer) error {
	t := &tr.Cfg.Train
	if !force && !t.Resume && !t.AutoResume {
		return nil
	}
	var c candidate
	var err error
	if tr.comm.Rank() == 0 {
		c, err = chooseResume(prefix, force, t.Resume, t.BeginEpoch, tr.batchesPerEpoch)
	}
	if tr.comm.Size() > 1 {
		if c, err = shareCandidate(tr.comm, c, err); err != nil {
			return err
		}
	}
	if err != nil || c.path == "" {
		return err
	}
	for _, w := range c.warnings {
		fmt.Fprintf(log, "warning: %s\n", w)
	}
	if c.torch {
		err = tr.loadTorchResume(c, tr.batchesPerEpoch)
	} else {
		err = tr.loadCandidate(c)
	}
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if !c.torch {
		if err := tr.checkCandidateConfig(c, anyway, log); err != nil {
			return err
		}
	}
	if tr.State.Seed != int64(tr.Cfg.RNGSeed) {
		return fmt.Errorf("train: resume: %s was trained with RNG_SEED %d, the config has %d", c.path, tr.State.Seed, tr.Cfg.RNGSeed)
	}
	tr.resumedFrom = c.path
	fmt.Fprintf(log, "resumed from %s at epoch %d batch %d (global batch %d, %d updates)\n", c.path, tr.State.Epoch, tr.State.Batch, tr.State.Global, tr.State.Updates)
	return tr.resetSchedule()
}

// chooseResume returns the checkpoint to resume from ("" path: none).
// TRAIN.RESUME (without --resume) names the epoch BEGIN_EPOCH-1 checkpoint,
// ours or the original's; otherwise the latest one is taken.
func chooseResume(prefix string, force, trainResume bool, beginEpoch, batchesPerEpoch int) (candidate, error) {
	if trainResume && !force {
		e := beginEpoch - 1
		c := candidate{path: epochCheckpoint(prefix, e)}
		if _, err := os.Stat(c.path); err != nil {
			c = candidate{path: fmt.Sprintf("%s-%04d.model", prefix, e), torch: true, epoch: e}
		}
		return c, nil
	}
	c, err := findResume(prefix, batchesPerEpoch)
	if err == nil && c.path == "" && force {
		err = fmt.Errorf("train: --resume: no checkpoint %s-*.safetensors or -NNNN.model to resume from", prefix)
	}
	return c, err
}

// shareCandidate sends rank 0's choice (or error) to every rank.
func shareCandidate(c dist.Comm, cand candidate, cerr error) (candidate, error) {
	type wire struct {
		Path  string
		Torch bool
		Epoch int
		Err   string
	}
	w := wire{Path: cand.path, Torch: cand.torch, Epoch: cand.epoch}
	if cerr != nil {
		w.Err = cerr.Error()
	}
	blob, err := json.Marshal(w)
	if err != nil {
		return candidate{}, err
	}
	if blob, err = dist.BroadcastBlob(c, blob); err != nil {
		return candidate{}, err
	}
	if err := json.Unmarshal(blob, &w); err != nil {
		return candidate{}, fmt.Errorf("train: resume choice from rank 0: %w", err)
	}
	if w.Err != "" {
		return candidate{}, errors.New(w.Err)
	}
	return candidate{path: w.Path, torch: w.Torch, epoch: w.Epoch}, nil
}
