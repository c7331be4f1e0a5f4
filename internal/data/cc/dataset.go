package cc

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/zipfs"
)

// Tokenizer is the part of the BERT tokenizer the dataset needs;
// *tokenizer.Tokenizer implements it.
type Tokenizer interface {
	data.Vocab
	BasicTokenize(text string) []string
	Tokenize(text string) []string
}

// Dataset builds pretraining examples. Use New for the original's defaults.
// It is safe for concurrent use when FS is.
type Dataset struct {
	Records  []Record
	DataPath string // paths in Records are relative to it
	FS       features.Reader
	Tok      Tokenizer

	ZipMode bool // ZIP_MODE: read `x.zip@/y` paths from archives
	// StripDigitSuffixes reproduces the original's non-zip rewriting of frcnn
	// paths, which also deletes ".0".."3" (§7.2.17). On by default.
	StripDigitSuffixes bool

	Precomputed bool              // IMAGE_FEAT_PRECOMPUTED: boxes carry the FeatureDim-d features
	FeatureDim  int               // NETWORK.IMAGE_FEAT_DIM: every record's feature width (0: 2048)
	AddImageBox bool              // ADD_IMAGE_AS_A_BOX (true in every config)
	Transform   data.BoxTransform // resize and flip (FLIP_PROB 0.5 in pretraining)
	SeqLen      int               // text+boxes cap, DATASET.SEQ_LEN = 64 (0: no truncation)
	// ImInfoIndex appends the dataset index as im_info's 5th value, as the
	// original CC dataset does ([w, h, sx, sy, index]).
	ImInfoIndex bool

	WithRelTask, WithMLM, WithMVRC bool
	MLM                            data.MLM
	MVRC                           data.MVRC
	// SwapLeftRight swaps left/right in captions of flipped images. The original
	// flips pretraining images without doing this (§7.2.4); off by default.
	SwapLeftRight bool
}

// New returns a dataset with the shipped pretraining configuration: image box,
// SEQ_LEN 64, im_info with index, MLM and MVRC on, relationship task off,
// resize 600/1000 with flip 0.5, the .0-.3 path quirk on.
func New(records []Record, dataPath string, fs features.Reader, tok Tokenizer, precomputed, zipMode bool) *Dataset {
	return &Dataset{
		Records: records, DataPath: dataPath, FS: fs, Tok: tok,
		ZipMode: zipMode, StripDigitSuffixes: true, Precomputed: precomputed, AddImageBox: true,
		Transform: data.BoxTransform{MinSize: 600, MaxSize: 1000, FlipProb: 0.5},
		SeqLen:    64, ImInfoIndex: true, WithMLM: true, WithMVRC: true,
		MLM: data.DefaultMLM(), MVRC: data.DefaultMVRC(),
	}
}

// Len is the number of image-caption pairs.
func (d *Dataset) Len() int { return len(d.Records) }

// FrcnnPath is the feature file of record i after the zip-mode rewriting.
func (d *Dataset) FrcnnPath(i int) string {
	p := d.Records[i].Frcnn
	if !d.ZipMode {
		p = zipfs.CCNonZipPath(p, d.StripDigitSuffixes)
	}
	return filepath.Join(d.DataPath, p)
}

// ImagePath is the image of record i after the zip-mode rewriting.
func (d *Dataset) ImagePath(i int) string {
	p := d.Records[i].Image
	if !d.ZipMode {
		p = zipfs.StripZipMarker(p)
	}
	return filepath.Join(d.DataPath, p)
}

// Example builds example i; every random draw comes from rng, in the original's
// order: flip, relationship, words, regions.
func (d *Dataset) Example(i int, rng *rand.Rand) (*data.PretrainExample, error) {
	ex, _, err := d.ExampleMasked(i, rng)
	return ex, err
}

