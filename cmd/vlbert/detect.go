package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/detect"
	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/detect/output"
	"github.com/vlbert/vlbert/internal/dist"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/logging"
	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/visual"
)

// detectOptions are the flags of `vlbert detect`.
type detectOptions struct {
	images   []string // files or directories
	out      string
	weights  string
	format   string // vlbert-json or lxmert-tsv
	rule     string
	minBoxes int // -1: the rule's
	maxBoxes int
	conf     float64 // < 0: the rule's
	threads  int
	terminal bool

	network *detect.Network // tests: a ready network instead of --weights
}

const (
	formatVlbertJSON = "vlbert-json"
	formatLXMERTTSV  = "lxmert-tsv"
)

const detectDoc = `Runs the bottom-up-attention Faster R-CNN detector on photos and writes their
regions: boxes, pool5 features (2048-d for the released weights), class and attribute probabilities.

--images takes image files (JPEG, PNG) and directories (their .jpg/.jpeg/.png
files, not recursing); it may be repeated, and further paths may follow the flags.
image_id is the number the file name ends with (COCO_val2014_000000000042.jpg -> 42),
else the name without extension.

--format vlbert-json (default) writes --out/<name>.json per image with image_id,
image_w, image_h, num_boxes, boxes, features, classes, attrs (the VL-BERT fork's
generate_tsv_v2 keys, read by vlbert's and VL-BERT's precomputed readers);
--format lxmert-tsv appends one row per image to --out/detections.tsv (LXMERT's
obj36 columns), each row flushed to disk. Under mpirun the ranks split the image
list and each rank writes detections.<rank>-of-<size>.tsv.

Resumable: images already written are skipped (JSON files are written atomically;
a partial last TSV row is dropped), so after Ctrl-C the same command continues.
An image that cannot be read or decoded is reported and skipped; the command then
ends with a non-zero status after the other images are done.

--rule picks the box selection: generate_tsv (default; bottom-up-attention's
tools/generate_tsv.py: per-class NMS 0.3, a box kept for its best surviving class,
confidence 0.2, 10 to 100 boxes, the RPN boxes), generate_tsv_v2 (the VL-BERT fork:
confidence 0.5), lxmert36 (36 boxes), hf_demo (the HuggingFace LXMERT demo's
post-processing). --min-boxes, --max-boxes and --conf override the rule's values.`

func init() {
	register(&command{name: "detect", summary: "detect regions in photos (boxes, features, classes, attributes)",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := newFlagSet("detect", stderr)
			var o detectOptions
			fs.Func("images", "image file or directory (repeatable)", func(s string) error {
				o.images = append(o.images, s)
				return nil
			})
			fs.StringVar(&o.out, "out", "", "output directory")
			fs.StringVar(&o.weights, "weights", "", "detector weights: .caffemodel, HF pytorch_model.bin, MILVLG .pth, vlbert .safetensors, or a directory holding one")
			fs.StringVar(&o.format, "format", formatVlbertJSON, "output format: vlbert-json or lxmert-tsv")
			fs.StringVar(&o.rule, "rule", string(detect.RuleGenerateTSV), "box selection: generate_tsv, generate_tsv_v2, lxmert36 or hf_demo")
			fs.IntVar(&o.minBoxes, "min-boxes", -1, "fewest boxes per image (default: the rule's, 10 for generate_tsv)")
			fs.IntVar(&o.maxBoxes, "max-boxes", -1, "most boxes per image (default: the rule's, 100 for generate_tsv)")
			fs.Float64Var(&o.conf, "conf", -1, "class confidence threshold (default: the rule's, 0.2 for generate_tsv)")
			fs.IntVar(&o.threads, "threads", 0, "worker threads (default: all cores, divided among the ranks of a node)")
			fs.Usage = func() {
				fmt.Fprintf(fs.Output(), "usage: vlbert detect --images DIR|FILE... --out DIR --weights W [flags]\n\n%s\n\nflags:\n", detectDoc)
				fs.PrintDefaults()
			}
			if err := fs.Parse(args); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return err
				}
				return usagef("%v", err)
			}
			o.images = append(o.images, fs.Args()...)
			if f, ok := stdout.(*os.File); ok {
				o.terminal = logging.IsTerminal(f)
			}
			return runDetect(ctx, o, stdout)
		}})
}

