package train

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/vcr"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
)

// vcrTask is ResNetVLBERT on VCR (vcr/modules/resnet_vlbert_for_vcr.py on vcr/data/datasets/vcr.py): DATASET.TASK Q2A or
// QA2R, four "[CLS] query [SEP] choice [SEP]" sequences per question, one
// logit each (pooler → Linear(1)), softmax cross-entropy (or sigmoid BCE)
// over the four; metric and host metric Acc.
//
// In e2e mode (the original's configs) the ResNet runs on the images
// (IMAGE_SET/img_fn) and the metadata boxes, with the box-relative
// segmentation masks (DATASET.MASK_SIZE, flipped with the image) gating the
// res5 output. With precomputed features, those of an image come from the
// bottom-up-attention file {image}.json in vcr.FeatureDir (next to the VCR
// directory), whose boxes must be the metadata boxes in the same order; the whole-image box comes first with the file's
// image_box_feature, else the mean of the box features (as VQA).
type vcrTask struct {
	shard
	cfg     *config.Config
	fs      *zipfs.FS
	rd      features.Reader
	task    vcr.Task
	sets    map[string]*vcrSet
	results []VCRResult
	e2e     bool
}

// vcrSet is one split: its annotations and how to build them.
type vcrSet struct {
	anns      []vcr.Annotation
	b         *vcr.Builder
	imgRoot   string // DATASET_PATH/IMAGE_SET: metadata_fn is relative to it
	featDir   string // the per-image feature files
	transform data.BoxTransform
	test      bool
	groups    []int // aspect groups (TRAIN.ASPECT_GROUPING, train split)
}

// vcrExample is one built question with its box rows.
type vcrExample struct {
	s       *vcr.Sample
	boxes   []float32 // [n*(4+IMAGE_FEAT_DIM)], resized-image pixels
	classes []int32   // [n]
	n       int
	imInfo  [4]float32
	img     *visual.Prepared // e2e mode
	masks   []float32        // e2e mode: [n, MaskSize²]
}

// vcrBatch is a collated batch. The model batch holds the first query; in
// QA2R test mode queries[i] (question + answer i) replaces it per run.
type vcrBatch struct {
	m        model.VCRBatch
	ids      []string
	queries  [][]int32 // [NQ][B*LQ]
	qtags    [][]int32
	labelled bool
	in       e2eInput // e2e mode
}

func (b *vcrBatch) Size() int { return b.m.Boxes.B }

func (b *vcrBatch) e2e() (*e2eInput, *model.Boxes) { return &b.in, &b.m.Boxes }

