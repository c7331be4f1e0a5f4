package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/refcoco"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/tokenizer"
	"github.com/vlbert/vlbert/internal/visual"
)

// refcocoTask is RefCOCO+ grounding (refcoco ResNetVLBERT): a score per
// candidate box, BCE over valid boxes against IoU > 0.5 labels; metrics
// RefAcc (label[argmax] > 0.5, the host metric), ClsAcc, ClsPosAcc,
// ClsPosFrac, then the loss loggers.
//
// DATASET_PATH is the original's data/coco (paths: refcoco.FromConfig). End
// to end, as the original: refcoco+/refs(unc).p and instances.json,
// annotations/instances_train2014.json (candidate GT boxes, image sizes),
// refcoco+/proposal/res101_coco_minus_refer_notime_dets.json (MAttNet
// proposals, when a *_BOXES uses them) and
// train2014/COCO_train2014_{image_id:012d}.jpg (train2014.zip@/train2014/...
// with ZIP_MODE). With precomputed features (a vlbert extension,
// refcoco.Files.Features) the per-image bottom-up files'
// detections are the candidate proposals (the config's *_BOXES must be
// "proposal") and their features the visual features.
type refcocoTask struct {
	shard
	cfg     *config.Config
	fs      *zipfs.FS
	rd      features.Reader
	tok     *tokenizer.Tokenizer
	samples map[string][]refcoco.Sample
	preds   []RefPrediction
	gts     [][4]float64
	e2e     bool
	// The end-to-end data set (nil with precomputed features).
	real *refcocoReal
}

// refcocoReal is what the end-to-end data set adds: the COCO instances, the
// proposals and each split's box source.
type refcocoReal struct {
	coco    *refcoco.Instances
	props   refcoco.Proposals
	sources map[string]refcoco.BoxSource
}

type refBatch struct {
	m       model.RefCOCOBatch
	b       int
	refIDs  []int64
	gtBoxes [][4]float64
	images  []*visual.Prepared // e2e mode
}

func (b *refBatch) Size() int { return b.b }

func (b *refBatch) e2e() (*e2eInput, *model.Boxes) { return &e2eInput{images: b.images}, &b.m.Boxes }

func newRefCOCOTask(cfg *config.Config, fs *zipfs.FS, rd features.Reader, splits []string) (*refcocoTask, error) {
	ds := cfg.Dataset()
	if isE2E(cfg) {
		return newRealRefCOCOTask(cfg, fs, rd, splits)
	}
	for _, b := range []string{ds.TrainBoxes, ds.ValBoxes, ds.TestBoxes} {
		if b != "proposal" {
			return nil, fmt.Errorf("train: RefCOCO+ with precomputed features uses their detections as proposals; set DATASET.TRAIN_BOXES, VAL_BOXES and TEST_BOXES to \"proposal\" (got %q)", b)
		}
	}
	tok, err := Tokenizer(cfg)
	if err != nil {
		return nil, err
	}
	files := refcoco.FromConfig(cfg)
	refs, err := refcoco.ReadRefs(files.Refs)
	if err != nil {
		return nil, err
	}
	inst, err := refcoco.ReadInstances(files.Instances)
	if err != nil {
		return nil, err
	}
	t := &refcocoTask{cfg: cfg, fs: fs, rd: rd, tok: tok, samples: map[string][]refcoco.Sample{}}
	for _, s := range splits {
		sp, err := cfg.Split(ds, s)
		if err != nil {
			return nil, err
		}
		db, err := refcoco.Database(refs, sp.ImageSet, inst, inst, s == "test")
		if err != nil {
			return nil, err
		}
		t.samples[s] = db
	}
	return t, nil
}

