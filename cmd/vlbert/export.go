package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/onnx"
	"github.com/vlbert/vlbert/internal/weights"
)

// exportOptions are the flags of "vlbert export".
type exportOptions struct {
	Config     string // YAML config; required for original PyTorch checkpoints
	Checkpoint string // original .model/.pth or vlbert safetensors
	Out        string // MODEL.onnx
	Opset      int64
	Int8       bool
	Answers    string // VQA answer file for the metadata; default: checkpoint metadata, then ANSWER_VOCAB_FILE
	// Precomputed exports an e2e config's precomputed-feature path (boxes carry
	// RoI-head features) instead of putting the ResNet in the graph.
	Precomputed bool
}

func init() {
	register(&command{name: "export", summary: "export a VQA, RefCOCO+ or VCR model to ONNX (for ONNX Runtime, TensorRT, ...)",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o exportOptions
			fs := newFlagSet("export", stderr)
			fs.StringVar(&o.Config, "cfg", "", "experiment YAML `config` (required for original PyTorch checkpoints; default: the one inside a vlbert checkpoint)")
			fs.StringVar(&o.Checkpoint, "ckpt", "", "`checkpoint`: original .model/.pth or vlbert safetensors")
			fs.StringVar(&o.Out, "out", "", "output `MODEL.onnx` (weights past 1.8 GB go to MODEL.onnx.data)")
			fs.Int64Var(&o.Opset, "opset", 17, "ONNX opset (only 17: LayerNormalization)")
			fs.BoolVar(&o.Int8, "int8", false, "quantize the encoder's Linear layers (int8 weights, per-token 7-bit activations, as vlbert --int8)")
			fs.StringVar(&o.Answers, "answers", "", "VQA answer `file` (one answer a line) for the model's metadata")
			fs.BoolVar(&o.Precomputed, "precomputed", false, "for an e2e config: take region features in boxes instead of images (no ResNet in the graph)")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert export --cfg CFG --ckpt C --out MODEL.onnx [--opset 17] [--int8]")
				fmt.Fprintln(stderr, "\nWrites one ONNX graph (IR 8, opset 17, standard operators) of the config's task module,")
				fmt.Fprintln(stderr, "taking the original module's inputs: precomputed region features, or, for e2e configs, images")
				fmt.Fprintln(stderr, "with the ResNet-101 C4 and RoIAlign inside. See README, \"Run on a GPU\".")
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if o.Checkpoint == "" || o.Out == "" {
				return usagef("export: --ckpt and --out are required")
			}
			return runExport(ctx, o, stdout, stderr)
		}})
}

// runExport reads the checkpoint and config, builds the graph and writes it.
func runExport(ctx context.Context, o exportOptions, out, stderr io.Writer) error {
	var (
		sd   map[string]*weights.Tensor
		meta map[string]string
		err  error
	)
	if weights.IsSafetensors(o.Checkpoint) {
		if sd, meta, err = weights.ReadSafetensors(o.Checkpoint); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	} else {
		ck, err := weights.ReadTorch(o.Checkpoint)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		sd = ck.StateDict
	}
	var cfg *config.Config
	switch {
	case o.Config != "":
		cfg, err = config.Load(o.Config, "")
	case meta["config"] != "":
		cfg, err = config.Parse([]byte(meta["config"]), o.Checkpoint+" (metadata config)", "")
	default:
		return fmt.Errorf("export: %s carries no config; pass the experiment's YAML config (--cfg)", o.Checkpoint)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	spec, err := onnx.SpecFromConfig(cfg)
	if err != nil {
		return fmt.Errorf("export: %s: %w", o.Checkpoint, err)
	}
	spec.Version = buildVersion()
	if o.Precomputed {
		spec.E2E = nil
	}
	if spec.Task == onnx.TaskVQA {
		if spec.Answers, err = exportAnswers(o, meta, cfg); err != nil {
			return err
		}
		if spec.Answers == nil {
			fmt.Fprintln(stderr, "export: warning: no answer list found (--answers, checkpoint metadata or DATASET.ANSWER_VOCAB_FILE); the model's metadata will not name the answers")
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m, err := onnx.Build(spec, onnx.WeightsFromStateDict(sd), onnx.Options{Opset: o.Opset, Int8: o.Int8})
	if err != nil {
		if spec.E2E != nil && strings.Contains(err.Error(), "image_feature_extractor.backbone.") {
			return fmt.Errorf("export: %s: %w (an e2e config puts the ResNet in the graph; --precomputed exports the precomputed-feature path instead)", o.Checkpoint, err)
		}
		return fmt.Errorf("export: %s: %w", o.Checkpoint, err)
	}
	if err := onnx.Write(o.Out, m, onnx.InlineLimit); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	var n int64
	for _, t := range m.Graph.Initializer {
		n += int64(len(t.RawData))
		for _, kv := range t.External {
			if kv.Key == "length" {
				var l int64
				fmt.Sscan(kv.Value, &l)
				n += l
			}
		}
	}
	path := "precomputed features"
	if spec.E2E != nil {
		path = "images, ResNet-101 C4 in the graph"
	}
	_, err = fmt.Fprintf(out, "exported %s (%s; %d layers, hidden %d, %d nodes, %.1f MB of weights) to %s\n",
		spec.Task, path, spec.Layers, spec.Hidden, len(m.Graph.Nodes), float64(n)/1e6, o.Out)
	return err
}

// exportAnswers finds the VQA answer list: --answers, the checkpoint's "answers"
// metadata, then the ANSWER_VOCAB_FILE of a --cfg config if that file exists; nil
// when none does. A path inside a checkpoint's embedded config is never opened (a
// checkpoint is data; see infer.loadAnswers).
func exportAnswers(o exportOptions, meta map[string]string, cfg *config.Config) ([]string, error) {
	if o.Answers != "" {
		v, err := vqa.LoadAnswerVocab(o.Answers, true)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		return v.Answers, nil
	}
	if s := meta["answers"]; s != "" {
		var a []string
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			return nil, fmt.Errorf("export: %s: metadata \"answers\" is not a JSON array of strings: %w", o.Checkpoint, err)
		}
		return a, nil
	}
	if o.Config == "" || len(cfg.Datasets) == 0 || cfg.Dataset().AnswerVocabFile == "" {
		return nil, nil
	}
	if _, err := os.Stat(cfg.Dataset().AnswerVocabFile); err != nil {
		return nil, nil
	}
	v, err := vqa.LoadAnswerVocab(cfg.Dataset().AnswerVocabFile, true)
	if err != nil {
		return nil, fmt.Errorf("export: the config's DATASET.ANSWER_VOCAB_FILE: %w", err)
	}
	return v.Answers, nil
}

// buildVersion is the module version the binary was built from ("(devel)" in a
// work tree), as "vlbert version" prints it.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
