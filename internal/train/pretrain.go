package train

import (
	"context"
	"fmt"
	"math"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/cc"
	"github.com/vlbert/vlbert/internal/data/corpus"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
)

// pretrainTask is ResNetVLBERTForPretraining(Multitask) on Conceptual
// Captions, with a cycled text-only corpus loader in multitask mode
// (MultiTaskDataLoader: the caption loader sets the epoch length, the text
// loader restarts when exhausted). Metrics: MLMAccWVC (MLMAcc single-task),
// MLMAccAUX, MVRCAccuracy, RelAccuracy with WITH_REL_LOSS, then the loss
// loggers. Host metric: the caption MLM accuracy.
type pretrainTask struct {
	shard
	cfg       *config.Config
	multitask bool
	fs        *zipfs.FS
	caps      map[string]*cc.Dataset
	texts     map[string]*corpus.Dataset
	capIndex  int // DATASET entry of the captions (BATCH_IMAGES index)
	// groups are the train captions' aspect groups (TRAIN.ASPECT_GROUPING;
	// the text-only loader is never grouped).
	groups    []int
	textIndex int
	mlmName   string
}

// pretrainBatch holds the caption batch and, in multitask mode, the text-only
// rows.
type pretrainBatch struct {
	d   *data.PretrainBatch
	aux *data.TextBatch
	m   model.PretrainBatch
	// images are the e2e batch's images (nil with precomputed features).
	images []*visual.Prepared
}

func (b *pretrainBatch) Size() int { return b.d.B }

// auxSalt separates the text-only loader's sample RNG from the captions'.
const auxSalt = 0xa0c5_1eed_7e47_0001

func newPretrainTask(cfg *config.Config, multitask bool, fs *zipfs.FS, rd features.Reader, splits []string) (*pretrainTask, error) {
	tok, err := Tokenizer(cfg)
	if err != nil {
		return nil, err
	}
	t := &pretrainTask{cfg: cfg, multitask: multitask, fs: fs, caps: map[string]*cc.Dataset{}, texts: map[string]*corpus.Dataset{},
		capIndex: -1, textIndex: -1, mlmName: "MLMAcc"}
	if multitask {
		t.mlmName = "MLMAccWVC"
	}
	if cfg.Module == "ResNetVLBERTForAttentionVis" {
		return nil, fmt.Errorf("train: MODULE ResNetVLBERTForAttentionVis is forward only (pretrain/vis_attention_maps.py); run vlbert visualize --cfg CFG --ckpt C [--out DIR]")
	}
	for k := range cfg.Datasets {
		switch cfg.Datasets[k].Dataset {
		case "conceptual_captions":
			t.capIndex = k
		case "general_corpus":
			t.textIndex = k
		default:
			return nil, fmt.Errorf("train: pretraining dataset %q is not supported (conceptual_captions, general_corpus)", cfg.Datasets[k].Dataset)
		}
	}
	if t.capIndex < 0 {
		return nil, fmt.Errorf("train: the pretraining config has no conceptual_captions DATASET")
	}
	if multitask && t.textIndex < 0 {
		return nil, fmt.Errorf("train: MODULE %s needs a general_corpus DATASET", cfg.Module)
	}
	for _, s := range splits {
		if s == "test" {
			return nil, fmt.Errorf("train: pretraining has no test split")
		}
		d, err := cc.FromConfig(cfg, &cfg.Datasets[t.capIndex], s, tok, rd)
		if err != nil {
			return nil, err
		}
		t.caps[s] = d
		if aspectGrouping(cfg, s) {
			if t.groups, err = d.GroupIDs(workers(cfg)); err != nil {
				return nil, err
			}
		}
		if multitask {
			ds := &cfg.Datasets[t.textIndex]
			if s == "val" && ds.ValAnnotationFile == "" {
				continue // no text-only rows in validation
			}
			td, err := corpus.FromConfig(ds, s, tok)
			if err != nil {
				t.Close()
				return nil, err
			}
			t.texts[s] = td
		}
	}
	return t, nil
}

func (t *pretrainTask) HostMetric() string { return t.mlmName }

func (t *pretrainTask) MetricNames() []string {
	names := []string{t.mlmName}
	if t.multitask {
		names = append(names, "MLMAccAUX")
	}
	names = append(names, "MVRCAccuracy")
	if t.cfg.Network.WithRelLoss {
		names = append(names, "RelAccuracy")
	}
	return lossLoggerNames(names, lossLoggers(t.cfg))
}

func (t *pretrainTask) Sampler(split string) (*data.Sampler, error) {
	d, ok := t.caps[split]
	if !ok {
		return nil, fmt.Errorf("train: the pretraining task was built without the %s split", split)
	}
	s := t.sampler(t.cfg, split, d.Len(), t.capIndex)
	if aspectGrouping(t.cfg, split) {
		s.Groups = t.groups
	}
	return s, nil
}