// newRealRefCOCOTask reads the original data set's files for end-to-end
// training (see refcocoTask).
func newRealRefCOCOTask(cfg *config.Config, fs *zipfs.FS, rd features.Reader, splits []string) (*refcocoTask, error) {
	ds := cfg.Dataset()
	tok, err := Tokenizer(cfg)
	if err != nil {
		return nil, err
	}
	files := refcoco.FromConfig(cfg)
	refs, err := refcoco.ReadRefs(files.Refs)
	if err != nil {
		return nil, err
	}
	refer, err := refcoco.ReadInstances(files.Instances)
	if err != nil {
		return nil, err
	}
	coco, err := refcoco.ReadInstances(files.COCO)
	if err != nil {
		return nil, err
	}
	real := &refcocoReal{coco: coco, sources: map[string]refcoco.BoxSource{}}
	t := &refcocoTask{cfg: cfg, fs: fs, rd: rd, tok: tok, samples: map[string][]refcoco.Sample{}, e2e: true, real: real}
	for _, s := range splits {
		sp, err := cfg.Split(ds, s)
		if err != nil {
			return nil, err
		}
		set := sp.ImageSet
		src, err := refcoco.ParseBoxSource(sp.Boxes)
		if err != nil {
			return nil, fmt.Errorf("train: DATASET %s boxes: %w", s, err)
		}
		real.sources[s] = src
		if src != refcoco.BoxesGT && real.props == nil {
			if real.props, err = refcoco.ReadProposals(files.Proposals); err != nil {
				return nil, err
			}
		}
		db, err := refcoco.Database(refs, set, refer, coco, s == "test")
		if err != nil {
			return nil, err
		}
		t.samples[s] = db
	}
	return t, nil
}

// realImagePath is the COCO train2014 image of a sample.
func (t *refcocoTask) realImagePath(imageID int64) string {
	return refcoco.FromConfig(t.cfg).Image(imageID)
}

func (t *refcocoTask) HostMetric() string { return "RefAcc" }

func (t *refcocoTask) MetricNames() []string {
	return lossLoggerNames([]string{"RefAcc", "ClsAcc", "ClsPosAcc", "ClsPosFrac"}, lossLoggers(t.cfg))
}

func (t *refcocoTask) Sampler(split string) (*data.Sampler, error) {
	db, ok := t.samples[split]
	if !ok {
		return nil, fmt.Errorf("train: the refcoco task was built without the %s split", split)
	}
	s := t.sampler(t.cfg, split, len(db), 0)
	if aspectGrouping(t.cfg, split) { // on in every original RefCOCO+ config
		s.Groups = refcoco.GroupIDs(db) // from the COCO image sizes
	}
	return s, nil
}

// refExample is one expression with its candidates (row 0 the image box).
type refExample struct {
	boxes    []float32 // [n, stride]
	n        int
	imInfo   [4]float32
	expr     []int64
	label    []float32 // [n]
	refID    int64
	gt       [4]float64 // original-image ground truth
	imageBox bool
	img      *visual.Prepared // e2e mode
}

func (t *refcocoTask) example(split string, i int, rng *rand.Rand) (*refExample, error) {
	s := &t.samples[split][i]
	if t.real != nil {
		return t.realExample(split, s, rng)
	}
	// Precomputed features: the file's detections are the candidates.
	path := refcoco.FromConfig(t.cfg).Features(s.ImageID)
	rec, err := features.LoadJSON(t.rd, path, features.Options{Features: true}.WithFeatureDim())
	if err != nil {
		return nil, fmt.Errorf("refcoco: ref %d: %w", s.RefID, err)
	}
	if err := features.CheckFeatureDim(path, rec, boxStride(t.cfg)-4); err != nil {
		return nil, fmt.Errorf("refcoco: ref %d: %w", s.RefID, err)
	}
	stride := 4 + rec.FeatureDim
	n := rec.NumBoxes + 1
	// One extra row carries the ground truth through the same resize and flip.
	boxes := make([]float32, (n+1)*stride)
	copy(boxes[:4], []float32{0, 0, float32(s.Width - 1), float32(s.Height - 1)})
	for r := 0; r < rec.NumBoxes; r++ {
		row := boxes[(r+1)*stride:]
		copy(row[:4], rec.Boxes[4*r:4*r+4])
		copy(row[4:stride], rec.Features[r*rec.FeatureDim:(r+1)*rec.FeatureDim])
	}
	if rec.ImageBoxFeature != nil {
		copy(boxes[4:stride], rec.ImageBoxFeature)
	} else {
		data.MeanFeature(boxes[4:stride], boxes[stride:], rec.NumBoxes, stride, 4, rec.FeatureDim)
	}
	return t.finishExample(split, s, boxes, n, stride, "", rng)
}

