package train

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/weights"
)

// Resume config check. A checkpoint stores the config it was trained with;
// resuming under a config that changes the arithmetic (batch, accumulation,
// learning rates and schedule, seeds, the model, the data a batch holds, and
// END_EPOCH where the schedule spans the whole run) breaks the promise that
// a resumed run equals an uninterrupted one, so it is refused unless the user
// says --resume-anyway, which logs every difference. Other differences
// (logging, workers, output and data locations, evaluation settings) are
// logged as notes.

// harmlessKeys change nothing a training step computes. A key matches when
// it equals an entry or has it as a dotted prefix (DATASET keys are listed
// without their list index).
var harmlessKeys = []string{
	"OUTPUT_PATH", "GPUS", "LOG_FREQUENT", "VAL_FREQUENT", "CHECKPOINT_FREQUENT", "NUM_WORKERS_PER_GPU",
	"VAL", "TEST",
	"TRAIN.RESUME", "TRAIN.AUTO_RESUME", "TRAIN.BEGIN_EPOCH", "TRAIN.LOSS_LOGGERS", "TRAIN.FP16", "TRAIN.FP16_LOSS_SCALE",
	// Where the data and the starting weights live (moving them is fine; the
	// starting weights are not read on resume).
	"DATASET.DATASET_PATH", "DATASET.ROOT_PATH", "DATASET.TRAIN_ANNOTATION_FILE", "DATASET.VAL_ANNOTATION_FILE",
	"DATASET.TEST_ANNOTATION_FILE", "DATASET.ANSWER_VOCAB_FILE", "DATASET.BOXES", "DATASET.TRAIN_BOXES", "DATASET.VAL_BOXES",
	"DATASET.TEST_BOXES", "DATASET.ZIP_MODE", "DATASET.CACHE_MODE", "DATASET.IGNORE_DB_CACHE", "DATASET.VAL_IMAGE_SET", "DATASET.TEST_IMAGE_SET",
	"NETWORK.PARTIAL_PRETRAIN", "NETWORK.PARTIAL_PRETRAIN_PREFIX_CHANGES", "NETWORK.BERT_PRETRAINED", "NETWORK.BERT_PRETRAINED_EPOCH",
	"NETWORK.IMAGE_PRETRAINED", "NETWORK.IMAGE_PRETRAINED_EPOCH", "NETWORK.BERT_MODEL_NAME",
}

// configDiff is one key whose value differs.
type configDiff struct {
	key, was, now string
	arithmetic    bool
}

// diffConfigs compares the YAML of a checkpoint's config with cfg.
func diffConfigs(storedYAML string, cfg *config.Config) ([]configDiff, error) {
	nowYAML, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	var was, now map[string]any
	if err := yaml.Unmarshal([]byte(storedYAML), &was); err != nil {
		return nil, fmt.Errorf("the stored config: %w", err)
	}
	if err := yaml.Unmarshal(nowYAML, &now); err != nil {
		return nil, err
	}
	a, b := map[string]string{}, map[string]string{}
	flatten("", was, a)
	flatten("", now, b)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []configDiff
	for k := range keys {
		if a[k] == b[k] {
			continue
		}
		out = append(out, configDiff{key: k, was: orNone(a[k]), now: orNone(b[k]), arithmetic: changesArithmetic(k, cfg)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// flatten writes the leaves of v under dotted keys; lists of scalars are one
// leaf, lists of mappings (DATASET in multitask configs) are indexed.
func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(join(prefix, k), e, out)
		}
	case []any:
		scalars := true
		for _, e := range x {
			if _, ok := e.(map[string]any); ok {
				scalars = false
			}
		}
		if scalars {
			out[prefix] = fmt.Sprint(x)
			return
		}
		for i, e := range x {
			flatten(join(prefix, fmt.Sprint(i)), e, out)
		}
	default:
		out[prefix] = fmt.Sprint(x)
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// changesArithmetic classifies a differing key.
func changesArithmetic(key string, cfg *config.Config) bool {
	generic := key
	if rest, ok := strings.CutPrefix(key, "DATASET."); ok { // DATASET.<i>.KEY -> DATASET.KEY
		if i := strings.IndexByte(rest, '.'); i > 0 && strings.Trim(rest[:i], "0123456789") == "" {
			generic = "DATASET." + rest[i+1:]
		}
	}
	if generic == "TRAIN.END_EPOCH" {
		// The triangle (warmup-linear) schedule decays over the run's total
		// step count; step and plateau do not look at it.
		s := cfg.Train.LRSchedule
		return s != "step" && s != "plateau"
	}
	for _, h := range harmlessKeys {
		if generic == h || strings.HasPrefix(generic, h+".") {
			return false
		}
	}
	return true
}

// checkCandidateConfig runs checkResumeConfig on the config stored in c
// (every rank reads it, so that all decide alike).
func (tr *Trainer) checkCandidateConfig(c candidate, anyway bool, log io.Writer) error {
	meta := c.meta
	if meta == nil {
		var err error
		if meta, err = weights.ReadSafetensorsMetadata(c.path); err != nil {
			return fmt.Errorf("train: resume: %w", err)
		}
	}
	return tr.checkResumeConfig(c.path, meta["config"], anyway, log)
}

// checkResumeConfig compares the checkpoint's config with tr.Cfg: differences
// that change the arithmetic are an error unless anyway, when each is logged;
// others are logged as notes.
func (tr *Trainer) checkResumeConfig(path, storedYAML string, anyway bool, log io.Writer) error {
	if storedYAML == "" {
		fmt.Fprintf(log, "note: %s stores no config; resuming without comparing settings\n", path)
		return nil
	}
	diffs, err := diffConfigs(storedYAML, tr.Cfg)
	if err != nil {
		return fmt.Errorf("train: resume: %s: %w", path, err)
	}
	var refused []string
	for _, d := range diffs {
		switch {
		case !d.arithmetic:
			fmt.Fprintf(log, "note: %s was %s in %s, now %s\n", d.key, d.was, path, d.now)
		case anyway:
			fmt.Fprintf(log, "warning: --resume-anyway: %s was %s in %s, now %s (the resumed run will not match an uninterrupted one)\n", d.key, d.was, path, d.now)
		default:
			refused = append(refused, fmt.Sprintf("%s: %s -> %s", d.key, d.was, d.now))
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("train: resume: the config differs from the one %s was trained with in settings that change the arithmetic:\n  %s\n"+
			"restore them (the checkpoint's config is saved next to it), or pass --resume-anyway to continue with the new values", path, strings.Join(refused, "\n  "))
	}
	if anyway {
		tr.State.Seed = int64(tr.Cfg.RNGSeed)
	}
	return nil
}
