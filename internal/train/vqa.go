package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
)

// vqaTask is ResNetVLBERT on VQA v2: BCE·A loss on soft targets, metric
// SoftAcc = Σ target[argmax] / N, host metric SoftAcc.
type vqaTask struct {
	shard
	cfg   *config.Config
	fs    *zipfs.FS
	sets  map[string]*vqa.Dataset
	preds []vqaPrediction
	// groups are the train split's aspect groups (TRAIN.ASPECT_GROUPING).
	groups []int
	e2e    bool // IMAGE_FEAT_PRECOMPUTED false: the ResNet computes the box features
}

// vqaBatch is a collated VQA batch in both layouts: the data package's and
// the model's.
type vqaBatch struct {
	d      *data.VQABatch
	m      model.VQABatch
	images []*visual.Prepared // e2e mode
}

// e2e gives the CNN the batch's images and boxes (e2e mode).
func (b *vqaBatch) e2e() (*e2eInput, *model.Boxes) { return &e2eInput{images: b.images}, &b.m.Boxes }

// vqaExample is a data set example and, in e2e mode, its image.
type vqaExample struct {
	ex  *data.VQAExample
	img *visual.Prepared
}

func (b *vqaBatch) Size() int { return b.d.B }

type vqaPrediction struct {
	QuestionID int64  `json:"question_id"`
	Answer     string `json:"answer"`
}

func newVQATask(cfg *config.Config, fs *zipfs.FS, rd features.Reader, splits []string) (*vqaTask, error) {
	tok, err := Tokenizer(cfg)
	if err != nil {
		return nil, err
	}
	t := &vqaTask{cfg: cfg, fs: fs, sets: map[string]*vqa.Dataset{}, e2e: isE2E(cfg)}
	for _, s := range splits {
		d, err := vqa.FromConfig(cfg, s, tok, rd)
		if err != nil {
			return nil, err
		}
		if d.Vocab != nil && d.Vocab.Len() != cfg.Dataset().AnswerVocabSize {
			return nil, fmt.Errorf("train: the answer vocabulary has %d answers, DATASET.ANSWER_VOCAB_SIZE is %d", d.Vocab.Len(), cfg.Dataset().AnswerVocabSize)
		}
		t.sets[s] = d
		if aspectGrouping(cfg, s) {
			// Sizes come from the COCO image info; any it lacks are read
			// from the feature files, once each.
			if err := d.FillImageSizes(); err != nil {
				return nil, err
			}
			t.groups = d.GroupIDs()
		}
	}
	return t, nil
}

func (t *vqaTask) HostMetric() string { return "SoftAcc" }

func (t *vqaTask) MetricNames() []string {
	return lossLoggerNames([]string{"SoftAcc"}, lossLoggers(t.cfg))
}

func (t *vqaTask) Sampler(split string) (*data.Sampler, error) {
	d, ok := t.sets[split]
	if !ok {
		return nil, fmt.Errorf("train: the vqa task was built without the %s split", split)
	}
	s := t.sampler(t.cfg, split, d.Len(), 0)
	if aspectGrouping(t.cfg, split) {
		s.Groups = t.groups
	}
	return s, nil
}

func (t *vqaTask) Load(ctx context.Context, split string, batches [][]int, epoch, first, global int) *data.Prefetcher[Batch] {
	d := t.sets[split]
	return data.LoadBatches(ctx, batches, epoch, first, uint64(t.cfg.RNGSeed), workers(t.cfg), 2*workers(t.cfg),
		func(i int, rng *rand.Rand) (*vqaExample, error) {
			ex, err := d.Example(i, rng)
			if err != nil || !t.e2e {
				return &vqaExample{ex: ex}, err
			}
			// The image, resized and flipped as the boxes were (vqa/data/datasets/vqa.py, __getitem__).
			w0, h0 := d.Entries[i].Width, d.Entries[i].Height
			if w0 <= 0 || h0 <= 0 { // sizes absent from the annotation: the resize's inverse
				w0, h0 = int(math.Round(float64(ex.ImInfo[0]/ex.ImInfo[2]))), int(math.Round(float64(ex.ImInfo[1]/ex.ImInfo[3])))
			}
			img, err := loadImage(t.fs, ex.ImagePath, w0, h0, ex.ImInfo[:], ex.Flipped, t.cfg.Scales, false)
			if err != nil {
				return nil, fmt.Errorf("train: vqa question %d: %w", ex.QuestionID, err)
			}
			return &vqaExample{ex: ex, img: img}, nil
		},
		func(exs []*vqaExample) (Batch, error) {
			plain := make([]*data.VQAExample, len(exs))
			for i, e := range exs {
				plain[i] = e.ex
			}
			b, err := data.CollateVQA(plain)
			if err != nil {
				return nil, err
			}
			vb := newVQABatch(b)
			if t.e2e {
				vb.toE2E(exs, boxStride(t.cfg))
			}
			return vb, nil
		})
}