// selectOptions checks the flags and returns the selection settings.
func (o detectOptions) selectOptions() (detect.SelectOptions, error) {
	if len(o.images) == 0 {
		return detect.SelectOptions{}, usagef("--images is required")
	}
	if o.out == "" {
		return detect.SelectOptions{}, usagef("--out is required")
	}
	if o.weights == "" && o.network == nil {
		return detect.SelectOptions{}, usagef("--weights is required")
	}
	if o.format != formatVlbertJSON && o.format != formatLXMERTTSV {
		return detect.SelectOptions{}, usagef("--format %q: want %s or %s", o.format, formatVlbertJSON, formatLXMERTTSV)
	}
	if o.threads < 0 {
		return detect.SelectOptions{}, usagef("--threads %d is negative", o.threads)
	}
	so, err := detect.DefaultSelect(detect.Rule(o.rule))
	if err != nil {
		return so, usagef("--rule: %v", err)
	}
	if o.minBoxes >= 0 {
		so.MinBoxes = o.minBoxes
	}
	if o.maxBoxes >= 0 {
		so.MaxBoxes = o.maxBoxes
	}
	if o.conf >= 0 {
		so.Conf = o.conf
	}
	if err := so.Check(); err != nil {
		return so, usagef("%v", err)
	}
	return so, nil
}

var imageExts = []string{".jpg", ".jpeg", ".png"}

// listImages expands directories (their image files, sorted) and checks that
// no two images share a name (their output files would collide).
func listImages(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--images: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("--images: %w", err)
		}
		n := 0
		for _, e := range entries {
			if !e.IsDir() && slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))) {
				out = append(out, filepath.Join(p, e.Name()))
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("--images: %s has no .jpg, .jpeg or .png files", p)
		}
	}
	seen := map[string]string{}
	for _, p := range out {
		stem, _ := output.ImageName(p)
		if q, dup := seen[stem]; dup {
			return nil, fmt.Errorf("--images: %s and %s have the same name %q; their outputs would collide", q, p, stem)
		}
		seen[stem] = p
	}
	return out, nil
}

func runDetect(ctx context.Context, o detectOptions, stdout io.Writer) (err error) {
	so, err := o.selectOptions()
	if err != nil {
		return err
	}
	images, err := listImages(o.images)
	if err != nil {
		return err
	}
	rank, size, err := mpiRank()
	if err != nil {
		return err
	}
	threads := o.threads
	if threads == 0 && size > 1 {
		threads = dist.ThreadsPerRank()
	}
	if threads > 0 {
		defer parallel.SetThreads(parallel.SetThreads(threads))
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	net := o.network
	if net == nil {
		r, err := importer.Load(o.weights)
		if err != nil {
			return fmt.Errorf("--weights: %w", err)
		}
		if net, err = detect.LoadResult(r); err != nil {
			return fmt.Errorf("--weights: %w", err)
		}
	}

	// This rank's share of the list, minus what is already written.
	var mine []string
	for i, p := range images {
		if i%size == rank {
			mine = append(mine, p)
		}
	}
	var tsv *output.TSVWriter
	var done map[string]bool
	if o.format == formatVlbertJSON {
		var bad []string
		if done, bad, err = output.DoneJSON(o.out); err != nil {
			return err
		}
		for _, b := range bad {
			fmt.Fprintf(stdout, "detect: %s: not a complete result, recomputing\n", b)
		}
	} else {
		name := "detections.tsv"
		if size > 1 {
			name = fmt.Sprintf("detections.%d-of-%d.tsv", rank, size)
		}
		w, st, err := output.OpenTSV(filepath.Join(o.out, name))
		if err != nil {
			return err
		}
		defer func() {
			if cerr := w.Close(); err == nil && cerr != nil {
				err = cerr
			}
		}()
		if st.Dropped != "" {
			fmt.Fprintf(stdout, "detect: %s: %s\n", name, st.Dropped)
		}
		tsv, done = w, st.Done
	}
	var todo []string
	for _, p := range mine {
		stem, _ := output.ImageName(p)
		if !done[stem] {
			todo = append(todo, p)
		}
	}
	if skipped := len(mine) - len(todo); skipped > 0 {
		fmt.Fprintf(stdout, "detect: %d of %d images already written, skipping them\n", skipped, len(mine))
	}

	bar := &imageProgress{w: stdout, terminal: o.terminal, what: "detect", total: len(todo), start: time.Now()}
	failed := 0
	for _, p := range todo {
		if err := ctx.Err(); err != nil {
			bar.finish()
			return fmt.Errorf("interrupted after %d of %d images (rerun the same command to continue): %w", bar.done, len(todo), err)
		}
		if err := detectOne(net, so, p, o.out, tsv); err != nil {
			var werr writeError
			if errors.As(err, &werr) {
				bar.finish()
				return err // the output is broken: no point going on
			}
			failed++
			bar.line(fmt.Sprintf("detect: skipping %s: %v", p, err))
		}
		bar.step()
	}
	bar.finish()
	fmt.Fprintf(stdout, "detect: %d images written to %s", len(todo)-failed, o.out)
	if size > 1 {
		fmt.Fprintf(stdout, " by rank %d of %d", rank, size)
	}
	fmt.Fprintln(stdout)
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be read (see above)", failed, len(todo))
	}
	return nil
}