// realExample builds a sample of the real data set: the split's candidate
// boxes (refcoco.Candidates, the whole image first) for the e2e CNN.
func (t *refcocoTask) realExample(split string, s *refcoco.Sample, rng *rand.Rand) (*refExample, error) {
	cands, err := refcoco.Candidates(s, t.real.sources[split], t.real.coco, t.real.props, t.cfg.Dataset().AddImageAsABox)
	if err != nil {
		return nil, fmt.Errorf("refcoco: ref %d: %w", s.RefID, err)
	}
	stride := boxStride(t.cfg)
	n := len(cands) / 4
	if n == 0 {
		return nil, fmt.Errorf("refcoco: ref %d: image %d has no candidate boxes", s.RefID, s.ImageID)
	}
	boxes := make([]float32, (n+1)*stride)
	for r := 0; r < n; r++ {
		copy(boxes[r*stride:r*stride+4], cands[4*r:4*r+4])
	}
	return t.finishExample(split, s, boxes, n, stride, t.realImagePath(s.ImageID), rng)
}

// finishExample transforms boxes [n+1, stride] (the last row the ground
// truth, carried through the same resize, flip and clamp), labels them,
// tokenizes the expression (left/right swapped when flipped) and, in e2e
// mode, loads the image at imgPath (unused with precomputed features).
func (t *refcocoTask) finishExample(split string, s *refcoco.Sample, boxes []float32, n, stride int, imgPath string, rng *rand.Rand) (*refExample, error) {
	gtRow := boxes[n*stride:]
	for k := 0; k < 4; k++ {
		gtRow[k] = float32(s.GTBox[k])
	}
	flip := t.cfg.Train.FlipProb
	if split != "train" {
		flip = 0
	}
	tr := data.BoxTransform{MinSize: t.cfg.Scales[0], MaxSize: t.cfg.Scales[1], FlipProb: flip}
	imInfo, flipped := tr.Apply(rng, boxes, n+1, stride, s.Width, s.Height)
	gt := [4]float32{gtRow[0], gtRow[1], gtRow[2], gtRow[3]}
	_, ids, err := refcoco.Expression(t.tok, s.Tokens, flipped)
	if err != nil {
		return nil, fmt.Errorf("refcoco: ref %d: %w", s.RefID, err)
	}
	e := &refExample{boxes: boxes[:n*stride], n: n, imInfo: imInfo, expr: ids,
		label: refcoco.Labels(boxes, n, stride, gt), refID: s.RefID, gt: s.GTBox}
	if t.e2e {
		if e.img, err = loadImage(t.fs, imgPath, s.Width, s.Height, imInfo[:], flipped, t.cfg.Scales, false); err != nil {
			return nil, fmt.Errorf("refcoco: ref %d: %w", s.RefID, err)
		}
	}
	return e, nil
}

func collateRef(exs []*refExample) (Batch, error) {
	if len(exs) == 0 {
		return nil, fmt.Errorf("train: empty refcoco batch")
	}
	stride := len(exs[0].boxes) / exs[0].n
	NB, LE := 0, 0
	for _, e := range exs {
		if len(e.boxes) != e.n*stride {
			return nil, fmt.Errorf("train: refcoco ref %d: feature width differs within the batch", e.refID)
		}
		NB, LE = max(NB, e.n), max(LE, len(e.expr))
	}
	B := len(exs)
	b := &refBatch{b: B, m: model.RefCOCOBatch{
		Boxes: model.Boxes{B: B, NB: NB, Data: make([]float32, B*NB*stride), ImInfo: make([]float32, 4*B), InfoW: 4},
		LE:    LE, Expression: make([]int32, B*LE), Label: make([]float32, B*NB)}}
	for i := range b.m.Boxes.Data {
		b.m.Boxes.Data[i] = data.BoxPad
	}
	for i, e := range exs {
		copy(b.m.Boxes.Data[i*NB*stride:], e.boxes)
		copy(b.m.Boxes.ImInfo[4*i:], e.imInfo[:])
		for k, id := range e.expr {
			b.m.Expression[i*LE+k] = int32(id)
		}
		copy(b.m.Label[i*NB:], e.label)
		b.refIDs = append(b.refIDs, e.refID)
		if e.img != nil {
			b.images = append(b.images, e.img)
		}
		b.gtBoxes = append(b.gtBoxes, e.gt)
	}
	return b, nil
}