// toE2E widens the batch's [B, R, 4] boxes to the model's [B, R, stride]
// rows (stride 4+IMAGE_FEAT_DIM), whose feature columns the CNN fills, and
// attaches the images.
func (b *vqaBatch) toE2E(exs []*vqaExample, stride int) {
	d := b.d
	wide := make([]float32, d.B*d.R*stride)
	for r := 0; r < d.B*d.R; r++ {
		copy(wide[r*stride:r*stride+4], d.Boxes[r*d.BoxDim:r*d.BoxDim+4])
	}
	b.m.Boxes.Data = wide
	b.images = make([]*visual.Prepared, len(exs))
	for i, e := range exs {
		b.images[i] = e.img
	}
}

func newVQABatch(b *data.VQABatch) *vqaBatch {
	return &vqaBatch{d: b, m: model.VQABatch{
		Boxes: model.Boxes{B: b.B, NB: b.R, Data: b.Boxes, ImInfo: b.ImInfo, InfoW: 4},
		LQ:    b.Q, Question: toInt32(b.Question), Label: b.Label,
	}}
}

func (t *vqaTask) Forward(mod model.Module, b Batch, mt *Metrics) (float32, map[string]float32, error) {
	vb, m := b.(*vqaBatch), mod.(*model.VQA)
	out, err := m.Forward(&vb.m)
	if err != nil {
		return 0, nil, err
	}
	A := m.Cfg.AnswerVocabSize
	for i := 0; i < vb.d.B; i++ {
		k := argmax(out.Logits[i*A : (i+1)*A])
		mt.Add("SoftAcc", float64(vb.d.Label[i*A+k]), 1)
	}
	return out.Loss, map[string]float32{"ans_loss": out.Loss}, nil
}

func (t *vqaTask) Backward(m model.Module, dloss float32) { m.(*model.VQA).Backward(dloss) }

func (t *vqaTask) Predict(mod model.Module, b Batch) error {
	vb, m := b.(*vqaBatch), mod.(*model.VQA)
	in := vb.m
	in.Label = nil
	out, err := m.Forward(&in)
	if err != nil {
		return err
	}
	vocab := t.sets["test"].Vocab
	A := m.Cfg.AnswerVocabSize
	for i := 0; i < vb.d.B; i++ {
		k := argmax(out.Logits[i*A : (i+1)*A])
		t.preds = append(t.preds, vqaPrediction{QuestionID: vb.d.QuestionIDs[i], Answer: vocab.Answers[k]})
	}
	return nil
}

// WriteResults writes {dir}/{name}_vqa2_{split}.json, the EvalAI format.
func (t *vqaTask) WriteResults(dir, name, split string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s_vqa2_%s.json", name, split))
	preds := t.preds
	if preds == nil {
		preds = []vqaPrediction{}
	}
	err := atomicfile.WriteFile(path, func(w io.Writer) error { return json.NewEncoder(w).Encode(preds) })
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return []string{path}, nil
}

func (t *vqaTask) Close() error { return t.fs.Close() }

func toInt32(s []int64) []int32 {
	out := make([]int32, len(s))
	for i, v := range s {
		out[i] = int32(v)
	}
	return out
}

func lossLoggers(cfg *config.Config) []lossLogger {
	var out []lossLogger
	for _, l := range cfg.Train.LossLoggers {
		out = append(out, lossLogger{l.Output, l.Display})
	}
	return out
}

// initModel sets final_mlp.2.weight to the mean word embedding of each
// answer's wordpieces when NETWORK.CLASSIFIER_PRETRAINED (after the partial
// load, as the original).
func (t *vqaTask) initModel(m model.Module) error {
	if !t.cfg.Network.ClassifierPretrained {
		return nil
	}
	d := t.sets["train"]
	if d == nil || d.Vocab == nil {
		return nil
	}
	answers := make([][]int, d.Vocab.Len())
	for i, a := range d.Vocab.Answers {
		ids, err := d.Tok.ConvertTokensToIDs(d.Tok.Tokenize(a))
		if err != nil {
			return fmt.Errorf("train: answer %q: %w", a, err)
		}
		answers[i] = ids
	}
	return m.(*model.VQA).InitClassifierFromAnswers(answers)
}
