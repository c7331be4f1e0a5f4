package dettrain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/logging"
	"github.com/vlbert/vlbert/internal/weights"
)

// Options are the command-line controls of a run.
type Options struct {
	Resume    bool      // continue from {prefix}-latest.safetensors (must exist)
	StopAfter int       // stop (with a checkpoint) after this many iterations of the run; 0: MAX_ITER
	Log       io.Writer // progress lines (nil: none)
	Terminal  bool      // draw a progress bar
}

// Result summarises a run.
type Result struct {
	OutDir  string
	Iter    int         // iterations done in total
	Final   string      // the exported detector ({prefix}-final.safetensors), when MAX_ITER was reached
	Eval    *EvalResult // held-out detection quality, when MAX_ITER was reached
	Seconds float64
	Last    Losses // mean losses of the last logging window
}

// checkpoint metadata
const (
	metaFormat  = "format"
	formatTrain = "vlbert-detector-train-v1"
	metaState   = "trainer_state"
	momPrefix   = "momentum/"
)

// trainerState is what a checkpoint needs besides tensors to resume exactly.
type trainerState struct {
	Iter           int             `json:"iter"`
	Config         importer.Config `json:"detector_config"`
	ClassNames     []string        `json:"class_names"`
	AttributeNames []string        `json:"attribute_names"`
	Seed           uint64          `json:"seed"`
}

