package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/vcr"
	"github.com/vlbert/vlbert/internal/logging"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/tokenizer"
	"github.com/vlbert/vlbert/internal/train"
)

// internal/train has no VCR task yet, so the demo brings its own: a
// train.Task over the world's vcr/{split}.jsonl with the precomputed region
// features of frcnn/, driven by train.Trainer (the same optimizer, schedule,
// clipping and checkpoint format as every other phase).
//
// Text follows the original vcr.py for non-person detections: an object
// reference becomes its class name ("and"-joined for several), and each of
// its wordpieces carries a grounding tag pointing at the box (box 0 is the
// whole image), so the model sees that box's feature at those tokens.

type vcrTask struct {
	// train.Task has an unexported method (setShard, used only by train.Run
	// for data-parallel jobs); embedding the interface provides it. The demo
	// drives the task through NewTrainer and Step, which never call it.
	train.Task

	cfg  *config.Config
	tok  *tokenizer.Tokenizer
	data string // the world directory
	anns map[string][]vcr.Annotation

	mu    sync.Mutex
	feats map[string]*features.Record
}

func newVCRTask(cfg *config.Config, world string) (*vcrTask, error) {
	t := &vcrTask{cfg: cfg, tok: tokenizer.Default(true), data: world, anns: map[string][]vcr.Annotation{}, feats: map[string]*features.Record{}}
	for _, split := range []string{"train", "val"} {
		a, err := vcr.ReadAnnotations(filepath.Join(world, synth.Layout.VCR, split+".jsonl"), false)
		if err != nil {
			return nil, err
		}
		t.anns[split] = a
	}
	return t, nil
}

func (t *vcrTask) HostMetric() string    { return "Acc" }
func (t *vcrTask) MetricNames() []string { return []string{"Acc", "AnsLoss"} }
func (t *vcrTask) Close() error          { return nil }

func (t *vcrTask) Sampler(split string) (*data.Sampler, error) {
	a, ok := t.anns[split]
	if !ok {
		return nil, fmt.Errorf("vcr: no split %q", split)
	}
	bs, shuffle := t.cfg.Train.BatchImages.At(0), t.cfg.Train.Shuffle
	if split != "train" {
		bs, shuffle = t.cfg.Val.BatchImages.At(0), false
	}
	return &data.Sampler{N: len(a), World: 1, BatchSize: bs, Shuffle: shuffle, Seed: uint64(t.cfg.RNGSeed)}, nil
}

// record returns the features of the annotation's image (cached: a world
// holds a few thousand small records).
func (t *vcrTask) record(a *vcr.Annotation) (*features.Record, error) {
	id := strings.TrimSuffix(filepath.Base(a.ImgFn), filepath.Ext(a.ImgFn))
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return nil, fmt.Errorf("vcr %s: img_fn %q is not a synthetic scene", a.AnnotID, a.ImgFn)
	}
	t.mu.Lock()
	rec := t.feats[id]
	t.mu.Unlock()
	if rec != nil {
		return rec, nil
	}
	path := filepath.Join(t.data, synth.Layout.Features, id+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rec, err = features.ParseJSON(path, b, features.VQAOptions())
	if err != nil {
		return nil, err
	}
	if rec.NumBoxes != len(a.Objects) {
		return nil, fmt.Errorf("vcr %s: %d objects but %s has %d boxes", a.AnnotID, len(a.Objects), path, rec.NumBoxes)
	}
	t.mu.Lock()
	t.feats[id] = rec
	t.mu.Unlock()
	return rec, nil
}

type vcrExample struct {
	boxes      []float32 // [n*(4+2048)]: image box first
	n, w, h    int
	q, qt      []int32
	ans, atags [4][]int32
	label      int
}

// text converts a VCR token list to wordpiece ids and grounding tags.
func (t *vcrTask) text(toks []vcr.Token, objects []string) (ids, tags []int32, err error) {
	add := func(word string, tag int32) error {
		for _, p := range t.tok.Tokenize(word) {
			id, ok := t.tok.ID(p)
			if !ok {
				return fmt.Errorf("wordpiece %q not in the vocabulary", p)
			}
			ids, tags = append(ids, int32(id)), append(tags, tag)
		}
		return nil
	}
	for _, tk := range toks {
		if tk.Objects == nil {
			if err := add(tk.Word, -1); err != nil {
				return nil, nil, err
			}
			continue
		}
		for k, o := range tk.Objects {
			if o < 0 || o >= len(objects) {
				return nil, nil, fmt.Errorf("object reference %d outside [0, %d)", o, len(objects))
			}
			if k > 0 {
				if err := add("and", -1); err != nil {
					return nil, nil, err
				}
			}
			if err := add(objects[o], int32(o+1)); err != nil {
				return nil, nil, err
			}
		}
	}
	return ids, tags, nil
}