func (t *pretrainTask) Load(ctx context.Context, split string, batches [][]int, epoch, first, global int) *data.Prefetcher[Batch] {
	caps, text := t.caps[split], t.texts[split]
	seed := uint64(t.cfg.RNGSeed)
	var auxSampler *data.Sampler
	if text != nil {
		auxSampler = t.sampler(t.cfg, split, text.Len(), t.textIndex)
		auxSampler.Seed ^= auxSalt
	}
	n := workers(t.cfg)
	return data.Prefetch(ctx, len(batches), n, 2*n, func(ctx context.Context, k int) (Batch, error) {
		rng := data.BatchRNG(seed, epoch, first+k)
		exs := make([]*data.PretrainExample, 0, len(batches[k]))
		masked := make([][]float32, 0, len(batches[k]))
		for _, i := range batches[k] {
			e, m, err := caps.ExampleMasked(i, rng)
			if err != nil {
				return nil, err
			}
			exs, masked = append(exs, e), append(masked, m)
		}
		var images []*visual.Prepared
		if isE2E(t.cfg) {
			var err error
			if images, err = t.e2eImages(exs, masked); err != nil {
				return nil, err
			}
		}
		b, err := data.CollatePretrain(exs)
		if err != nil {
			return nil, err
		}
		var aux *data.TextBatch
		if auxSampler != nil {
			if aux, err = t.loadAux(ctx, text, auxSampler, global+k); err != nil {
				return nil, err
			}
		}
		pb := newPretrainBatch(b, aux)
		if images != nil {
			pb.widenBoxes(boxStride(t.cfg))
			pb.images = images
		}
		return pb, nil
	})
}

// e2eImages loads the images of a caption batch as the original e2e
// dataset: resized and flipped with the boxes, an unreadable image replaced
// by the mean colour, and the pixels of every masked region (MVRC op 1) set
// to the mean colour when MASK_RAW_PIXELS (after normalisation, so the
// whole-image box sees the masked image too). masked[k] holds example k's
// masked boxes [n, 4] from before the SEQ_LEN truncation
// (cc.Dataset.ExampleMasked): the original blanks a masked box even when
// truncation then drops it.
func (t *pretrainTask) e2eImages(exs []*data.PretrainExample, masked [][]float32) ([]*visual.Prepared, error) {
	images := make([]*visual.Prepared, len(exs))
	for k, e := range exs {
		if len(e.ImInfo) < 4 || !(e.ImInfo[2] > 0) || !(e.ImInfo[3] > 0) {
			return nil, fmt.Errorf("train: caption %d: im_info %v", e.Index, e.ImInfo)
		}
		w0 := int(math.Round(float64(e.ImInfo[0] / e.ImInfo[2])))
		h0 := int(math.Round(float64(e.ImInfo[1] / e.ImInfo[3])))
		img, err := readImage(t.fs, e.ImagePath)
		var p *visual.Prepared
		if err != nil { // the original's zero image of the JSON's size
			p, err = loadImage(t.fs, e.ImagePath, w0, h0, e.ImInfo, e.Flipped, t.cfg.Scales, true)
		} else {
			p, err = prepareImage(img, e.ImagePath, e.ImInfo, e.Flipped, t.cfg.Scales)
		}
		if err != nil {
			return nil, fmt.Errorf("train: caption %d: %w", e.Index, err)
		}
		if t.cfg.Network.MaskRawPixels {
			for r := 0; r+4 <= len(masked[k]); r += 4 {
				visual.MaskPixels(p.Image, p.H, p.W, masked[k][r:r+4])
			}
		}
		images[k] = p
	}
	return images, nil
}

// widenBoxes gives the e2e batch's box rows (4 coordinates) the feature
// columns the CNN fills (stride 4+IMAGE_FEAT_DIM).
func (b *pretrainBatch) widenBoxes(stride int) {
	d := b.d
	rows := d.B * d.R
	out := make([]float32, rows*stride)
	for r := 0; r < rows; r++ {
		copy(out[r*stride:r*stride+4], d.Boxes[r*d.BoxDim:r*d.BoxDim+4])
	}
	b.m.Boxes.Data = out
}

func (b *pretrainBatch) e2e() (*e2eInput, *model.Boxes) {
	return &e2eInput{images: b.images}, &b.m.Boxes
}

