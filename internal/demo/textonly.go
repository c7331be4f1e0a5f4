package demo

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/vcr"
	"github.com/vlbert/vlbert/internal/train"
)

// vcrTextOnly evaluates a VCR checkpoint on the val questions of its config
// with every region blanked: each detection's feature (and the file's class
// scores and whole-image feature, when present) zero and its box the whole
// image, in the metadata as in the feature file. The regions then carry
// nothing an answer could depend on, so the accuracy is what the text alone
// gives: a VCR-style task that needs the image stays near chance (0.25).
// The blanked copy of the val split is written by blankVCR.
func vcrTextOnly(ctx context.Context, cfgPath, ckpt string) (float64, error) {
	cfg, err := config.Load(cfgPath, "")
	if err != nil {
		return 0, err
	}
	ds := cfg.Dataset()
	sp, err := cfg.Split(ds, "val")
	if err != nil {
		return 0, err
	}
	ann := sp.AnnotationFile
	if ann == "" {
		ann = "val.jsonl"
	}
	dst, err := blankVCR(ds.DatasetPath, ann, sp.ImageSet)
	if err != nil {
		return 0, err
	}
	if err := cfg.SetAll([]string{"DATASET.DATASET_PATH=" + dst}); err != nil {
		return 0, err
	}
	val, _, err := train.Evaluate(ctx, cfg, ckpt, "val", train.InferenceOptions{})
	if err != nil {
		return 0, fmt.Errorf("demo: text-only VCR: %w", err)
	}
	acc, ok := val["Acc"]
	if !ok {
		return 0, fmt.Errorf("demo: text-only VCR: no Acc in %v", val)
	}
	return acc, nil
}

// blankVCR writes the blanked copy of the VCR split ann (its annotations,
// categories, metadata and feature files) of the VCR directory src to
// <world>-blank/<base of src>, where <world> is src's parent, and returns the
// copy's VCR directory.
func blankVCR(src, ann, imageSet string) (string, error) {
	src = filepath.Clean(src)
	dstWorld := filepath.Dir(src) + "-blank"
	dst := filepath.Join(dstWorld, filepath.Base(src))
	if err := os.RemoveAll(dstWorld); err != nil {
		return "", fmt.Errorf("demo: text-only VCR: %w", err)
	}
	anns, err := vcr.ReadAnnotations(filepath.Join(src, ann), false)
	if err != nil {
		return "", err
	}
	copies := []string{ann}
	if _, err := os.Stat(filepath.Join(src, vcr.CategoriesFile)); err == nil {
		copies = append(copies, vcr.CategoriesFile)
	}
	for _, name := range copies {
		if err := copyFile(filepath.Join(dst, name), filepath.Join(src, name)); err != nil {
			return "", fmt.Errorf("demo: text-only VCR: %w", err)
		}
	}
	done := map[string]bool{}
	for _, a := range anns {
		if done[a.MetadataFn] {
			continue
		}
		done[a.MetadataFn] = true
		rel := filepath.Join(imageSet, filepath.FromSlash(a.MetadataFn))
		if err := blankJSON(filepath.Join(dst, rel), filepath.Join(src, rel), blankMetadata); err != nil {
			return "", err
		}
		img := filepath.Base(filepath.FromSlash(a.ImgFn))
		feat := strings.TrimSuffix(img, filepath.Ext(img)) + ".json"
		if err := blankJSON(filepath.Join(vcr.FeatureDir(dst), feat), filepath.Join(vcr.FeatureDir(src), feat), blankFeatures); err != nil {
			return "", err
		}
	}
	return dst, nil
}

// blankJSON rewrites the JSON object at src with fn and writes it to dst.
func blankJSON(dst, src string, fn func(map[string]json.RawMessage) error) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("demo: text-only VCR: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("demo: text-only VCR: %s: %w", src, err)
	}
	if err := fn(m); err != nil {
		return fmt.Errorf("demo: text-only VCR: %s: %w", src, err)
	}
	if b, err = json.Marshal(m); err != nil {
		return fmt.Errorf("demo: text-only VCR: %s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("demo: text-only VCR: %w", err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("demo: text-only VCR: %w", err)
	}
	return nil
}

func intKey(m map[string]json.RawMessage, key string) (int, error) {
	var v float64
	if err := json.Unmarshal(m[key], &v); err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return int(v), nil
}

// blankMetadata sets every VCR metadata box (x1, y1, x2, y2, score) and
// segmentation to the whole image.
func blankMetadata(m map[string]json.RawMessage) error {
	w, err := intKey(m, "width")
	if err != nil {
		return err
	}
	h, err := intKey(m, "height")
	if err != nil {
		return err
	}
	var boxes [][]float32
	if err := json.Unmarshal(m["boxes"], &boxes); err != nil {
		return fmt.Errorf("boxes: %w", err)
	}
	fw, fh := float32(w-1), float32(h-1)
	segms := make([][][][]float32, len(boxes))
	for i := range boxes {
		boxes[i] = []float32{0, 0, fw, fh, 1}
		segms[i] = [][][]float32{{{0, 0}, {fw, 0}, {fw, fh}, {0, fh}}}
	}
	for k, v := range map[string]any{"boxes": boxes, "segms": segms} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		m[k] = b
	}
	return nil
}

// blankFeatures sets every box of a bottom-up-attention feature record to the
// whole image and zeroes its other float arrays (features, class and
// attribute scores, whole-image feature).
func blankFeatures(m map[string]json.RawMessage) error {
	w, err := intKey(m, "image_w")
	if err != nil {
		return err
	}
	h, err := intKey(m, "image_h")
	if err != nil {
		return err
	}
	n, err := intKey(m, "num_boxes")
	if err != nil {
		return err
	}
	raw := make([]byte, 16*n)
	for i := 0; i < n; i++ {
		for k, v := range []float32{0, 0, float32(w - 1), float32(h - 1)} {
			binary.LittleEndian.PutUint32(raw[16*i+4*k:], math.Float32bits(v))
		}
	}
	if m["boxes"], err = json.Marshal(base64.StdEncoding.EncodeToString(raw)); err != nil {
		return err
	}
	for _, k := range []string{"features", "classes", "attrs", "image_box_feature"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		dec, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if m[k], err = json.Marshal(base64.StdEncoding.EncodeToString(make([]byte, len(dec)))); err != nil {
			return err
		}
	}
	return nil
}
