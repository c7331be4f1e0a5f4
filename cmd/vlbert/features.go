package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/logging"
	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
)

// featuresOptions are the flags of `vlbert features`: region features of the
// user's images and boxes, written as bottom-up-attention per-image JSON files
// (the bottom-up-attention JSON that vqa/data/datasets/vqa.py, VQA.__getitem__, reads) so that the precomputed-feature configs can read them.
type featuresOptions struct {
	images, boxes, out, ckpt string
	threads                  int
	randomWeights            bool
	nameByID                 bool
	overwrite                bool
	dilated                  bool
	headChunk                int
	int8                     bool // int8 convolutions (visual.Network.QuantizeInt8)

	netCfg   *visual.Config    // tests: a tiny network instead of ResNet-101 C4
	tr       *visual.Transform // tests: smaller scales than 600/1000
	terminal bool              // redraw a one-line bar instead of printing lines
}

const featuresDoc = `Computes region features for the images in --images (a directory, or one
image file) and the boxes in --boxes, and writes one bottom-up-attention JSON file
per image into --out (the frcnn JSON that vqa/data/datasets/vqa.py reads).

--boxes is a JSON object mapping each image's path relative to --images (or, for a
single --images FILE, its base name) to its boxes [[x1, y1, x2, y2], ...] in
original-image pixels. Boxes partly outside the image are clamped to
[0, w-1] x [0, h-1] (and written clamped); a box with x2 < x1 or y2 < y1, a box
wholly outside the image, an empty box list or more than 1000 boxes is an error
naming the image and box. Every image is checked (file present, header, box
geometry) before any network runs.

Output: --out/<name without extension>.json (photo.jpg -> photo.json, the
relative directories kept), or --out/<image_id>.json with --name-by-id (the VQA
layout {image_id}.json). Each file holds image_id, image_w, image_h, num_boxes,
boxes (base64 float32 [num_boxes, 4], original pixels) and features (base64
float32 [num_boxes, 2048]: the res5 head output average-pooled, as pool5_flat).
image_id: when every image's name stem is a number ("42.jpg") or ends in
"_<digits>" (COCO_val2014_000000000042.jpg) and these numbers are distinct, that
number; otherwise the image's 0-based index in the sorted list of --boxes keys.

Images go through the original preprocessing (short side 600, long side at most
1000, BGR, Caffe means; boxes scaled into the resized image for RoIAlign). The
network is the e2e ResNet-101 C4 backbone, legacy 14x14 RoIAlign and the res5
head (dilated, stride 1, unless --c5-dilated=false), in inference mode, one
image at a time. These are VL-BERT e2e features, not bit-identical to the
downloadable bottom-up-attention files (whose Caffe extractor pools RoIs
differently and runs res5 with stride 2): a model fine-tuned on those files may
see a shift in distribution.

--ckpt: an e2e VL-BERT checkpoint (image_feature_extractor.backbone.* and
roi_head_feature_extractor.* or head.0.*, "module." optional), the backbone file
resnet101-pt-vgbua-0000.model (conv1/bn1/layer1..layer4; layer4 becomes the
head), or a vlbert .safetensors file with those keys. --random-weights runs
random weights instead (meaningless features: for tests and demos only).

Existing output files are kept (the run resumes) unless --overwrite; files are
written atomically. An image that fails to decode is reported and skipped, and
the command then exits with an error.`