func (t *vcrTask) example(split string, i int) (*vcrExample, error) {
	a := &t.anns[split][i]
	rec, err := t.record(a)
	if err != nil {
		return nil, err
	}
	const stride = 4 + synth.FeatureDim
	n := rec.NumBoxes + 1
	e := &vcrExample{boxes: make([]float32, n*stride), n: n, w: rec.ImageW, h: rec.ImageH, label: a.AnswerLabel}
	copy(e.boxes[:4], []float32{0, 0, float32(rec.ImageW - 1), float32(rec.ImageH - 1)})
	for r := 0; r < rec.NumBoxes; r++ {
		row := e.boxes[(r+1)*stride:]
		copy(row[:4], rec.Boxes[4*r:4*r+4])
		copy(row[4:stride], rec.Features[r*rec.FeatureDim:(r+1)*rec.FeatureDim])
	}
	data.MeanFeature(e.boxes[4:stride], e.boxes[stride:], rec.NumBoxes, stride, 4, rec.FeatureDim)
	if e.q, e.qt, err = t.text(a.Question, a.Objects); err != nil {
		return nil, fmt.Errorf("vcr %s: question: %w", a.AnnotID, err)
	}
	if len(a.AnswerChoices) != 4 {
		return nil, fmt.Errorf("vcr %s: %d answer choices, want 4", a.AnnotID, len(a.AnswerChoices))
	}
	for c := range 4 {
		if e.ans[c], e.atags[c], err = t.text(a.AnswerChoices[c], a.Objects); err != nil {
			return nil, fmt.Errorf("vcr %s: answer %d: %w", a.AnnotID, c, err)
		}
	}
	return e, nil
}

// vcrBatch is one collated batch.
type vcrBatch struct {
	b int
	m model.VCRBatch
}

func (b *vcrBatch) Size() int { return b.b }

func collateVCR(exs []*vcrExample) (train.Batch, error) {
	if len(exs) == 0 {
		return nil, fmt.Errorf("vcr: empty batch")
	}
	const stride = 4 + synth.FeatureDim
	NB, LQ, LA := 0, 0, 0
	for _, e := range exs {
		NB, LQ = max(NB, e.n), max(LQ, len(e.q))
		for c := range 4 {
			LA = max(LA, len(e.ans[c]))
		}
	}
	B := len(exs)
	b := &vcrBatch{b: B, m: model.VCRBatch{
		Boxes: model.Boxes{B: B, NB: NB, Data: make([]float32, B*NB*stride), ImInfo: make([]float32, 4*B), InfoW: 4},
		LQ:    LQ, LA: LA, Question: make([]int32, B*LQ), QTags: make([]int32, B*LQ),
		Answers: make([]int32, B*4*LA), ATags: make([]int32, B*4*LA), AnsLabel: make([]int32, B)}}
	for i := range b.m.Boxes.Data {
		b.m.Boxes.Data[i] = -1 // VCR padding: boxes[:, :, 3] > -0.5 is the validity test
	}
	for i := range b.m.QTags {
		b.m.QTags[i] = -1
	}
	for i := range b.m.ATags {
		b.m.ATags[i] = -1
	}
	for i, e := range exs {
		copy(b.m.Boxes.Data[i*NB*stride:], e.boxes)
		copy(b.m.Boxes.ImInfo[4*i:], []float32{float32(e.w), float32(e.h), 1, 1})
		copy(b.m.Question[i*LQ:], e.q)
		copy(b.m.QTags[i*LQ:], e.qt)
		for c := range 4 {
			copy(b.m.Answers[(i*4+c)*LA:], e.ans[c])
			copy(b.m.ATags[(i*4+c)*LA:], e.atags[c])
		}
		b.m.AnsLabel[i] = int32(e.label)
	}
	return b, nil
}

func (t *vcrTask) Load(ctx context.Context, split string, batches [][]int, epoch, first, global int) *data.Prefetcher[train.Batch] {
	return data.LoadBatches(ctx, batches, epoch, first, uint64(t.cfg.RNGSeed), 2, 4,
		func(i int, _ *rand.Rand) (*vcrExample, error) { return t.example(split, i) }, collateVCR)
}

func (t *vcrTask) Forward(m *model.Model, b train.Batch, mt *train.Metrics) (float32, map[string]float32, error) {
	vb := b.(*vcrBatch)
	out, err := m.ForwardVCR(&vb.m)
	if err != nil {
		return 0, nil, err
	}
	mt.Add("Acc", vcrHits(out.Logits, vb.m.AnsLabel), float64(vb.b))
	return out.Total, map[string]float32{"ans_loss": out.AnsLoss}, nil
}

func (t *vcrTask) Backward(m *model.Model, dloss float32) { m.BackwardVCR(dloss) }

func vcrHits(logits []float32, labels []int32) float64 {
	hits := 0.0
	for i, l := range labels {
		row := logits[i*4 : i*4+4]
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		if best == int(l) {
			hits++
		}
	}
	return hits
}