// loadAux builds the text-only batch that goes with the caption batch number
// global of the run.
func (t *pretrainTask) loadAux(ctx context.Context, text *corpus.Dataset, s *data.Sampler, global int) (*data.TextBatch, error) {
	nb, err := s.NumBatches(0)
	if err != nil {
		return nil, err
	}
	if nb == 0 {
		return nil, fmt.Errorf("train: the text-only corpus is empty")
	}
	pos := data.AuxPosition(global, nb)
	batches, err := s.Remaining(pos)
	if err != nil {
		return nil, err
	}
	rng := data.BatchRNG(s.Seed, pos.Epoch, pos.Batch)
	exs := make([]*data.TextExample, 0, len(batches[0]))
	for _, i := range batches[0] {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := text.Example(i, rng)
		if err != nil {
			return nil, err
		}
		exs = append(exs, e)
	}
	return data.CollateText(exs)
}

func newPretrainBatch(b *data.PretrainBatch, aux *data.TextBatch) *pretrainBatch {
	pb := &pretrainBatch{d: b, aux: aux, m: model.PretrainBatch{
		Boxes: model.Boxes{B: b.B, NB: b.R, Data: b.Boxes, ImInfo: b.ImInfo, InfoW: b.I},
		LT:    b.T, Text: toInt32(b.Text), RelLabel: toInt32(b.RelationshipLabel),
		MLMLabels: toInt32(b.MLMLabels), MVRCOps: toInt32(b.MVRCOps), MVRCLabels: b.MVRCLabels,
	}}
	if aux != nil {
		pb.m.BA, pb.m.LA = aux.B, aux.T
		pb.m.AuxText, pb.m.AuxMLMLabels = toInt32(aux.Text), toInt32(aux.MLMLabels)
	}
	return pb
}

func (t *pretrainTask) Forward(mod model.Module, b Batch, mt *Metrics) (float32, map[string]float32, error) {
	pb, m := b.(*pretrainBatch), pretrainOf(mod)
	if pb.d.C != m.Cfg.RegionClasses && m.Cfg.WithMVRCLoss {
		return 0, nil, fmt.Errorf("train: MVRC labels have %d classes, NETWORK.VLBERT.visual_region_classes is %d", pb.d.C, m.Cfg.RegionClasses)
	}
	out, err := m.Forward(&pb.m)
	if err != nil {
		return 0, nil, err
	}
	B, W, R := pb.d.B, m.Cfg.VocabSize, m.Cfg.RegionClasses
	if m.Cfg.WithMLMLoss {
		nW := out.MLMRowsWVC
		mlmAccuracy(mt, t.mlmName, out.MLMRowLogits[:nW*W], out.MLMRowLabels[:nW], W)
		if pb.aux != nil {
			mlmAccuracy(mt, "MLMAccAUX", out.MLMRowLogits[nW*W:], out.MLMRowLabels[nW:], W)
		}
	}
	if out.MVRCLogits != nil {
		for r := 0; r < B*pb.d.R; r++ {
			lab := pb.m.MVRCLabels[r*R : (r+1)*R]
			sum := float32(0)
			for _, v := range lab {
				sum += v
			}
			if sum-1 > -0.1 && sum-1 < 0.1 {
				hit := 0.0
				if argmax(out.MVRCLogits[r*R:(r+1)*R]) == argmax(lab) {
					hit = 1
				}
				mt.Add("MVRCAccuracy", hit, 1)
			}
		}
	}
	if out.RelLogits != nil {
		for i := 0; i < B; i++ {
			hit := 0.0
			if int32(argmax(out.RelLogits[2*i:2*i+2])) == pb.m.RelLabel[i] {
				hit = 1
			}
			mt.Add("RelAccuracy", hit, 1)
		}
	}
	outputs := map[string]float32{"relationship_loss": out.RelLoss, "mlm_loss": out.MLMLoss, "mvrc_loss": out.MVRCLoss}
	if t.multitask {
		outputs["mlm_loss_wvc"], outputs["mlm_loss_aux"] = out.MLMLoss, out.MLMAuxLoss
		delete(outputs, "mlm_loss")
	}
	return out.Total, outputs, nil
}

// mlmAccuracy adds argmax hits over predicted tokens: rows of W scores and their
// labels.
func mlmAccuracy(mt *Metrics, name string, logits []float32, labels []int32, W int) {
	hits := 0
	for i, l := range labels {
		if int32(argmax(logits[i*W:(i+1)*W])) == l {
			hits++
		}
	}
	if len(labels) > 0 {
		mt.Add(name, float64(hits), float64(len(labels)))
	}
}

func (t *pretrainTask) Backward(m model.Module, dloss float32) { pretrainOf(m).Backward(dloss) }

// pretrainOf is m as a pretraining module: the task and its model are built
// from one config.
func pretrainOf(m model.Module) *model.Pretrain {
	p, _ := model.AsPretrain(m)
	return p
}

func (t *pretrainTask) Close() error {
	for _, d := range t.texts {
		d.Corpus.Close()
	}
	return t.fs.Close()
}