// Run trains the detector of cfg (read from cfgPath) end to end on
// DATASET.TRAIN_ANNOTATIONS for SOLVER.MAX_ITER iterations of one image
// each (IMS_PER_BATCH 1), writing under OutputDir: {prefix}-latest.safetensors
// every CHECKPOINT_FREQUENT iterations and on interruption (weights,
// momentum, trainer state), metrics.jsonl and tensorboard_logs/ every
// LOG_FREQUENT iterations, and at the end {prefix}-final.safetensors (the
// inference weights, vlbert's detector format, bbox_pred unnormalised),
// objects_vocab.txt / attributes_vocab.txt and eval.json (mAP@0.5 and
// recall@0.5 on DATASET.VAL_ANNOTATIONS).
//
// It has its own small loop rather than internal/train's: that loop's Task
// and Module interfaces are VL-BERT's (text batches, one optimiser over an
// encoder arena, epochs of a sampler); the detector trains one image per
// iteration with Caffe's SGD for a fixed iteration count.
func Run(ctx context.Context, cfg *Config, cfgPath string, o Options) (*Result, error) {
	start := time.Now()
	out := cfg.OutputDir(cfgPath)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("detector train: %w", err)
	}
	if b, err := os.ReadFile(cfgPath); err == nil { // a copy of the config beside its outputs
		if err := atomicfile.WriteFile(filepath.Join(out, filepath.Base(cfgPath)), func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
			return nil, err
		}
	}
	train, err := LoadDataSet(cfg.Dataset.TrainAnnotations, cfg.Dataset.ImageRoot)
	if err != nil {
		return nil, err
	}
	if len(train.Examples) == 0 {
		return nil, fmt.Errorf("detector train: %s has no images", cfg.Dataset.TrainAnnotations)
	}
	netCfg := cfg.NetConfig(len(train.ClassNames), len(train.AttributeNames))
	if err := netCfg.Check(); err != nil {
		return nil, fmt.Errorf("detector train: %s: %w", cfgPath, err)
	}
	w, err := cfg.initialWeights(netCfg)
	if err != nil {
		return nil, err
	}
	net, err := NewNet(netCfg, w, cfg.Network.Frozen, "initial weights")
	if err != nil {
		return nil, err
	}
	opt := newSGD(cfg.Solver, len(net.Data))
	latest := filepath.Join(out, cfg.ModelPrefix+"-latest.safetensors")
	iter := 0
	if o.Resume {
		if iter, err = loadCheckpoint(latest, net, opt, cfg); err != nil {
			return nil, err
		}
	}
	mw, err := logging.OpenMetrics(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	defer mw.Close()
	ev, err := logging.NewEventWriter(logging.TensorBoardDir(filepath.Join(out, "tensorboard_logs"), -1))
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	state := trainerState{Config: netCfg, ClassNames: train.ClassNames, AttributeNames: train.AttributeNames, Seed: cfg.RNGSeed}
	save := func() error {
		state.Iter = iter
		return saveCheckpoint(latest, net, opt, state)
	}

	// The roidb: every image, and its mirror with USE_FLIPPED.
	views := len(train.Examples)
	if cfg.Train.UseFlipped {
		views *= 2
	}
	var prog *logging.Progress
	if o.Log != nil {
		prog = logging.NewProgress(o.Log, o.Terminal, cfg.LogFrequent, 1, views, (cfg.Solver.MaxIter+views-1)/views)
	}
	var window Losses
	var windowN int
	var p pass
	stop := cfg.Solver.MaxIter
	if o.StopAfter > 0 {
		stop = min(stop, iter+o.StopAfter)
	}
	res := &Result{OutDir: out}
	for ; iter < stop; iter++ {
		if ctx.Err() != nil {
			if err := save(); err != nil {
				return nil, err
			}
			res.Iter = iter
			return res, ctx.Err()
		}
		t0 := time.Now()
		epoch, pos := iter/views, iter%views
		order := rand.New(rand.NewPCG(cfg.RNGSeed, uint64(epoch))).Perm(views)
		view := order[pos]
		rng := rand.New(rand.NewPCG(cfg.RNGSeed^0x5ca1ab1e, uint64(iter)))
		scale := cfg.Train.Scales[rng.IntN(len(cfg.Train.Scales))]
		pre, gts, err := prepare(train.Examples[view%len(train.Examples)], scale, cfg.Train.MaxSize, view >= len(train.Examples))
		if err != nil {
			return nil, err
		}
		tData := time.Since(t0)
		net.ZeroGrad()
		net.forwardRPN(&p, pre.Data, pre.H, pre.W)
		tg := net.sampleTargets(rng, &cfg.Train, &p, gts, pre.Scale)
		l := net.lossAndBackward(&cfg.Train, &p, &tg, true)
		tFB := time.Since(t0) - tData
		if !isFinite(l.Total) {
			return nil, fmt.Errorf("detector train: iteration %d: loss is %v (%+v): diverged; lower SOLVER.BASE_LR or raise SOLVER.WARMUP (the last checkpoint, if any, is %s)", iter, l.Total, l, latest)
		}
		opt.step(net, iter)
		window = addLosses(window, l)
		windowN++
		if prog != nil {
			prog.Batch(epoch, pos, logging.Phases{Data: tData, Forward: tFB, Optimizer: time.Since(t0) - tData - tFB}, lossMetrics(window, windowN))
		}
		if (iter+1)%max(cfg.LogFrequent, 1) == 0 || iter+1 == stop {
			res.Last = meanLosses(window, windowN)
			if err := logStep(mw, ev, iter+1, epoch, opt.lr(iter), res.Last); err != nil {
				return nil, err
			}
			window, windowN = Losses{}, 0
		}
		if cfg.CheckpointFrequent > 0 && (iter+1)%cfg.CheckpointFrequent == 0 {
			iter++
			if err := save(); err != nil {
				return nil, err
			}
			iter--
		}
	}
	if prog != nil {
		prog.Done()
	}
	res.Iter = iter
	if err := save(); err != nil {
		return nil, err
	}
	if iter < cfg.Solver.MaxIter {
		res.Seconds = time.Since(start).Seconds()
		return res, nil
	}
	final := Unnormalize(net.Weights(), netCfg.NumClasses, cfg.Train.BboxNormalizeMeans, cfg.Train.BboxNormalizeStds)
	res.Final = filepath.Join(out, cfg.ModelPrefix+"-final.safetensors")
	if err := importer.WriteVlbert(res.Final, &importer.Result{Format: importer.FormatVlbert, Weights: final, Config: netCfg, Flags: cfg.ExportFlags()}); err != nil {
		return nil, err
	}
	if err := writeVocab(filepath.Join(out, "objects_vocab.txt"), train.ClassNames[1:]); err != nil {
		return nil, err
	}
	if err := writeVocab(filepath.Join(out, "attributes_vocab.txt"), train.AttributeNames[1:]); err != nil {
		return nil, err
	}
	if cfg.Dataset.ValAnnotations != "" {
		val, err := LoadDataSet(cfg.Dataset.ValAnnotations, cfg.Dataset.ImageRoot)
		if err != nil {
			return nil, err
		}
		det, err := NewDetector(netCfg, final, cfg.Test)
		if err != nil {
			return nil, err
		}
		er, err := Evaluate(det, val)
		if err != nil {
			return nil, err
		}
		res.Eval = &er
		b, _ := json.MarshalIndent(er, "", "  ")
		if err := atomicfile.WriteFile(filepath.Join(out, "eval.json"), func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
			return nil, err
		}
		vals := map[string]float64{"Val-mAP50": er.MAP50, "Val-Recall50": er.Recall50}
		if err := mw.Write(logging.Record{Step: int64(iter), Epoch: iter / views, Time: nowSeconds(), Metrics: vals}); err != nil {
			return nil, err
		}
		if err := ev.AddScalars(int64(iter), logging.Scalar{Tag: "Val-mAP50", Value: float32(er.MAP50)}, logging.Scalar{Tag: "Val-Recall50", Value: float32(er.Recall50)}); err != nil {
			return nil, err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// ExportFlags are the exported detector's flags: the Caffe network's, with
// the TEST image size and proposal settings of this config, so that
// `vlbert detect` runs it as Evaluate does.
func (c *Config) ExportFlags() importer.Flags {
	f := importer.CaffeFlags()
	t := c.Test
	f.TestScale, f.TestMaxSize = t.Scales[0], t.MaxSize
	f.Proposals = &importer.ProposalParams{PreNMSTopK: t.RPNPreNMSTopN, PostNMSTopK: t.RPNPostNMSTopN, NMSThresh: t.RPNNMSThresh, MinSize: t.RPNMinSize}
	return f
}

// NetConfig is the importer.Config of the network config with the data's
// class and attribute counts.
func (c *Config) NetConfig(numClasses, numAttributes int) importer.Config {
	n := c.Network
	ic := importer.Default()
	ic.NumClasses, ic.NumAttributes = numClasses, numAttributes
	ic.StemWidth, ic.Expansion, ic.RPNWidth, ic.EmbedDim, ic.AttrHidden = n.StemWidth, n.Expansion, n.RPNWidth, n.EmbedDim, n.AttrHidden
	copy(ic.Blocks[:], n.Blocks)
	copy(ic.Bottleneck[:], n.Bottleneck)
	ic.PooledSize, ic.FeatStride, ic.AnchorBase = n.PooledSize, n.FeatStride, n.AnchorBase
	ic.AnchorScales, ic.AnchorRatios = n.AnchorScales, n.AnchorRatios
	return ic
}

func (c *Config) initialWeights(netCfg importer.Config) (importer.Weights, error) {
	if c.Network.Pretrain == "" {
		return InitWeights(netCfg, c.RNGSeed, c.Network.InitStd, 0.5), nil
	}
	r, err := importer.Load(c.Network.Pretrain)
	if err != nil {
		return nil, err
	}
	if err := netCfg.Validate(c.Network.Pretrain, r.Weights); err != nil {
		return nil, err
	}
	return normalize(r.Weights, netCfg.NumClasses, c.Train.BboxNormalizeMeans, c.Train.BboxNormalizeStds), nil
}

func saveCheckpoint(path string, n *Net, o *sgd, st trainerState) error {
	ts := map[string]*weights.Tensor{}
	off := 0
	for _, p := range n.Params {
		ts[p.Name] = weights.NewF32(p.Data, p.Shape...)
		if p.Trainable {
			ts[momPrefix+p.Name] = weights.NewF32(o.momentum[off:off+len(p.Data)], p.Shape...)
		}
		off += len(p.Data)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return weights.WriteSafetensors(path, ts, map[string]string{metaFormat: formatTrain, metaState: string(b)})
}

// loadCheckpoint restores weights, momentum and the iteration.
func loadCheckpoint(path string, n *Net, o *sgd, cfg *Config) (int, error) {
	ts, meta, err := weights.ReadSafetensors(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("detector train: --resume: no checkpoint %s", path)
		}
		return 0, fmt.Errorf("detector train: %w", err)
	}
	if meta[metaFormat] != formatTrain {
		return 0, fmt.Errorf("detector train: %s is not a detector training checkpoint (format %q, want %q)", path, meta[metaFormat], formatTrain)
	}
	var st trainerState
	if err := json.Unmarshal([]byte(meta[metaState]), &st); err != nil {
		return 0, fmt.Errorf("detector train: %s: %s: %w", path, metaState, err)
	}
	if st.Seed != cfg.RNGSeed {
		return 0, fmt.Errorf("detector train: %s was trained with RNG_SEED %d, the config has %d", path, st.Seed, cfg.RNGSeed)
	}
	off := 0
	for _, p := range n.Params {
		t := ts[p.Name]
		if t == nil || len(t.F32) != len(p.Data) {
			return 0, fmt.Errorf("detector train: %s: tensor %s missing or of the wrong size (the config's network differs)", path, p.Name)
		}
		copy(p.Data, t.F32)
		if p.Trainable {
			m := ts[momPrefix+p.Name]
			if m == nil || len(m.F32) != len(p.Data) {
				return 0, fmt.Errorf("detector train: %s: %s%s missing (was a layer frozen then?)", path, momPrefix, p.Name)
			}
			copy(o.momentum[off:off+len(p.Data)], m.F32)
		}
		off += len(p.Data)
	}
	return st.Iter, nil
}

func writeVocab(path string, names []string) error {
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		_, err := io.WriteString(w, strings.Join(names, "\n")+"\n")
		return err
	})
}

func addLosses(a, b Losses) Losses {
	return Losses{RPNCls: a.RPNCls + b.RPNCls, RPNBox: a.RPNBox + b.RPNBox, Cls: a.Cls + b.Cls, Box: a.Box + b.Box,
		Attr: a.Attr + b.Attr, Total: a.Total + b.Total, RPNFg: a.RPNFg + b.RPNFg, RoIFg: a.RoIFg + b.RoIFg}
}

func meanLosses(a Losses, n int) Losses {
	f := 1 / float32(max(n, 1))
	return Losses{RPNCls: a.RPNCls * f, RPNBox: a.RPNBox * f, Cls: a.Cls * f, Box: a.Box * f, Attr: a.Attr * f, Total: a.Total * f,
		RPNFg: a.RPNFg / max(n, 1), RoIFg: a.RoIFg / max(n, 1)}
}

// lossMetrics names the losses as the prototxt's loss tops.
func lossMetrics(a Losses, n int) []logging.Metric {
	m := meanLosses(a, n)
	return []logging.Metric{{Name: "Loss", Value: float64(m.Total)}, {Name: "rpn_cls_loss", Value: float64(m.RPNCls)},
		{Name: "rpn_loss_bbox", Value: float64(m.RPNBox)}, {Name: "loss_cls", Value: float64(m.Cls)},
		{Name: "loss_bbox", Value: float64(m.Box)}, {Name: "loss_attrs", Value: float64(m.Attr)}}
}

func logStep(mw *logging.MetricsWriter, ev *logging.EventWriter, step, epoch int, lr float64, l Losses) error {
	ms := lossMetrics(l, 1)
	vals := map[string]float64{"LR": lr}
	scalars := []logging.Scalar{{Tag: logging.LRTag(0), Value: float32(lr)}}
	for _, m := range ms {
		vals[logging.TrainTag(m.Name)] = m.Value
		scalars = append(scalars, logging.Scalar{Tag: logging.TrainTag(m.Name), Value: float32(m.Value)})
	}
	if err := mw.Write(logging.Record{Step: int64(step), Epoch: epoch, Time: nowSeconds(), Metrics: vals}); err != nil {
		return err
	}
	if err := ev.AddScalars(int64(step), scalars...); err != nil {
		return err
	}
	return ev.Flush()
}

func nowSeconds() float64 { return float64(time.Now().UnixNano()) / 1e9 }

func isFinite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