// mpiRank is this process's rank and the job size under mpirun (0, 1
// otherwise), read from the launcher's environment. The ranks share no
// data, only the image list, so the MPI library is not needed: every rank
// works through its share and finishes on its own time, with no collective
// to wait in (a rank with slow images must not trip another's deadline).
func mpiRank() (rank, size int, err error) {
	under, n := dist.UnderMPI()
	if !under {
		return 0, 1, nil
	}
	for _, k := range []string{"OMPI_COMM_WORLD_RANK", "PMIX_RANK"} {
		if v, ok := os.LookupEnv(k); ok {
			r, err := strconv.Atoi(v)
			if err != nil || r < 0 || (n > 0 && r >= n) {
				return 0, 0, fmt.Errorf("%s=%q is not a rank of a %d-process job", k, v, n)
			}
			if n <= 0 {
				return 0, 0, fmt.Errorf("under mpirun but OMPI_COMM_WORLD_SIZE is not set")
			}
			return r, n, nil
		}
	}
	return 0, 0, fmt.Errorf("under mpirun but no rank in the environment (OMPI_COMM_WORLD_RANK, PMIX_RANK)")
}

// writeError marks a failure to write results (as opposed to a bad image).
type writeError struct{ error }

func (e writeError) Unwrap() error { return e.error }

// detectOne detects one image and writes its record.
func detectOne(net *detect.Network, so detect.SelectOptions, path, out string, tsv *output.TSVWriter) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	img, err := visual.DecodeImage(f)
	f.Close()
	if err != nil {
		return err
	}
	res, err := net.Detect(img)
	if err != nil {
		return err
	}
	sel, err := detect.Select(res, so)
	if err != nil {
		return err
	}
	stem, id := output.ImageName(path)
	rec := output.FromSelection(res, sel)
	rec.ID, rec.Name = id, stem
	if tsv != nil {
		err = tsv.Write(rec)
	} else {
		err = output.WriteJSON(out, stem, rec)
	}
	if err != nil {
		return writeError{err}
	}
	return nil
}

// detectorFits reports a detector whose pool5 width is not the VL-BERT
// checkpoint's NETWORK.IMAGE_FEAT_DIM.
func detectorFits(n *detect.Network, featDim int) error {
	if n.FeatureDim() != featDim {
		return fmt.Errorf("--detector: the detector's features are %d-d, VL-BERT takes %d (the checkpoint's NETWORK.IMAGE_FEAT_DIM; train with NETWORK.IMAGE_FEAT_DIM=%d for this detector)", n.FeatureDim(), featDim, n.FeatureDim())
	}
	return nil
}