func (t *refcocoTask) Load(ctx context.Context, split string, batches [][]int, epoch, first, global int) *data.Prefetcher[Batch] {
	return data.LoadBatches(ctx, batches, epoch, first, uint64(t.cfg.RNGSeed), workers(t.cfg), 2*workers(t.cfg),
		func(i int, rng *rand.Rand) (*refExample, error) { return t.example(split, i, rng) }, collateRef)
}

func (t *refcocoTask) Forward(m model.Module, b Batch, mt *Metrics) (float32, map[string]float32, error) {
	rb := b.(*refBatch)
	out, err := m.(*model.RefCOCO).Forward(&rb.m)
	if err != nil {
		return 0, nil, err
	}
	NB := rb.m.Boxes.NB
	stride := len(rb.m.Boxes.Data) / (rb.b * NB)
	for i := 0; i < rb.b; i++ {
		logits, labels := out.Logits[i*NB:(i+1)*NB], rb.m.Label[i*NB:(i+1)*NB]
		hit := 0.0
		if labels[argmax(logits)] > 0.5 {
			hit = 1
		}
		mt.Add("RefAcc", hit, 1)
		for j := 0; j < NB; j++ {
			if rb.m.Boxes.Data[(i*NB+j)*stride] < -1.5 { // padding row
				continue
			}
			pos, predPos := labels[j] > 0.5, logits[j] > 0
			mt.Add("ClsAcc", b2f(pos == predPos), 1)
			mt.Add("ClsPosFrac", b2f(pos), 1)
			if pos {
				mt.Add("ClsPosAcc", b2f(predPos), 1)
			}
		}
	}
	return out.Loss, map[string]float32{"cls_loss": out.Loss}, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (t *refcocoTask) Backward(m model.Module, dloss float32) { m.(*model.RefCOCO).Backward(dloss) }

func (t *refcocoTask) Predict(m model.Module, b Batch) error {
	rb := b.(*refBatch)
	in := rb.m
	in.Label = nil
	out, err := m.(*model.RefCOCO).Forward(&in)
	if err != nil {
		return err
	}
	for i := 0; i < rb.b; i++ {
		var box [4]float64
		for k := range box {
			box[k] = float64(out.PredBoxes[4*i+k])
		}
		t.preds = append(t.preds, RefPrediction{RefID: rb.refIDs[i], Box: box})
		t.gts = append(t.gts, rb.gtBoxes[i])
	}
	return nil
}

// WriteResults writes {name}_refcoco+_{split}.json and reports the accuracy
// at IoU ≥ 0.5 in a second, one-line file {name}_refcoco+_{split}_acc.txt.
func (t *refcocoTask) WriteResults(dir, name, split string) ([]string, error) {
	path, acc, err := WriteRefCOCOResults(dir, name, split, t.preds, t.gts)
	if err != nil {
		return nil, err
	}
	accPath := filepath.Join(dir, fmt.Sprintf("%s_refcoco+_%s_acc.txt", name, split))
	if err := writeText(accPath, fmt.Sprintf("accuracy@IoU>=0.5 %.6f over %d expressions\n", acc, len(t.preds))); err != nil {
		return nil, err
	}
	return []string{path, accPath}, nil
}

func (t *refcocoTask) Close() error { return t.fs.Close() }