// ExampleMasked is Example plus masked [k, 4]: the boxes (x1, y1, x2, y2 in
// the resized, flipped, clamped image) of every region MVRC masked (op 1),
// taken before the SEQ_LEN truncation. End-to-end pretraining zeroes their
// pixels (MASK_RAW_PIXELS); the original does so before it truncates, so a
// masked box that truncation drops is still blanked in the image the kept
// boxes (the whole-image box first) are pooled from.
func (d *Dataset) ExampleMasked(i int, rng *rand.Rand) (ex *data.PretrainExample, masked []float32, err error) {
	if i < 0 || i >= len(d.Records) {
		return nil, nil, fmt.Errorf("cc: example %d outside [0, %d)", i, len(d.Records))
	}
	path := d.FrcnnPath(i)
	// The class count comes from the file, as the original's
	// reshape((num_boxes, -1)): synthetic worlds have 25 classes, not 1601;
	// the trainer checks it against visual_region_classes.
	rec, err := features.LoadJSON(d.FS, path, features.Options{Features: d.Precomputed, Classes: true, NumClasses: -1}.WithFeatureDim())
	if err != nil {
		return nil, nil, fmt.Errorf("cc: record %d: %w", i, err)
	}
	if err := features.CheckFeatureDim(path, rec, d.FeatureDim); err != nil {
		return nil, nil, fmt.Errorf("cc: record %d: %w", i, err)
	}
	if rec.NumBoxes == 0 {
		return nil, nil, fmt.Errorf("cc: record %d: %s has no boxes", i, path)
	}
	ex = &data.PretrainExample{Index: i, NumClasses: rec.NumClasses}
	if !d.Precomputed {
		ex.ImagePath = d.ImagePath(i)
	}
	order := sortByConfidence(rec)
	boxes, stride := d.layoutBoxes(rec, order)
	n := len(boxes) / stride
	info, flipped := d.Transform.Apply(rng, boxes, n, stride, rec.ImageW, rec.ImageH)
	ex.Flipped = flipped
	ex.ImInfo = info[:]
	if d.ImInfoIndex {
		ex.ImInfo = append(ex.ImInfo, float32(i))
	}

	// Task 1, caption-image relationship: the draw is taken even when disabled.
	caption := d.Records[i].Caption
	ex.RelationshipLabel = 1
	if p := rng.Float64(); p >= 0.5 && d.WithRelTask && len(d.Records) > 1 {
		ex.RelationshipLabel = 0
		j := rng.IntN(len(d.Records))
		for j == i {
			j = rng.IntN(len(d.Records))
		}
		caption = d.Records[j].Caption
	}

	// Task 2, whole-word MLM on the basic-tokenized caption.
	text := strings.Join(caption, " ")
	var ids, labels []int64
	if d.WithMLM {
		words := d.Tok.BasicTokenize(text)
		if flipped && d.SwapLeftRight {
			words = data.SwapLeftRight(words)
		}
		if ids, labels, err = data.MaskWords(rng, words, d.Tok, d.MLM); err != nil {
			return nil, nil, fmt.Errorf("cc: record %d: %w", i, err)
		}
	} else {
		tokens := d.Tok.Tokenize(text)
		if flipped && d.SwapLeftRight {
			tokens = data.SwapLeftRight(tokens)
		}
		for _, t := range tokens {
			id, ok := d.Tok.ID(t)
			if !ok {
				return nil, nil, fmt.Errorf("cc: record %d: token %q not in the vocabulary", i, t)
			}
			ids = append(ids, int64(id))
			labels = append(labels, -1)
		}
	}
	cls, _ := d.Tok.ID(data.TokenCLS)
	sep, ok := d.Tok.ID(data.TokenSEP)
	if !ok {
		return nil, nil, fmt.Errorf("cc: vocabulary has no [SEP]")
	}
	ex.Text = append(append([]int64{int64(cls)}, ids...), int64(sep))
	ex.MLMLabels = append(append([]int64{-1}, labels...), -1)

	// Task 3, MVRC over the real boxes; the image box is never masked.
	first := n - rec.NumBoxes
	ex.MVRCOps = make([]int64, n)
	ex.MVRCLabels = make([]float32, n*rec.NumClasses)
	if d.WithMVRC {
		ops, sel := data.MaskRegions(rng, rec.NumBoxes, d.MVRC)
		C := rec.NumClasses
		for r, src := range order {
			ex.MVRCOps[first+r] = ops[r]
			if sel[r] {
				copy(ex.MVRCLabels[(first+r)*C:(first+r+1)*C], rec.Classes[src*C:(src+1)*C])
			}
		}
		if d.Precomputed && d.AddImageBox {
			data.RemeanImageBox(boxes, ex.MVRCOps, stride, rec.FeatureDim)
		}
		for r, op := range ex.MVRCOps {
			if op == 1 {
				masked = append(masked, boxes[r*stride:r*stride+4]...)
			}
		}
	}

	// Truncate text+boxes to SeqLen, keeping [SEP] and the first boxes.
	textKeep, boxKeep := len(ex.Text), n
	if d.SeqLen > 0 {
		textKeep, boxKeep = data.TruncateCC(len(ex.Text), n, d.SeqLen)
	}
	if textKeep < len(ex.Text) {
		ex.Text = append(ex.Text[:textKeep-1], ex.Text[len(ex.Text)-1])
		ex.MLMLabels = append(ex.MLMLabels[:textKeep-1], ex.MLMLabels[len(ex.MLMLabels)-1])
	}
	boxKeep = min(boxKeep, n)
	ex.Boxes = boxes[:boxKeep*stride]
	ex.NumBoxes, ex.BoxDim = boxKeep, stride
	ex.MVRCOps = ex.MVRCOps[:boxKeep]
	ex.MVRCLabels = ex.MVRCLabels[:boxKeep*rec.NumClasses]
	return ex, masked, nil
}