func init() {
	register(&command{name: "features", summary: "compute region features for images and boxes (bottom-up JSON files)",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o featuresOptions
			fs := newFlagSet("features", stderr)
			fs.StringVar(&o.images, "images", "", "directory of images, or one image file (JPEG or PNG)")
			fs.StringVar(&o.boxes, "boxes", "", `JSON file {"photo.jpg": [[x1, y1, x2, y2], ...], ...} (original pixels)`)
			fs.StringVar(&o.out, "out", "", "output directory for the per-image JSON files")
			fs.StringVar(&o.ckpt, "ckpt", "", "e2e VL-BERT checkpoint, resnet101-pt-vgbua-0000.model, or .safetensors with visual weights")
			fs.IntVar(&o.threads, "threads", 0, "worker threads (0: all cores)")
			fs.BoolVar(&o.randomWeights, "random-weights", false, "use random weights instead of --ckpt (meaningless features; tests and demos only)")
			fs.BoolVar(&o.nameByID, "name-by-id", false, "name output files <image_id>.json (the VQA layout) instead of after the image")
			fs.BoolVar(&o.overwrite, "overwrite", false, "recompute images whose output file exists")
			fs.BoolVar(&o.dilated, "c5-dilated", true, "dilated res5 head with a 14x14 output (IMAGE_C5_DILATED, true in every shipped config)")
			fs.IntVar(&o.headChunk, "head-chunk", visual.DefaultHeadChunk, "RoIs per res5 head pass (memory bound; results do not depend on it)")
			fs.BoolVar(&o.int8, "int8", false, "run the convolutions in int8 (batch norm folded into per-channel int8 weights, 7-bit per-pixel activations): faster, features within about 2% of float32")
			fs.Usage = func() {
				fmt.Fprintf(fs.Output(), "usage: vlbert features --images DIR|FILE --boxes FILE.json --out DIR (--ckpt CKPT | --random-weights) [flags]\n\n%s\n\nflags:\n", featuresDoc)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			for _, f := range []struct{ name, v string }{{"images", o.images}, {"boxes", o.boxes}, {"out", o.out}} {
				if f.v == "" {
					return usagef("--%s is required", f.name)
				}
			}
			if o.ckpt == "" && !o.randomWeights {
				return usagef("--ckpt is required: pass an e2e VL-BERT checkpoint or the ResNet backbone file (resnet101-pt-vgbua-0000.model); features of random weights are useless (--random-weights exists for tests and demos)")
			}
			if o.ckpt != "" && o.randomWeights {
				return usagef("--ckpt and --random-weights exclude each other")
			}
			if o.threads < 0 {
				return usagef("--threads %d is negative", o.threads)
			}
			if f, ok := stdout.(*os.File); ok {
				o.terminal = logging.IsTerminal(f)
			}
			return runFeatures(ctx, o, stdout)
		}})
}

// Limits on the --boxes file.
const maxBoxesFileBytes = 1 << 30

// featureJob is one image to process.
type featureJob struct {
	key   string // --boxes key
	path  string // image file
	out   string // output file
	id    int64
	boxes []float32 // validated and clamped, original pixels
	w, h  int
}

func runFeatures(ctx context.Context, o featuresOptions, stdout io.Writer) error {
	if o.threads > 0 {
		prev := parallel.SetThreads(o.threads)
		defer parallel.SetThreads(prev)
	}
	boxes, err := readBoxesFile(o.boxes)
	if err != nil {
		return err
	}
	jobs, err := planFeatureJobs(o, boxes)
	if err != nil {
		return err
	}
	// Check everything that can be checked cheaply before the network runs.
	var problems []string
	for i := range jobs {
		if err := checkFeatureJob(&jobs[i], boxes[jobs[i].key]); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("features: %d of %d images have problems:\n  %s", len(problems), len(jobs), strings.Join(short10(problems), "\n  "))
	}

	if err := ctx.Err(); err != nil {
		return err
	}
	cfg := visual.ResNet101C4()
	if o.netCfg != nil {
		cfg = *o.netCfg
	}
	cfg.C5Dilated = o.dilated // false: stride-2 head, 7x7 output, AvgPool(7)
	net := visual.NewNetwork(cfg)
	if o.randomWeights {
		net.InitRandom(1)
	} else if err := loadVisualWeights(o.ckpt, net); err != nil {
		return err
	}
	ex := visual.NewExtractor(net)
	ex.HeadChunk = o.headChunk
	if o.int8 {
		if err := net.QuantizeInt8(); err != nil {
			return fmt.Errorf("features: %w", err)
		}
	}
	if o.tr != nil {
		ex.Transform = *o.tr
	}

	todo := jobs[:0:0]
	for _, j := range jobs {
		if !o.overwrite {
			if _, err := os.Stat(j.out); err == nil {
				continue
			}
		}
		todo = append(todo, j)
	}
	skipped := len(jobs) - len(todo)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	fmt.Fprintf(stdout, "features: %d images (%d already done), %s, %d threads\n", len(jobs), skipped, weightsSource(o), parallel.Threads())

	// Decode and preprocess the next image while the network runs.
	type prepared struct {
		job *featureJob
		p   *visual.Prepared
		err error
	}
	ch := make(chan prepared, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(ch)
		for i := range todo {
			j := &todo[i]
			p, err := prepareFeatureJob(j, ex.Transform)
			select {
			case ch <- prepared{j, p, err}:
			case <-stop:
				return
			}
		}
	}()

	bar := &imageProgress{w: stdout, terminal: o.terminal, what: "features", total: len(todo), start: time.Now()}
	var failed []string
	written := 0
	for item := range ch {
		if err := ctx.Err(); err != nil {
			bar.finish()
			return err
		}
		j := item.job
		if item.err != nil {
			failed = append(failed, item.err.Error())
			bar.line(fmt.Sprintf("features: %s: skipped: %v", j.key, item.err))
			bar.step()
			continue
		}
		res := ex.ExtractPrepared(item.p, j.w, j.h, j.boxes)
		if err := writeFeatureJSON(j.out, j.id, res); err != nil {
			bar.finish()
			return err
		}
		written++
		bar.step()
	}
	bar.finish()
	fmt.Fprintf(stdout, "features: wrote %d files to %s in %s (%d already done, %d failed)\n",
		written, o.out, time.Since(bar.start).Round(time.Millisecond), skipped, len(failed))
	if len(failed) > 0 {
		return fmt.Errorf("features: %d of %d images failed:\n  %s", len(failed), len(todo), strings.Join(short10(failed), "\n  "))
	}
	return nil
}

