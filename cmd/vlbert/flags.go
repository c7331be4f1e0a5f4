package main

// Flag helpers shared by several commands: the checkpoint and input flags of
// the inference commands (vqa, ground, vcr, visualize, serve), --set
// overrides and config loading (train, eval, test, data check).

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/visual"
)

// inferFlags are the checkpoint and input flags shared by vqa, ground, vcr,
// visualize and serve.
type inferFlags struct {
	ckpt, cfg, answers, backbone string
	features, image, boxes       string
	detector                     string // detector weights: --image without --boxes
	imageID                      int64
	maxRegions, maxTokens        int
	int8                         bool
}

// registerInt8 adds --int8, for the commands that print answers.
func (f *inferFlags) registerInt8(fs *flag.FlagSet) { int8Flag(fs, &f.int8) }

// int8Flag registers --int8 (model.QuantizeInt8) on a command that runs a checkpoint.
func int8Flag(fs *flag.FlagSet, p *bool) {
	fs.BoolVar(p, "int8", false, "run the encoder's Linear layers in int8 (per-channel int8 weights, per-token 7-bit inputs, int32 sums): "+
		"~1.8x faster than float32 with AVX2, more with AVX512-VNNI; logits move by a few percent, answers rarely; "+
		"with image input the ResNet's convolutions run in int8 too (features within ~2% of float32)")
}

func (f *inferFlags) registerModel(fs *flag.FlagSet) {
	fs.StringVar(&f.ckpt, "ckpt", "", "checkpoint: vlbert safetensors (config and answers inside) or an original .model")
	fs.StringVar(&f.cfg, "cfg", "", "YAML config (required for an original .model; overrides the one inside a safetensors checkpoint)")
	fs.StringVar(&f.answers, "answers", "", "VQA answer file, one answer a line (default: the list stored in the checkpoint; required for checkpoints without one)")
	fs.StringVar(&f.backbone, "backbone", "", "ResNet-101 weights for --image inputs when the checkpoint has none (e2e VL-BERT checkpoint or resnet101 .pth)")
	fs.IntVar(&f.maxRegions, "max-regions", 100, "at most this many boxes")
	fs.IntVar(&f.maxTokens, "max-tokens", 64, "at most this many wordpieces of text")
}

func (f *inferFlags) registerInput(fs *flag.FlagSet) {
	fs.StringVar(&f.features, "features", "", "precomputed bottom-up features: one image's JSON record, or a .tsv file (with --image-id)")
	fs.Int64Var(&f.imageID, "image-id", -1, "image_id to take from a --features .tsv file (default: its only record)")
	fs.StringVar(&f.image, "image", "", "JPEG or PNG image (features computed with the ResNet-101 visual path; slow on few cores)")
	fs.StringVar(&f.boxes, "boxes", "", "boxes for --image: JSON [[x1,y1,x2,y2],...] inline or in a file, or \"x1,y1,x2,y2;...\"")
	fs.StringVar(&f.detector, "detector", "", "detector weights (as vlbert detect --weights): --image needs no --boxes, its regions and pool5 features (as wide as the checkpoint's NETWORK.IMAGE_FEAT_DIM) come from the bottom-up-attention detector (generate_tsv's selection, at most --max-regions boxes)")
}

func (f *inferFlags) check(cmd string, needInput bool) error {
	if f.ckpt == "" {
		return usagef("%s: --ckpt is required", cmd)
	}
	if !needInput {
		return nil
	}
	switch {
	case f.features == "" && f.image == "":
		return usagef("%s: give --features, or --image with --boxes or --detector", cmd)
	case f.detector != "" && (f.boxes != "" || f.features != ""):
		return usagef("%s: --detector finds the regions of --image; it excludes --boxes and --features", cmd)
	case f.features == "" && f.boxes == "" && f.detector == "":
		return usagef("%s: --image needs --boxes or --detector", cmd)
	case f.features != "" && f.boxes != "":
		return usagef("%s: --boxes goes with --image; a --features record has its own boxes", cmd)
	}
	return nil
}