func newVCRTask(cfg *config.Config, fs *zipfs.FS, rd features.Reader, splits []string) (*vcrTask, error) {
	ds := cfg.Dataset()
	t := &vcrTask{cfg: cfg, fs: fs, rd: rd, sets: map[string]*vcrSet{}, e2e: isE2E(cfg)}
	switch ds.TaskName {
	case "Q2A":
		t.task = vcr.Q2A
	case "QA2R":
		t.task = vcr.QA2R
	default:
		return nil, fmt.Errorf("train: VCR DATASET.TASK %q: want Q2A or QA2R (they are trained as separate models)", ds.TaskName)
	}
	if ds.ZipMode {
		return nil, fmt.Errorf("train: VCR does not read zip archives (DATASET.ZIP_MODE); unpack them")
	}
	if len(cfg.Scales) < 2 {
		return nil, fmt.Errorf("train: SCALES needs (short side, max long side), got %v", cfg.Scales)
	}
	cats, err := vcr.DataCategories(ds.DatasetPath)
	if err != nil {
		return nil, err
	}
	if cfg.Network.EnableCNNRegLoss && len(cats) > model.VCRObjectClasses {
		return nil, fmt.Errorf("train: %d VCR classes but the CNN regularisation head has %d outputs; set NETWORK.ENABLE_CNN_REG_LOSS false", len(cats), model.VCRObjectClasses)
	}
	tok, err := Tokenizer(cfg)
	if err != nil {
		return nil, err
	}
	for _, split := range splits {
		sp, err := cfg.Split(ds, split)
		if err != nil {
			return nil, err
		}
		set, ann, flip := sp.ImageSet, sp.AnnotationFile, sp.FlipProb
		if ann == "" {
			ann = split + ".jsonl"
		}
		test := split == "test"
		anns, err := vcr.ReadAnnotations(filepath.Join(ds.DatasetPath, ann), test)
		if err != nil {
			return nil, err
		}
		opts := vcr.DefaultOptions(t.task)
		opts.AddImageAsBox, opts.MaskSize, opts.TestMode, opts.Categories = ds.AddImageAsABox, max(ds.MaskSize, 1), test, cats
		b, err := vcr.NewBuilder(tok, opts)
		if err != nil {
			return nil, err
		}
		t.sets[split] = &vcrSet{anns: anns, b: b, test: test,
			imgRoot:   filepath.Join(ds.DatasetPath, set),
			featDir:   vcr.FeatureDir(ds.DatasetPath),
			transform: data.BoxTransform{MinSize: cfg.Scales[0], MaxSize: cfg.Scales[1], FlipProb: flip},
		}
		if aspectGrouping(cfg, split) {
			if t.sets[split].groups, err = t.aspectGroups(t.sets[split], workers(cfg)); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// aspectGroups returns data.AspectGroup of each annotation's image from the
// width and height of its metadata file, reading each file once on up to
// workers goroutines. The original's VCR dataset refuses ASPECT_GROUPING
// ("Not support aspect grouping now!") and every shipped VCR config sets it
// false; grouping here follows the group_aspect it left in place.
func (t *vcrTask) aspectGroups(s *vcrSet, workers int) ([]int, error) {
	first := map[string]int{} // metadata_fn → first annotation reading it
	var todo []int
	for i, a := range s.anns {
		if _, ok := first[a.MetadataFn]; !ok {
			first[a.MetadataFn] = i
			todo = append(todo, i)
		}
	}
	groups := make([]int, len(s.anns))
	err := parallelFor(len(todo), workers, func(k int) error {
		a := &s.anns[todo[k]]
		path := filepath.Join(s.imgRoot, filepath.FromSlash(a.MetadataFn))
		b, err := t.fs.ReadFile(path)
		if err != nil {
			return fmt.Errorf("train: vcr annot_id %s: %w", a.AnnotID, err)
		}
		m, err := vcr.ParseMetadata(bytes.NewReader(b), path)
		if err != nil {
			return err
		}
		groups[todo[k]] = data.AspectGroup(m.Width, m.Height)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, a := range s.anns {
		groups[i] = groups[first[a.MetadataFn]]
	}
	return groups, nil
}

func (t *vcrTask) HostMetric() string { return "Acc" }

func (t *vcrTask) MetricNames() []string {
	return lossLoggerNames([]string{"Acc"}, lossLoggers(t.cfg))
}

func (t *vcrTask) Sampler(split string) (*data.Sampler, error) {
	s, ok := t.sets[split]
	if !ok {
		return nil, fmt.Errorf("train: the vcr task was built without the %s split", split)
	}
	sp := t.sampler(t.cfg, split, len(s.anns), 0)
	if aspectGrouping(t.cfg, split) {
		sp.Groups = s.groups
	}
	return sp, nil
}

func (t *vcrTask) Load(ctx context.Context, split string, batches [][]int, epoch, first, global int) *data.Prefetcher[Batch] {
	s := t.sets[split]
	return data.LoadBatches(ctx, batches, epoch, first, uint64(t.cfg.RNGSeed), workers(t.cfg), 2*workers(t.cfg),
		func(i int, rng *rand.Rand) (*vcrExample, error) { return t.example(s, i, rng) },
		func(exs []*vcrExample) (Batch, error) { return collateVCR(exs, !s.test, boxStride(t.cfg)) })
}

// example builds annotation i of s: text and classes from the annotation and
// its metadata, box features from the image's feature file.
func (t *vcrTask) example(s *vcrSet, i int, rng *rand.Rand) (*vcrExample, error) {
	if i < 0 || i >= len(s.anns) {
		return nil, fmt.Errorf("train: vcr example %d outside [0, %d)", i, len(s.anns))
	}
	a := &s.anns[i]
	metaPath := filepath.Join(s.imgRoot, filepath.FromSlash(a.MetadataFn))
	mb, err := t.fs.ReadFile(metaPath)
	if err != nil {
		return nil, fmt.Errorf("train: vcr annot_id %s: %w", a.AnnotID, err)
	}
	meta, err := vcr.ParseMetadata(strings.NewReader(string(mb)), metaPath)
	if err != nil {
		return nil, err
	}
	allObjects := len(a.Objects)
	var keep []int // DATASET.ONLY_USE_RELEVANT_DETS: the detections kept, in kept order
	if t.cfg.Dataset().OnlyUseRelevantDets {
		if keep, a, meta, err = vcr.KeepOnlyRelevantDets(a, meta, t.task); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	if t.e2e {
		return t.e2eExample(s, a, meta, rng)
	}
	img := filepath.Base(filepath.FromSlash(a.ImgFn))
	featPath := filepath.Join(s.featDir, strings.TrimSuffix(img, filepath.Ext(img))+".json")
	rec, err := features.LoadJSON(t.rd, featPath, features.VQAOptions().WithFeatureDim())
	if err != nil {
		return nil, fmt.Errorf("train: vcr annot_id %s: %w", a.AnnotID, err)
	}
	stride := boxStride(t.cfg)
	if err := features.CheckFeatureDim(featPath, rec, stride-4); err != nil {
		return nil, fmt.Errorf("train: vcr annot_id %s: %w", a.AnnotID, err)
	}
	if rec.NumBoxes != allObjects {
		return nil, fmt.Errorf("train: vcr annot_id %s: %s has %d boxes, want %d (one per object, in the metadata order)",
			a.AnnotID, featPath, rec.NumBoxes, allObjects)
	}
	smp, err := s.b.Build(a, meta, rec.ImageW, rec.ImageH)
	if err != nil {
		return nil, err
	}
	n := smp.NumBoxes
	first := n - len(a.Objects) // 1 with the whole-image box
	e := &vcrExample{s: smp, n: n, boxes: make([]float32, n*stride), classes: make([]int32, n)}
	for r := 0; r < n; r++ {
		row := e.boxes[r*stride:]
		copy(row[:4], smp.Boxes[6*r:6*r+4])
		e.classes[r] = int32(smp.Boxes[6*r+5])
		if d := r - first; d >= 0 {
			if keep != nil {
				d = keep[d]
			}
			copy(row[4:stride], rec.Features[d*rec.FeatureDim:(d+1)*rec.FeatureDim])
		}
	}
	if first == 1 {
		if rec.ImageBoxFeature != nil {
			copy(e.boxes[4:stride], rec.ImageBoxFeature)
		} else {
			data.MeanFeature(e.boxes[4:stride], e.boxes[stride:], n-1, stride, 4, rec.FeatureDim)
		}
	}
	w0, h0 := rec.ImageW, rec.ImageH
	if w0 <= 0 || h0 <= 0 {
		w0, h0 = meta.Width, meta.Height
	}
	if w0 <= 0 || h0 <= 0 {
		return nil, fmt.Errorf("train: vcr annot_id %s: no image size", a.AnnotID)
	}
	// VCR flips boxes (and masks) but not the text (vcr/data/datasets/vcr.py, __getitem__: no left/right swap).
	e.imInfo, _ = s.transform.Apply(rng, e.boxes, n, stride, w0, h0)
	return e, nil
}

// e2eExample builds annotation a for the e2e CNN: the image's own size (as
// the original, which reads it from the decoded image), the metadata boxes,
// the image resized and flipped with the boxes and the masks.
func (t *vcrTask) e2eExample(s *vcrSet, a *vcr.Annotation, meta *vcr.Metadata, rng *rand.Rand) (*vcrExample, error) {
	path := filepath.Join(s.imgRoot, filepath.FromSlash(a.ImgFn))
	img, err := readImage(t.fs, path)
	if err != nil {
		return nil, fmt.Errorf("train: vcr annot_id %s: %w", a.AnnotID, err)
	}
	smp, err := s.b.Build(a, meta, img.W, img.H)
	if err != nil {
		return nil, err
	}
	stride := boxStride(t.cfg)
	n := smp.NumBoxes
	e := &vcrExample{s: smp, n: n, boxes: make([]float32, n*stride), classes: make([]int32, n), masks: smp.Masks}
	for r := 0; r < n; r++ {
		copy(e.boxes[r*stride:r*stride+4], smp.Boxes[6*r:6*r+4])
		e.classes[r] = int32(smp.Boxes[6*r+5])
	}
	var flipped bool
	e.imInfo, flipped = s.transform.Apply(rng, e.boxes, n, stride, img.W, img.H)
	if flipped {
		flipMasks(e.masks, n, smp.MaskSize)
	}
	if e.img, err = prepareImage(img, path, e.imInfo[:], flipped, t.cfg.Scales); err != nil {
		return nil, fmt.Errorf("train: vcr annot_id %s: %w", a.AnnotID, err)
	}
	return e, nil
}

// collateVCR pads a batch: boxes with -1 (VCR's validity test is
// boxes[:, :, 3] > -0.5), wordpieces with 0, tags with -1. Box rows are
// stride (4+IMAGE_FEAT_DIM) wide.
func collateVCR(exs []*vcrExample, labelled bool, stride int) (*vcrBatch, error) {
	if len(exs) == 0 {
		return nil, fmt.Errorf("train: empty vcr batch")
	}
	B, NB, LQ, LA, NQ := len(exs), 0, 0, 0, len(exs[0].s.Queries)
	for _, e := range exs {
		if len(e.s.Queries) != NQ || len(e.s.Choices) != model.VCRChoices {
			return nil, fmt.Errorf("train: vcr %s: %d queries and %d choices, want %d and %d", e.s.AnnotID, len(e.s.Queries), len(e.s.Choices), NQ, model.VCRChoices)
		}
		NB = max(NB, e.n)
		for _, q := range e.s.Queries {
			LQ = max(LQ, q.Len())
		}
		for _, c := range e.s.Choices {
			LA = max(LA, c.Len())
		}
	}
	b := &vcrBatch{labelled: labelled, ids: make([]string, B), m: model.VCRBatch{
		Boxes:   model.Boxes{B: B, NB: NB, Data: make([]float32, B*NB*stride), ImInfo: make([]float32, 4*B), InfoW: 4, VCRMask: true},
		Classes: make([]int32, B*NB), LQ: LQ, LA: LA,
		Answers: make([]int32, B*model.VCRChoices*LA), ATags: make([]int32, B*model.VCRChoices*LA),
	}}
	for i := range b.m.Boxes.Data {
		b.m.Boxes.Data[i] = -1
	}
	for i := range b.m.ATags {
		b.m.ATags[i] = -1
	}
	for k := 0; k < NQ; k++ {
		q, qt := make([]int32, B*LQ), make([]int32, B*LQ)
		for i := range qt {
			qt[i] = -1
		}
		for i, e := range exs {
			fill(q[i*LQ:], qt[i*LQ:], &e.s.Queries[k])
		}
		b.queries, b.qtags = append(b.queries, q), append(b.qtags, qt)
	}
	b.m.Question, b.m.QTags = b.queries[0], b.qtags[0]
	if exs[0].img != nil {
		ms := exs[0].s.MaskSize * exs[0].s.MaskSize
		b.in = e2eInput{masks: make([]float32, B*NB*ms), maskHW: ms}
		for i, e := range exs {
			if e.img == nil || len(e.masks) != e.n*ms {
				return nil, fmt.Errorf("train: vcr %s: e2e example without image or masks", e.s.AnnotID)
			}
			b.in.images = append(b.in.images, e.img)
			copy(b.in.masks[i*NB*ms:], e.masks)
		}
	}
	if labelled {
		b.m.AnsLabel = make([]int32, B)
	}
	for i, e := range exs {
		b.ids[i] = e.s.AnnotID
		copy(b.m.Boxes.Data[i*NB*stride:], e.boxes)
		copy(b.m.Boxes.ImInfo[4*i:], e.imInfo[:])
		copy(b.m.Classes[i*NB:], e.classes)
		for c := range model.VCRChoices {
			r := i*model.VCRChoices + c
			fill(b.m.Answers[r*LA:], b.m.ATags[r*LA:], &e.s.Choices[c])
		}
		if labelled {
			if e.s.Label < 0 || e.s.Label >= model.VCRChoices {
				return nil, fmt.Errorf("train: vcr %s: label %d outside [0, %d)", e.s.AnnotID, e.s.Label, model.VCRChoices)
			}
			b.m.AnsLabel[i] = int32(e.s.Label)
		}
	}
	return b, nil
}

// fill copies a text's wordpiece ids and grounding tags.
func fill(ids, tags []int32, t *vcr.Text) {
	for k := range t.IDs {
		ids[k], tags[k] = int32(t.IDs[k]), int32(t.Tags[k])
	}
}

func (t *vcrTask) Forward(m model.Module, b Batch, mt *Metrics) (float32, map[string]float32, error) {
	vb := b.(*vcrBatch)
	if !vb.labelled {
		return 0, nil, fmt.Errorf("train: vcr forward on an unlabelled (test) batch")
	}
	out, err := m.(*model.VCR).Forward(&vb.m)
	if err != nil {
		return 0, nil, err
	}
	hits := 0
	for i, l := range vb.m.AnsLabel {
		if argmax(out.Logits[i*model.VCRChoices:(i+1)*model.VCRChoices]) == int(l) {
			hits++
		}
	}
	mt.Add("Acc", float64(hits), float64(vb.Size()))
	return out.Total, map[string]float32{"ans_loss": out.AnsLoss, "cnn_regularization_loss": out.CNNLoss}, nil
}

func (t *vcrTask) Backward(m model.Module, dloss float32) { m.(*model.VCR).Backward(dloss) }

// Predict keeps the softmax probabilities of the four choices: the answers
// (Q2A), or the rationales conditioned on each answer candidate (QA2R, four
// runs).
func (t *vcrTask) Predict(m model.Module, b Batch) error {
	vb := b.(*vcrBatch)
	in := vb.m
	in.AnsLabel = nil
	base := len(t.results)
	for _, id := range vb.ids {
		t.results = append(t.results, VCRResult{AnnotID: id})
	}
	for k := range vb.queries {
		in.Question, in.QTags = vb.queries[k], vb.qtags[k]
		out, err := m.(*model.VCR).Forward(&in)
		if err != nil {
			return err
		}
		for i := range vb.ids {
			p := softmax4(out.Logits[i*model.VCRChoices:])
			r := &t.results[base+i]
			if t.task == vcr.Q2A {
				r.Answer = p
			} else {
				r.Rationale[k] = p
			}
		}
	}
	return nil
}

func softmax4(z []float32) [4]float32 {
	mx := max(z[0], z[1], z[2], z[3])
	var p [4]float32
	var s float64
	for i := range p {
		e := math.Exp(float64(z[i] - mx))
		p[i], s = float32(e), s+e
	}
	for i := range p {
		p[i] = float32(float64(p[i]) / s)
	}
	return p
}

// WriteResults writes vcr/test.py's CSV of the task, indexed by annot_id:
// {name}_test_result_Q2A.csv (answer_0..3) or {name}_test_result_QA2R.csv
// (rationale_conditioned_on_a{i}_{j}). The merged leaderboard file needs
// both models' results: WriteVCRResults writes it from them.
func (t *vcrTask) WriteResults(dir, name, split string) ([]string, error) {
	var cols []string
	vals := func(r *VCRResult) []float32 { return r.Answer[:] }
	if t.task == vcr.Q2A {
		for i := range 4 {
			cols = append(cols, fmt.Sprintf("answer_%d", i))
		}
	} else {
		for i := range 4 {
			for j := range 4 {
				cols = append(cols, fmt.Sprintf("rationale_conditioned_on_a%d_%d", i, j))
			}
		}
		vals = func(r *VCRResult) []float32 {
			out := make([]float32, 0, 16)
			for i := range r.Rationale {
				out = append(out, r.Rationale[i][:]...)
			}
			return out
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s_test_result_%s.csv", name, t.task))
	err := atomicfile.WriteFile(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		bw.WriteString("annot_id," + strings.Join(cols, ",") + "\n")
		for i := range t.results {
			bw.WriteString(csvField(t.results[i].AnnotID))
			for _, v := range vals(&t.results[i]) {
				bw.WriteString("," + pyFloat32(v))
			}
			bw.WriteString("\n")
		}
		return bw.Flush()
	})
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return []string{path}, nil
}

// initModel copies token type 0 to 1 after a partial pretrain load when
// NETWORK.PARTIAL_PRETRAIN_SEGMB_INIT (pretrained models have one segment
// type in use; VCR gives the choice type 1).
func (t *vcrTask) initModel(m model.Module) error {
	if t.cfg.Network.PartialPretrain == "" || !t.cfg.Network.PartialPretrainSegmbInit {
		return nil
	}
	e := m.Base()
	w := e.Params.View("vlbert._module.token_type_embeddings.weight")
	H := e.Cfg.HiddenSize
	if len(w) < 2*H {
		return fmt.Errorf("train: PARTIAL_PRETRAIN_SEGMB_INIT needs 2 token types, the model has %d", len(w)/H)
	}
	copy(w[H:2*H], w[:H])
	return nil
}

func (t *vcrTask) Close() error { return t.fs.Close() }
