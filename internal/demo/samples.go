package demo

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/vlbert/vlbert/internal/data/refcoco"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/report"
	"github.com/vlbert/vlbert/internal/train"
)

// Sample is one val scene shown in the report with the models' answers.
type Sample struct {
	SceneID  int64
	ImageURI string // the scene PNG as a data URI
	W, H     int
	Boxes    [][4]float32 // the detections (candidate boxes)

	Question, Answer, Predicted string
	Score, Accuracy             float64 // predicted answer's sigmoid score; its VQA accuracy against the ten answers

	Expression   string
	GTBox        [4]float32
	PredBox      int // index into Boxes; -1 if no expression
	GroundHit    bool
	GroundScores []float64
}

// attentionView is the attention heatmap of one VQA input.
type attentionView struct {
	Question  string
	Tokens    []string
	Layer     int
	HeatURI   string // L×L head-mean attention of the last layer, min-max scaled
	Cell      int
	L         int
	Blocks    [4]string // per-block heatmaps (report.BlockNames), last layer head-mean
	BlockDims [4][2]int
	Sample    int // index into samples
}

// report evaluates the samples and writes report.json and report.html.
func (r *runner) report(ctx context.Context) error {
	if err := r.samples(ctx); err != nil {
		return err
	}
	if err := r.detectorSamples(r.plan.Samples); err != nil {
		return err
	}
	if err := r.vqaByType(ctx); err != nil {
		return err
	}
	if err := r.oracle(ctx); err != nil {
		return err
	}
	// The page states the run's time; the report phase itself is short.
	r.rep.Seconds = time.Since(r.start).Seconds()
	r.rep.CPUSeconds = cpuSeconds() - r.cpu0
	if err := r.writeJSON(); err != nil {
		return err
	}
	return writeHTML(filepath.Join(r.out, "report.html"), r.rep)
}

// oracle fills the oracle row when it was not fine-tuned: the VQA model
// trained on detected regions, evaluated on the detector's features at the
// true boxes (the same val questions).
func (r *runner) oracle(ctx context.Context) error {
	if _, ok := r.runs[PhaseVQAOracle]; ok {
		r.rep.OracleMode = "VQA fine-tuned from the pre-trained weights on the detector's features at the true boxes (same steps and lr)"
		return nil
	}
	vqaRun, ok := r.runs[PhaseVQA]
	if !ok {
		return nil
	}
	j := r.plan.vqaJob(r.out, filepath.Join(r.data, oracleDir), "")
	j.name = PhaseVQAOracle + "_eval"
	cfg, _, err := j.config(r.out)
	if err != nil {
		return err
	}
	val, _, err := train.Evaluate(ctx, cfg, vqaRun.ckpt, "val", train.InferenceOptions{})
	if err != nil {
		return fmt.Errorf("oracle row: %w", err)
	}
	if v, ok := val["SoftAcc"]; ok {
		r.rep.VQAAccuracyOracle = ptr(v)
	}
	r.rep.OracleMode = "the VQA model trained on detected regions, evaluated on the detector's features at the true boxes"
	return nil
}