func weightsSource(o featuresOptions) string {
	if o.randomWeights {
		return "RANDOM weights (meaningless features)"
	}
	return "weights " + o.ckpt
}

func short10(s []string) []string {
	if len(s) > 10 {
		return append(slices.Clip(s[:10]), fmt.Sprintf("... and %d more", len(s)-10))
	}
	return s
}

// readBoxesFile reads --boxes: an object from image name to [[x1, y1, x2, y2], ...].
func readBoxesFile(p string) (map[string][]float32, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("features: boxes: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBoxesFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("features: boxes %s: %w", p, err)
	}
	if len(data) > maxBoxesFileBytes {
		return nil, fmt.Errorf("features: boxes %s is over %d bytes", p, maxBoxesFileBytes)
	}
	return parseBoxes(p, data)
}

// parseBoxes decodes the --boxes document; name is used in errors.
func parseBoxes(name string, data []byte) (map[string][]float32, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("features: boxes %s: want a JSON object {\"image.jpg\": [[x1, y1, x2, y2], ...]}: %w", name, err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("features: boxes %s lists no images", name)
	}
	out := make(map[string][]float32, len(raw))
	for k, v := range raw {
		var rows [][]float64
		if err := json.Unmarshal(v, &rows); err != nil {
			return nil, fmt.Errorf("features: boxes %s: image %q: want a list of [x1, y1, x2, y2]: %w", name, k, err)
		}
		if len(rows) > visual.MaxExtractBoxes {
			return nil, fmt.Errorf("features: boxes %s: image %q has %d boxes, over the limit of %d", name, k, len(rows), visual.MaxExtractBoxes)
		}
		b := make([]float32, 0, 4*len(rows))
		for i, r := range rows {
			if len(r) != 4 {
				return nil, fmt.Errorf("features: boxes %s: image %q box %d has %d numbers, want 4 (x1, y1, x2, y2)", name, k, i, len(r))
			}
			for _, x := range r {
				if math.Abs(x) > 1e7 {
					return nil, fmt.Errorf("features: boxes %s: image %q box %d coordinate %g is out of range", name, k, i, x)
				}
				b = append(b, float32(x))
			}
		}
		out[k] = b
	}
	return out, nil
}

// planFeatureJobs resolves image paths, output paths and image ids.
func planFeatureJobs(o featuresOptions, boxes map[string][]float32) ([]featureJob, error) {
	st, err := os.Stat(o.images)
	if err != nil {
		return nil, fmt.Errorf("features: images: %w", err)
	}
	keys := make([]string, 0, len(boxes))
	for k := range boxes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !st.IsDir() {
		base := filepath.Base(o.images)
		if _, ok := boxes[base]; !ok {
			return nil, fmt.Errorf("features: boxes %s has no entry %q for the image %s (it lists %s)", o.boxes, base, o.images, strings.Join(short10(keys), ", "))
		}
		keys = []string{base}
	}
	jobs := make([]featureJob, len(keys))
	for i, k := range keys {
		if !st.IsDir() {
			jobs[i] = featureJob{key: k, path: o.images}
			continue
		}
		clean := path.Clean(filepath.ToSlash(k))
		if k == "" || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || filepath.IsAbs(k) {
			return nil, fmt.Errorf("features: boxes %s: key %q is not a path inside --images", o.boxes, k)
		}
		jobs[i] = featureJob{key: k, path: filepath.Join(o.images, filepath.FromSlash(clean))}
	}
	ids := imageIDs(keys)
	seen := map[string]string{}
	for i := range jobs {
		j := &jobs[i]
		j.id = ids[i]
		var rel string
		if o.nameByID {
			rel = strconv.FormatInt(j.id, 10) + ".json"
		} else {
			clean := path.Clean(filepath.ToSlash(j.key))
			rel = strings.TrimSuffix(clean, path.Ext(clean)) + ".json"
		}
		if prev, dup := seen[rel]; dup {
			return nil, fmt.Errorf("features: images %q and %q would both be written to %s", prev, j.key, rel)
		}
		seen[rel] = j.key
		j.out = filepath.Join(o.out, filepath.FromSlash(rel))
	}
	return jobs, nil
}