// trainVCR runs the VCR job: the same loop as train.Run (epochs of
// Trainer.Step, validation at each epoch end, a checkpoint at the end).
func (r *runner) trainVCR(ctx context.Context, j job) (*runResult, error) {
	cfg, cfgPath, err := j.config(r.out)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	task, err := newVCRTask(cfg, r.data)
	if err != nil {
		return nil, err
	}
	mc, err := model.FromConfig(cfg)
	if err != nil {
		return nil, err
	}
	m, err := model.New(mc)
	if err != nil {
		return nil, err
	}
	m.InitWeights(uint64(cfg.RNGSeed))
	r.rep.Counts.ValVCR = len(task.anns["val"])
	if j.from != "" {
		rep, err := train.LoadPartial(m, j.from, cfg.Network.PartialPretrainPrefixChanges)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(r.log, "partial pretrain %s: %d keys loaded\n", j.from, len(rep.Loaded))
	}
	sampler, err := task.Sampler("train")
	if err != nil {
		return nil, err
	}
	perEpoch, err := sampler.NumBatches(0)
	if err != nil {
		return nil, err
	}
	tr, err := train.NewTrainer(cfg, task, m, perEpoch)
	if err != nil {
		return nil, err
	}
	epochs := cfg.Train.EndEpoch
	progress := logging.NewProgress(r.log, r.opts.Terminal, cfg.LogFrequent, sampler.BatchSize, perEpoch, epochs)
	rr := &runResult{cfgPath: cfgPath}
	for epoch := 0; epoch < epochs; epoch++ {
		batches, err := sampler.Batches(epoch)
		if err != nil {
			return nil, err
		}
		mt := train.NewMetrics(task.MetricNames())
		loader := task.Load(ctx, "train", batches, epoch, 0, tr.State.Global)
		for k := range batches {
			if ctx.Err() != nil {
				loader.Close()
				return nil, ctx.Err()
			}
			td := time.Now()
			b, err := loader.Next()
			if err != nil {
				loader.Close()
				return nil, err
			}
			dataTime := time.Since(td)
			tr.State.Epoch = epoch
			step, err := tr.Step(b, mt)
			if err != nil {
				loader.Close()
				return nil, err
			}
			if !math.IsNaN(step.Loss) {
				rr.curve = append(rr.curve, Point{Step: int64(tr.State.Global - 1), Loss: step.Loss})
			}
			progress.Batch(epoch, k, logging.Phases{Data: dataTime, Forward: step.Forward, Backward: step.Backward, Optimizer: step.Optimizer}, mt.List())
		}
		loader.Close()
		progress.Done()
		tr.State.Batch = 0
		if rr.val, err = r.evalVCR(ctx, task, m); err != nil {
			return nil, err
		}
		fmt.Fprintf(r.log, "Epoch[%d] Val-Acc=%f\tVal-AnsLoss=%f\n", epoch, rr.val["Acc"], rr.val["AnsLoss"])
	}
	tr.State.Epoch = epochs
	rr.ckpt = filepath.Join(r.out, "checkpoints", j.name+".safetensors")
	if err := os.MkdirAll(filepath.Dir(rr.ckpt), 0o755); err != nil {
		return nil, err
	}
	if err := tr.SaveCheckpoint(rr.ckpt); err != nil {
		return nil, err
	}
	rr.seconds = time.Since(t0).Seconds()
	r.runs[j.name] = rr
	r.rep.record(j.name, rr)
	fmt.Fprintf(r.log, "checkpoint: %s\n", rr.ckpt)
	return rr, nil
}

// evalVCR is the val accuracy and loss, dropout off.
func (r *runner) evalVCR(ctx context.Context, task *vcrTask, m *model.Model) (map[string]float64, error) {
	sampler, err := task.Sampler("val")
	if err != nil {
		return nil, err
	}
	batches, err := sampler.Batches(0)
	if err != nil {
		return nil, err
	}
	train0 := m.Train
	m.Train = false
	defer func() { m.Train = train0 }()
	loader := task.Load(ctx, "val", batches, 0, 0, 0)
	defer loader.Close()
	hits, loss, n := 0.0, 0.0, 0
	for range batches {
		b, err := loader.Next()
		if err != nil {
			return nil, err
		}
		vb := b.(*vcrBatch)
		out, err := m.ForwardVCR(&vb.m)
		if err != nil {
			return nil, err
		}
		hits += vcrHits(out.Logits, vb.m.AnsLabel)
		loss += float64(out.AnsLoss) * float64(vb.b)
		n += vb.b
	}
	if n == 0 {
		return nil, fmt.Errorf("vcr: empty val split")
	}
	return map[string]float64{"Acc": hits / float64(n), "AnsLoss": loss / float64(n)}, nil
}