func (f *inferFlags) load(workers int) (*infer.Pipeline, error) {
	return infer.Load(infer.Options{Checkpoint: f.ckpt, Config: f.cfg, Answers: f.answers, Backbone: f.backbone,
		Workers: workers, Limits: infer.Limits{MaxTokens: f.maxTokens, MaxRegions: f.maxRegions}, Int8: f.int8})
}

// regions reads the input image's regions. With --features and --image both,
// the image is only drawn (visualize).
func (f *inferFlags) regions(ctx context.Context, p *infer.Pipeline) (*infer.Regions, error) {
	var img *visual.RGBImage
	if f.image != "" {
		fh, err := os.Open(f.image)
		if err != nil {
			return nil, err
		}
		img, err = visual.DecodeImage(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.image, err)
		}
	}
	if f.detector != "" {
		return detectRegions(f.detector, img, f.maxRegions, p.FeatureDim(), os.Stderr)
	}
	if f.features == "" {
		boxes, err := parseBoxFlag(f.boxes)
		if err != nil {
			return nil, err
		}
		return p.RegionsFromImage(ctx, img, boxes)
	}
	var r *infer.Regions
	if strings.EqualFold(filepath.Ext(f.features), ".tsv") {
		recs, err := features.LoadTSV(f.features, features.Options{Features: true, MaxBoxes: f.maxRegions}.WithFeatureDim())
		if err != nil {
			return nil, err
		}
		rec, ok := recs[f.imageID]
		if f.imageID < 0 && len(recs) == 1 {
			for _, only := range recs {
				rec, ok = only, true
			}
		}
		if !ok {
			return nil, fmt.Errorf("%s: no record with image_id %d (%d records; pick one with --image-id)", f.features, f.imageID, len(recs))
		}
		if err := features.CheckFeatureDim(f.features, rec, p.FeatureDim()); err != nil {
			return nil, err
		}
		if r, err = infer.RegionsFromRecord(rec); err != nil {
			return nil, fmt.Errorf("%s: %w", f.features, err)
		}
	} else {
		data, err := os.ReadFile(f.features)
		if err != nil {
			return nil, err
		}
		if r, err = p.ParseFeatures(f.features, data); err != nil {
			return nil, err
		}
	}
	if img != nil {
		if img.W != r.ImageW || img.H != r.ImageH {
			return nil, fmt.Errorf("%s is %dx%d but the features are for a %dx%d image", f.image, img.W, img.H, r.ImageW, r.ImageH)
		}
		r.Image = img
	}
	return r, nil
}

// parseBoxFlag reads boxes as inline JSON, a JSON file, or "x1,y1,x2,y2;...".
func parseBoxFlag(s string) ([]float32, error) {
	s = strings.TrimSpace(s)
	var rows [][]float64
	switch {
	case strings.HasPrefix(s, "["):
		if err := json.Unmarshal([]byte(s), &rows); err != nil {
			return nil, fmt.Errorf("--boxes: %w", err)
		}
	default:
		if data, err := os.ReadFile(s); err == nil {
			if err := json.Unmarshal(data, &rows); err != nil {
				return nil, fmt.Errorf("--boxes %s: %w", s, err)
			}
			break
		}
		for i, part := range strings.Split(s, ";") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			var row []float64
			for _, v := range strings.Split(part, ",") {
				x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return nil, fmt.Errorf("--boxes: box %d: %w", i, err)
				}
				row = append(row, x)
			}
			rows = append(rows, row)
		}
	}
	var out []float32
	for i, r := range rows {
		if len(r) != 4 {
			return nil, fmt.Errorf("--boxes: box %d has %d numbers, want 4 (x1,y1,x2,y2)", i, len(r))
		}
		out = append(out, float32(r[0]), float32(r[1]), float32(r[2]), float32(r[3]))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--boxes: no boxes")
	}
	return out, nil
}

// setFlags collects repeated --set KEY=VALUE overrides.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, " ") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// loadConfig reads a config and applies --set overrides.
func loadConfig(path string, sets []string) (*config.Config, error) {
	cfg, err := config.Load(path, "")
	if err != nil {
		return nil, err
	}
	if err := cfg.SetAll(sets); err != nil {
		return nil, err
	}
	return cfg, nil
}
