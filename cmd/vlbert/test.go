package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/train"
)

// testOptions are the flags of `vlbert test`.
type testOptions struct {
	cfg, ckpt, split, out string
	qa2rCfg, qa2rCkpt     string // VCR: the QA→R model, for the merged Q2AR file
	sets                  setFlags
	int8                  bool // encoder Linear layers in int8
}

func init() {
	register(&command{name: "test", summary: "write leaderboard files for a split: vlbert test --cfg CFG --ckpt FILE",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o testOptions
			fs := newFlagSet("test", stderr)
			fs.StringVar(&o.cfg, "cfg", "", "YAML config in the original schema (VQA, RefCOCO+: TEST_IMAGE_SET is the split read; VCR: TEST_ANNOTATION_FILE)")
			fs.StringVar(&o.ckpt, "ckpt", "", "checkpoint: vlbert .safetensors or original .model")
			fs.StringVar(&o.split, "split", "test", "\"test\": the config's test split; another name replaces it (VQA, RefCOCO+: TEST_IMAGE_SET, e.g. test-dev2015; VCR: TEST_ANNOTATION_FILE <split>.jsonl); also names the VQA/RefCOCO+ result file")
			fs.StringVar(&o.out, "out", "", "result directory (default: the checkpoint's directory)")
			fs.StringVar(&o.qa2rCfg, "qa2r-cfg", "", "VCR: config of the QA2R model; with --qa2r-ckpt, --cfg/--ckpt must be the Q2A model and the merged {name}_test_result_Q2AR.csv leaderboard file is written too")
			fs.StringVar(&o.qa2rCkpt, "qa2r-ckpt", "", "VCR: checkpoint of the QA2R model (see --qa2r-cfg)")
			fs.Var(&o.sets, "set", "override a config key, KEY=VALUE (repeatable; applies to both VCR configs)")
			int8Flag(fs, &o.int8)
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if o.cfg == "" || o.ckpt == "" {
				return usagef("test: --cfg and --ckpt are required")
			}
			if (o.qa2rCfg == "") != (o.qa2rCkpt == "") {
				return usagef("test: --qa2r-cfg and --qa2r-ckpt go together")
			}
			return runTest(ctx, o, stdout)
		}})
}

func runTest(ctx context.Context, o testOptions, stdout io.Writer) error {
	out := o.out
	if out == "" {
		out = filepath.Dir(o.ckpt)
	}
	var files []string
	var err error
	if o.qa2rCfg != "" {
		files, err = testQ2AR(ctx, o, out)
	} else {
		files, err = predict(ctx, o.cfg, o.ckpt, o.split, out, o.sets, "", o.int8)
	}
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return nil
}

// predict runs train.Predict for cfgPath on split. A non-empty vcrTask is
// the DATASET.TASK the config must have.
func predict(ctx context.Context, cfgPath, ckpt, split, out string, sets []string, vcrTask string, useInt8 bool) ([]string, error) {
	cfg, err := loadConfig(cfgPath, sets)
	if err != nil {
		return nil, err
	}
	if vcrTask != "" && (cfg.Task != config.TaskVCR || cfg.Dataset().TaskName != vcrTask) {
		return nil, fmt.Errorf("test: %s: want a VCR config with DATASET.TASK %s, got %s task %q", cfgPath, vcrTask, cfg.Task, cfg.Dataset().TaskName)
	}
	if split != "test" {
		for i := range cfg.Datasets {
			if cfg.Task == config.TaskVCR {
				// VCR's TEST_IMAGE_SET is the image root; the annotation file
				// is the split.
				cfg.Datasets[i].TestAnnotationFile = split + ".jsonl"
			} else {
				// The image set read (the original's test-dev2015 choice).
				cfg.Datasets[i].TestImageSet = split
			}
		}
	}
	return train.Predict(ctx, cfg, cfgPath, ckpt, split, out, train.InferenceOptions{Int8: useInt8})
}

// testQ2AR runs the Q2A and the QA2R model on the same questions and writes
// vcr/test.py's three CSV files (named after the Q2A config) through
// train.WriteVCRResults; the per-model files of each run stay beside them.
func testQ2AR(ctx context.Context, o testOptions, out string) ([]string, error) {
	qa, err := predict(ctx, o.cfg, o.ckpt, o.split, out, o.sets, "Q2A", o.int8)
	if err != nil {
		return nil, err
	}
	qar, err := predict(ctx, o.qa2rCfg, o.qa2rCkpt, o.split, out, o.sets, "QA2R", o.int8)
	if err != nil {
		return nil, err
	}
	if len(qa) != 1 || len(qar) != 1 {
		return nil, fmt.Errorf("test: want one CSV per VCR model, got %v and %v", qa, qar)
	}
	answers, err := readVCRCSV(qa[0], 4)
	if err != nil {
		return nil, err
	}
	rationales, err := readVCRCSV(qar[0], 16)
	if err != nil {
		return nil, err
	}
	if len(answers) != len(rationales) {
		return nil, fmt.Errorf("test: %s has %d questions, %s has %d: the two configs must read the same annotations", qa[0], len(answers), qar[0], len(rationales))
	}
	res := make([]train.VCRResult, len(answers))
	for i, a := range answers {
		r := rationales[i]
		if a.id != r.id {
			return nil, fmt.Errorf("test: row %d: annot_id %q in %s, %q in %s: the two configs must read the same annotations", i+1, a.id, qa[0], r.id, qar[0])
		}
		res[i].AnnotID = a.id
		copy(res[i].Answer[:], a.vals)
		for k := range res[i].Rationale {
			copy(res[i].Rationale[k][:], r.vals[4*k:4*k+4])
		}
	}
	name := strings.TrimSuffix(filepath.Base(o.cfg), filepath.Ext(o.cfg))
	merged, err := train.WriteVCRResults(out, name, res)
	if err != nil {
		return nil, err
	}
	return append(append(qa, qar...), merged...), nil
}

type vcrRow struct {
	id   string
	vals []float32
}

// readVCRCSV reads a per-model VCR result file: a header, then annot_id and
// n probabilities per row.
func readVCRCSV(path string, n int) ([]vcrRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("test: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = n + 1
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("test: %s: %w", path, err)
	}
	if len(recs) == 0 || recs[0][0] != "annot_id" {
		return nil, fmt.Errorf("test: %s: no annot_id header", path)
	}
	rows := make([]vcrRow, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		row := vcrRow{id: rec[0], vals: make([]float32, n)}
		for k, s := range rec[1:] {
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return nil, fmt.Errorf("test: %s line %d column %d: %w", path, i+2, k+2, err)
			}
			row.vals[k] = float32(v)
		}
		rows = append(rows, row)
	}
	return rows, nil
}