// sortByConfidence orders boxes by their max class score, highest first. The
// original reverses numpy's ascending argsort; this reverses a stable ascending
// sort, so ties put the later box first (numpy's own tie order is unspecified).
func sortByConfidence(rec *features.Record) []int {
	C := rec.NumClasses
	conf := make([]float32, rec.NumBoxes)
	for r := range conf {
		conf[r] = slices.Max(rec.Classes[r*C : (r+1)*C])
	}
	order := make([]int, rec.NumBoxes)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(conf[a], conf[b]) })
	slices.Reverse(order)
	return order
}

// layoutBoxes writes [image box;] sorted boxes with features (precomputed) into
// rows of stride floats. The image-box feature is the mean of all box features.
func (d *Dataset) layoutBoxes(rec *features.Record, order []int) ([]float32, int) {
	stride := 4
	if d.Precomputed {
		stride += rec.FeatureDim
	}
	first := 0
	if d.AddImageBox {
		first = 1
	}
	n := rec.NumBoxes + first
	boxes := make([]float32, n*stride)
	for r, src := range order {
		row := boxes[(first+r)*stride : (first+r+1)*stride]
		copy(row[:4], rec.Boxes[4*src:4*src+4])
		if d.Precomputed {
			copy(row[4:], rec.Features[src*rec.FeatureDim:(src+1)*rec.FeatureDim])
		}
	}
	if d.AddImageBox {
		copy(boxes[:4], []float32{0, 0, float32(rec.ImageW) - 1, float32(rec.ImageH) - 1})
		if d.Precomputed {
			data.MeanFeature(boxes[4:stride], boxes[stride:], rec.NumBoxes, stride, 4, rec.FeatureDim)
		}
	}
	return boxes, stride
}

// GroupIDs returns the aspect-ratio group of each record (data.AspectGroup of
// image_w × image_h in its feature file: 0 when width ≥ height, 1 when
// taller), for data.Sampler.Groups (TRAIN.ASPECT_GROUPING). It reads every
// distinct feature file once, decoding only the header and boxes, on up to
// workers goroutines; on the full data set that is millions of files, so it
// only runs when grouping is asked for. The original's dataset refuses
// ASPECT_GROUPING ("not support aspect grouping currently!") and every
// shipped pretraining config sets it false; grouping here follows the
// group_aspect it left in place. The sizes are the feature file's image_w ×
// image_h, the ones Example resizes from.
func (d *Dataset) GroupIDs(workers int) ([]int, error) {
	paths := make([]string, len(d.Records))
	first := map[string]int{} // path → first record reading it
	var todo []int
	for i := range d.Records {
		paths[i] = d.FrcnnPath(i)
		if _, ok := first[paths[i]]; !ok {
			first[paths[i]] = i
			todo = append(todo, i)
		}
	}
	groups := make([]int, len(d.Records))
	errs := make([]error, len(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, len(todo))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1) - 1); k < len(todo); k = int(next.Add(1) - 1) {
				i := todo[k]
				rec, err := features.LoadJSON(d.FS, paths[i], features.Options{})
				if err != nil {
					errs[k] = fmt.Errorf("cc: record %d: %w", i, err)
					continue
				}
				groups[i] = data.AspectGroup(rec.ImageW, rec.ImageH)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first record's
		}
	}
	for i, p := range paths {
		groups[i] = groups[first[p]]
	}
	return groups, nil
}