// imageIDs gives each image (sorted keys) its image_id: the number in its name
// stem when every stem has a distinct one ("42" or "..._000042"), else its index.
func imageIDs(keys []string) []int64 {
	ids := make([]int64, len(keys))
	seen := map[int64]bool{}
	numeric := true
	for i, k := range keys {
		stem := path.Base(filepath.ToSlash(k))
		stem = strings.TrimSuffix(stem, path.Ext(stem))
		if j := strings.LastIndexByte(stem, '_'); j >= 0 {
			stem = stem[j+1:]
		}
		v, err := strconv.ParseInt(stem, 10, 64)
		if err != nil || v < 0 || stem == "" || stem[0] == '+' || seen[v] {
			numeric = false
			break
		}
		seen[v] = true
		ids[i] = v
	}
	if !numeric {
		for i := range ids {
			ids[i] = int64(i)
		}
	}
	return ids
}

// checkFeatureJob checks that the image exists, reads its size from the header
// (refusing oversized images before decoding) and validates its boxes.
func checkFeatureJob(j *featureJob, boxes []float32) error {
	f, err := os.Open(j.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: listed in --boxes but missing on disk (%s)", j.key, j.path)
		}
		return fmt.Errorf("%s: %w", j.key, err)
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(io.LimitReader(f, visual.MaxImageBytes))
	if err != nil {
		return fmt.Errorf("%s: not a readable JPEG or PNG image: %w", j.key, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > visual.MaxImagePixels {
		return fmt.Errorf("%s: %s image of %dx%d pixels is outside (0, %d]", j.key, format, cfg.Width, cfg.Height, visual.MaxImagePixels)
	}
	if ow, oh := visual.ResizeSize(cfg.Width, cfg.Height, 600, 1000); ow <= 0 || oh <= 0 {
		return fmt.Errorf("%s: %dx%d image is too elongated to resize to 600/1000", j.key, cfg.Width, cfg.Height)
	}
	j.w, j.h = cfg.Width, cfg.Height
	if j.boxes, err = visual.CheckBoxes(boxes, j.w, j.h); err != nil {
		return fmt.Errorf("%s: %s", j.key, strings.TrimPrefix(err.Error(), "visual: "))
	}
	return nil
}

// prepareFeatureJob decodes and preprocesses one image.
func prepareFeatureJob(j *featureJob, tr visual.Transform) (*visual.Prepared, error) {
	f, err := os.Open(j.path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.key, err)
	}
	defer f.Close()
	img, err := visual.DecodeImage(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.key, err)
	}
	if img.W != j.w || img.H != j.h {
		return nil, fmt.Errorf("%s: decoded size %dx%d differs from the header's %dx%d (file changed?)", j.key, img.W, img.H, j.w, j.h)
	}
	p, err := visual.Preprocess(img, j.boxes, tr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.key, err)
	}
	return p, nil
}

// writeFeatureJSON writes one bottom-up-attention record atomically.
func writeFeatureJSON(p string, id int64, r *visual.RegionFeatures) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	doc := struct {
		ImageID  int64  `json:"image_id"`
		ImageW   int    `json:"image_w"`
		ImageH   int    `json:"image_h"`
		NumBoxes int    `json:"num_boxes"`
		Boxes    string `json:"boxes"`
		Features string `json:"features"`
	}{id, r.ImageW, r.ImageH, r.NumBoxes, base64F32(r.Boxes), base64F32(r.Features)}
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("features: %s: %w", p, err)
	}
	err = atomicfile.WriteFile(p, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(append(data, '\n')))
		return err
	})
	if err == nil {
		err = os.Chmod(p, 0o644) // the temporary file was private
	}
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	return nil
}

// base64F32 is the standard base64 of little-endian float32 values.
func base64F32(x []float32) string {
	raw := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// loadVisualWeights reads a checkpoint (torch or safetensors) and loads every
// visual parameter, failing with a clear message when any is missing.
func loadVisualWeights(ckpt string, n *visual.Network) error {
	sd, err := weights.ReadModelWeights(ckpt)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	vsd := make(map[string]visual.Tensor, len(sd))
	for k, t := range sd {
		if t != nil && t.F32 != nil {
			vsd[k] = visual.Tensor{Shape: t.Shape, F32: t.F32}
		}
	}
	missing, err := n.LoadStateDict(vsd)
	if err != nil {
		return fmt.Errorf("features: %s: %w", ckpt, err)
	}
	switch {
	case len(missing) == len(n.Params.Params):
		return fmt.Errorf("features: %s has no visual network weights (a checkpoint of a precomputed-feature config has none): pass an e2e checkpoint or resnet101-pt-vgbua-0000.model", ckpt)
	case len(missing) > 0:
		return fmt.Errorf("features: %s lacks %d of %d visual parameters: %s", ckpt, len(missing), len(n.Params.Params), strings.Join(short10(missing), ", "))
	}
	return nil
}