// samples runs the saved VQA and grounding checkpoints through the inference
// pipeline (the same code path as `vlbert vqa` / `vlbert ground`) on the first
// val scenes.
func (r *runner) samples(ctx context.Context) error {
	vqaRun, ok := r.runs[PhaseVQA]
	if !ok {
		return nil
	}
	vp, err := infer.Load(infer.Options{Checkpoint: vqaRun.ckpt})
	if err != nil {
		return fmt.Errorf("loading %s: %w", vqaRun.ckpt, err)
	}
	var gp *infer.Pipeline
	if gr, ok := r.runs[PhaseGround]; ok {
		if gp, err = infer.Load(infer.Options{Checkpoint: gr.ckpt}); err != nil {
			return fmt.Errorf("loading %s: %w", gr.ckpt, err)
		}
	}
	entries, err := valQuestions(r.data)
	if err != nil {
		return err
	}
	byImage := map[int64][]vqa.Entry{}
	var ids []int64
	for _, e := range entries {
		if _, ok := byImage[e.ImageID]; !ok {
			ids = append(ids, e.ImageID)
		}
		byImage[e.ImageID] = append(byImage[e.ImageID], e)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	refs, err := refcoco.ReadRefs(filepath.Join(r.data, synth.Layout.RefCOCO, "refs(unc).p"))
	if err != nil {
		return err
	}
	inst, err := refcoco.ReadInstances(filepath.Join(r.data, synth.Layout.RefCOCO, "instances.json"))
	if err != nil {
		return err
	}
	refsByImage := map[int64][]refcoco.Ref{}
	for _, ref := range refs {
		if ref.Split == "val" && len(ref.Sentences) > 0 {
			refsByImage[ref.ImageID] = append(refsByImage[ref.ImageID], ref)
		}
	}
	for k, id := range ids {
		if k >= r.plan.Samples {
			break
		}
		name := fmt.Sprintf("%d", id)
		js, err := os.ReadFile(filepath.Join(r.data, synth.Layout.Features, name+".json"))
		if err != nil {
			return err
		}
		regions, err := vp.ParseFeatures(name+".json", js)
		if err != nil {
			return err
		}
		png, err := os.ReadFile(filepath.Join(r.data, synth.Layout.Images, name+".png"))
		if err != nil {
			return err
		}
		s := Sample{SceneID: id, ImageURI: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png),
			W: regions.ImageW, H: regions.ImageH, PredBox: -1}
		for i := 0; i < regions.N(); i++ {
			s.Boxes = append(s.Boxes, [4]float32(regions.Boxes[4*i:4*i+4]))
		}
		// A question per scene, rotating through the question types.
		qs := byImage[id]
		q := qs[k%len(qs)]
		res, err := vp.VQA(ctx, q.Question, regions, 1)
		if err != nil {
			return fmt.Errorf("scene %d: %w", id, err)
		}
		s.Question, s.Answer = q.Question, q.MultipleChoiceAnswer
		if len(res.Answers) > 0 {
			s.Predicted, s.Score = res.Answers[0].Answer, res.Answers[0].Score
			s.Accuracy = vqa.Accuracy(s.Predicted, q.Answers)
		}
		if rs := refsByImage[id]; gp != nil && len(rs) > 0 {
			ref := rs[k%len(rs)]
			ann, _ := inst.Annotation(ref.AnnID)
			g := xyxy(ann.BBox)
			s.GTBox = [4]float32{float32(g[0]), float32(g[1]), float32(g[2]), float32(g[3])}
			s.Expression = ref.Sentences[0].Raw
			gres, err := gp.Ground(ctx, s.Expression, regions)
			if err != nil {
				return fmt.Errorf("scene %d: %w", id, err)
			}
			s.PredBox = gres.Best
			for _, b := range gres.Boxes {
				s.GroundScores = append(s.GroundScores, b.Score)
			}
			pb := s.Boxes[s.PredBox]
			s.GroundHit = refcoco.EvalIoU([4]float64{float64(pb[0]), float64(pb[1]), float64(pb[2]), float64(pb[3])}, g) >= 0.5
		}
		r.rep.samples = append(r.rep.samples, s)
		if k == 0 {
			att, err := vp.Attention(ctx, q.Question, regions)
			if err != nil {
				return fmt.Errorf("attention: %w", err)
			}
			if r.rep.attention, err = attentionOf(att, q.Question); err != nil {
				return err
			}
		}
	}
	return nil
}

// attentionOf renders the last layer's head-mean attention, whole and as the
// text/region blocks of report.Blocks (per-layer min-max scaled, as the
// original notebook).
func attentionOf(a *infer.Attention, question string) (*attentionView, error) {
	L, H := a.L, a.Heads
	last := a.Layers - 1
	mean := make([]float32, L*L)
	for h := 0; h < H; h++ {
		p := a.Probs[(last*H+h)*L*L : (last*H+h+1)*L*L]
		for i, v := range p {
			mean[i] += v / float32(H)
		}
	}
	lo, hi := mean[0], mean[0]
	for _, v := range mean {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi > lo {
		for i := range mean {
			mean[i] = (mean[i] - lo) / (hi - lo)
		}
	}
	cell := max(6, 360/L)
	uri, err := report.PNGDataURI(report.Heatmap(mean, L, L, cell))
	if err != nil {
		return nil, err
	}
	v := &attentionView{Question: question, Tokens: a.Tokens, Layer: last, HeatURI: uri, Cell: cell, L: L}
	blocks, shapes := report.Blocks(a.Probs, a.Layers, a.Heads, L, a.NumText, a.NumRegions)
	for k := range blocks {
		rows, cols := shapes[k][0], shapes[k][1]
		if rows == 0 || cols == 0 {
			continue
		}
		m := make([]float32, rows*cols)
		for h := 0; h < H; h++ {
			b := blocks[k][(last*H+h)*rows*cols : (last*H+h+1)*rows*cols]
			for i, x := range b {
				m[i] += x / float32(H)
			}
		}
		if v.Blocks[k], err = report.PNGDataURI(report.Heatmap(m, rows, cols, 14)); err != nil {
			return nil, err
		}
		v.BlockDims[k] = shapes[k]
	}
	return v, nil
}