// loadDetector reads detector weights (any release importer.Load knows).
func loadDetector(path string) (*detect.Network, error) {
	r, err := importer.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--detector: %w", err)
	}
	n, err := detect.LoadResult(r)
	if err != nil {
		return nil, fmt.Errorf("--detector: %w", err)
	}
	return n, nil
}

// detectRegions loads the detector and finds img's regions (vqa, ground, vcr,
// visualize --image --detector). The regions are labelled with the Visual
// Genome class and attribute names when the vocabularies lie beside the
// weights; otherwise with class numbers, and a note says so.
func detectRegions(weightsPath string, img *visual.RGBImage, maxRegions, featDim int, stderr io.Writer) (*infer.Regions, error) {
	n, err := loadDetector(weightsPath)
	if err != nil {
		return nil, err
	}
	r, err := regionsOf(n, img, maxRegions, featDim)
	if err != nil {
		return nil, err
	}
	dir := weightsPath
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	objects, attrs, err := importer.VocabsBeside(dir, n.Cfg.NumClasses, n.Cfg.NumAttributes)
	if err != nil {
		fmt.Fprintf(stderr, "detector regions are labelled with class numbers: %v\n", err)
		objects, attrs = nil, nil
	}
	r.Labels = regionLabels(r.classes, r.attrs, objects, attrs)
	return r.Regions, nil
}

// labelledRegions are regions with each box's class and attribute
// probabilities (for labels).
type labelledRegions struct {
	*infer.Regions
	classes, attrs [][]float32
}

// regionLabels names each box "attribute class" as the bottom-up-attention
// demo does: the best foreground class, and the best attribute when its
// probability exceeds 0.1 (attr_thresh). nil vocabularies give "#index".
func regionLabels(classes, attrs [][]float32, objects, attrVocab *importer.Vocab) []string {
	argmax1 := func(p []float32) int {
		best := 1
		for i := 2; i < len(p); i++ {
			if p[i] > p[best] {
				best = i
			}
		}
		return best
	}
	labels := make([]string, len(classes))
	for i, c := range classes {
		labels[i] = objects.Name(argmax1(c))
		if a := argmax1(attrs[i]); len(attrs[i]) > 1 && attrs[i][a] > 0.1 {
			labels[i] = attrVocab.Name(a) + " " + labels[i]
		}
	}
	return labels
}

// regionsOf runs the detector with generate_tsv's selection (at most
// maxRegions boxes) and returns the regions the VL-BERT pipeline takes: the
// boxes in the photo's pixels and their pool5_flat features, which must be
// featDim wide (the VL-BERT checkpoint's NETWORK.IMAGE_FEAT_DIM).
func regionsOf(n *detect.Network, img *visual.RGBImage, maxRegions, featDim int) (*labelledRegions, error) {
	if err := detectorFits(n, featDim); err != nil {
		return nil, err
	}
	res, err := n.Detect(img)
	if err != nil {
		return nil, err
	}
	so, _ := detect.DefaultSelect(detect.RuleGenerateTSV)
	so.MaxBoxes = max(1, min(so.MaxBoxes, maxRegions))
	so.MinBoxes = min(so.MinBoxes, so.MaxBoxes)
	sel, err := detect.Select(res, so)
	if err != nil {
		return nil, err
	}
	rec := output.FromSelection(res, sel)
	out := &labelledRegions{Regions: &infer.Regions{ImageW: img.W, ImageH: img.H, Boxes: rec.Boxes, Features: rec.Features, Image: img}}
	NC, NA := n.Cfg.NumClasses, n.Cfg.NumAttributes
	for i := range sel.Index {
		out.classes = append(out.classes, rec.Classes[i*NC:(i+1)*NC])
		out.attrs = append(out.attrs, rec.Attrs[i*NA:(i+1)*NA])
	}
	return out, nil
}
