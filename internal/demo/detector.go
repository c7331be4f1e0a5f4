package demo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/detect"
	"github.com/vlbert/vlbert/internal/detect/dettrain"
	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/detect/output"
	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/visual"
)

// The detector's files under DIR/checkpoints: the exported weights (what
// `vlbert detect --weights` takes) with the vocabularies beside them, so
// that its boxes are labelled by name.
const (
	detectorCkpt  = "detector.safetensors"
	objectsVocab  = "objects_vocab.txt"
	attributeFile = "attributes_vocab.txt"
)

// oracleDir is the VQA data root whose region features are the trained
// detector's at the generator's true boxes (the oracle row): the world's VQA
// files with those features.
const oracleDir = "oracle"

// detectorConfig is configs/detector.yaml with the world's paths, the run's
// output directory and the plan's schedule.
func (p Plan) detectorConfig(out, data string) (*dettrain.Config, error) {
	raw, err := configFS.ReadFile("configs/detector.yaml")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cfg, err := dettrain.ParseConfig(raw, "detector.yaml")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	det := filepath.Join(data, synth.Layout.Detection)
	cfg.OutputPath = filepath.Join(out, "runs")
	cfg.Dataset = dettrain.Dataset{TrainAnnotations: filepath.Join(det, "instances_train.json"),
		ValAnnotations: filepath.Join(det, "instances_val.json"), ImageRoot: det}
	cfg.LogFrequent = 50
	d := p.Detector
	if d.MaxIter > 0 {
		cfg.Solver.MaxIter = d.MaxIter
		cfg.Solver.StepSize = d.StepSize
		cfg.Solver.Warmup = d.Warmup
		cfg.CheckpointFrequent = d.MaxIter
	}
	if d.Scale > 0 {
		cfg.Train.Scales, cfg.Test.Scales = []int{d.Scale}, []int{d.Scale}
		cfg.Train.MaxSize, cfg.Test.MaxSize = d.Scale, d.Scale
	}
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("demo: detector: %w", err)
	}
	return cfg, nil
}

// detectorFeatureDim is the width of the detector's pool5 features (res5's
// output channels), the region feature width VL-BERT reads.
func (p Plan) detectorFeatureDim() int {
	raw, err := configFS.ReadFile("configs/detector.yaml")
	if err != nil {
		return 0
	}
	cfg, err := dettrain.ParseConfig(raw, "detector.yaml")
	if err != nil {
		return 0
	}
	return cfg.Network.Bottleneck[3] * cfg.Network.Expansion
}

// detectorClasses is the detector's class count, background included: the
// detection set's categories are the shapes.
func detectorClasses() int { return len(synth.Shapes) + 1 }

// trainDetector trains the detector on the world's detection set (the code
// `vlbert train --cfg configs/synth/detector.yaml` runs), copies it with its
// vocabularies to DIR/checkpoints and records its held-out mAP and recall.
func (r *runner) trainDetector(ctx context.Context) error {
	cfg, err := r.plan.detectorConfig(r.out, r.data)
	if err != nil {
		return err
	}
	b, err := cfg.Marshal()
	if err != nil {
		return err
	}
	dir := filepath.Join(r.out, "configs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfgPath := filepath.Join(dir, PhaseDetector+".yaml")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	runDir := cfg.OutputDir(cfgPath)
	if err := os.RemoveAll(runDir); err != nil { // a fresh run, as train()
		return err
	}
	t0 := time.Now()
	res, err := dettrain.Run(ctx, cfg, cfgPath, dettrain.Options{Log: r.log, Terminal: r.opts.Terminal})
	if err != nil {
		return err
	}
	if res.Final == "" || res.Eval == nil {
		return fmt.Errorf("detector training stopped at iteration %d of %d", res.Iter, cfg.Solver.MaxIter)
	}
	ckpt := filepath.Join(r.out, "checkpoints", detectorCkpt)
	for _, f := range [][2]string{{ckpt, res.Final},
		{filepath.Join(r.out, "checkpoints", objectsVocab), filepath.Join(runDir, objectsVocab)},
		{filepath.Join(r.out, "checkpoints", attributeFile), filepath.Join(runDir, attributeFile)}} {
		if err := copyFile(f[0], f[1]); err != nil {
			return err
		}
	}
	e := res.Eval
	rr := &runResult{cfgPath: cfgPath, ckpt: ckpt, seconds: time.Since(t0).Seconds(),
		val: map[string]float64{"mAP50": e.MAP50, "Recall50": e.Recall50, "AttrExact": e.AttrExact}}
	if rr.curve, err = lossCurve(res.OutDir); err != nil {
		return err
	}
	r.runs[PhaseDetector] = rr
	r.rep.record(PhaseDetector, rr)
	r.rep.DetectorMAP50, r.rep.DetectorRecall50, r.rep.DetectorAttrExact = ptr(e.MAP50), ptr(e.Recall50), ptr(e.AttrExact)
	r.rep.DetectorAP50 = e.APPerClass
	r.rep.DetectorValObjects = e.Objects
	fmt.Fprintf(r.log, "detector: %s; held-out mAP@0.5 %.3f, recall@0.5 %.3f\n", ckpt, e.MAP50, e.Recall50)
	return nil
}

// detectAll runs the trained detector over every train and val image, as
// `vlbert detect --rule generate_tsv` does, and writes the per-image feature
// files pre-training, VQA and grounding read (synth.Layout.Features). It
// also takes the detector's features at the given boxes (im_detect with
// boxes): for VCR, whose boxes come with the data set (synth.Layout.VCRFeatures),
// and, the same records, for the oracle row's VQA data root.
func (r *runner) detectAll(ctx context.Context) error {
	wr, err := importer.Load(filepath.Join(r.out, "checkpoints", detectorCkpt))
	if err != nil {
		return err
	}
	net, err := detect.LoadResult(wr)
	if err != nil {
		return err
	}
	so, err := detect.DefaultSelect(detect.RuleGenerateTSV)
	if err != nil {
		return err
	}
	so.MinBoxes, so.MaxBoxes = r.plan.Detector.MinBoxes, r.plan.Detector.MaxBoxes
	oracle := filepath.Join(r.data, oracleDir)
	dirs := map[string]string{"detected": filepath.Join(r.data, synth.Layout.Features),
		"vcr": filepath.Join(r.data, synth.Layout.VCRFeatures), "oracle": filepath.Join(oracle, synth.Layout.Features)}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := r.writeOracleRoot(oracle); err != nil {
		return err
	}
	scenes := append(append([]synth.Scene{}, r.world.Train...), r.world.Val...)
	// One image at a time per worker, a network each, one thread each: the
	// small network's layers do not keep two threads busy on one image.
	workers := max(1, min(parallel.Threads(), len(scenes)))
	nets := []*detect.Network{net}
	for len(nets) < workers {
		n, err := detect.LoadResult(wr)
		if err != nil {
			return err
		}
		nets = append(nets, n)
	}
	defer parallel.SetThreads(parallel.SetThreads(1))
	var (
		mu   sync.Mutex
		st   detectStats
		done int
	)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(scenes); i += workers {
				if errs[w] = ctx.Err(); errs[w] != nil {
					return
				}
				s := scenes[i]
				det, given, err := detectScene(nets[w], so, filepath.Join(r.data, synth.Layout.Images, fmt.Sprintf("%d.png", s.ID)), s)
				if err == nil {
					err = output.WriteJSON(dirs["detected"], det.ID, det)
				}
				for _, d := range []string{dirs["vcr"], dirs["oracle"]} {
					if err == nil {
						err = output.WriteJSON(d, given.ID, given)
					}
				}
				if err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				if i >= len(r.world.Train) {
					st.add(s, det)
				}
				if done++; done%500 == 0 {
					fmt.Fprintf(r.log, "detect: %d of %d images\n", done, len(scenes))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.rep.DetectedBoxesPerImage = ptr(float64(st.boxes) / float64(max(st.images, 1)))
	r.rep.DetectedObjectRecall = ptr(float64(st.found) / float64(max(st.objects, 1)))
	fmt.Fprintf(r.log, "detect: %d images; val: %.2f boxes per image (%.2f objects), %.3f of the objects have a box at IoU >= 0.5\n",
		len(scenes), *r.rep.DetectedBoxesPerImage, float64(st.objects)/float64(max(st.images, 1)), *r.rep.DetectedObjectRecall)
	return nil
}

// detectScene detects one image's regions (generate_tsv's selection) and
// takes its features at the scene's true boxes (one trunk pass for both).
func detectScene(net *detect.Network, so detect.SelectOptions, path string, s synth.Scene) (det, given *output.Image, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	img, err := visual.DecodeImage(f)
	f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	boxes := make([]detect.Box, len(s.Objects))
	for i, o := range s.Objects {
		boxes[i] = detect.Box(o.Box)
	}
	res, gres, err := net.DetectWith(img, boxes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	sel, err := detect.Select(res, so)
	if err != nil {
		return nil, nil, err
	}
	det = output.FromSelection(res, sel)
	det.ID = fmt.Sprint(s.ID)
	given = output.FromSelection(gres, detect.SelectGiven(gres, boxes))
	given.ID = det.ID
	return det, given, nil
}

// detectStats counts how well the selected boxes cover the val objects.
type detectStats struct{ images, boxes, objects, found int }

func (st *detectStats) add(s synth.Scene, rec *output.Image) {
	st.images++
	st.boxes += rec.NumBoxes
	for _, o := range s.Objects {
		st.objects++
		for k := 0; k < rec.NumBoxes; k++ {
			b := rec.Boxes[4*k : 4*k+4]
			if detect.IoU(detect.Box(o.Box), detect.Box{b[0], b[1], b[2], b[3]}) >= 0.5 {
				st.found++
				break
			}
		}
	}
}

// writeOracleRoot copies the world's VQA files (questions, answers, image
// sizes) to the oracle data root, whose features detectAll writes.
func (r *runner) writeOracleRoot(root string) error {
	var files []string
	for _, split := range []string{"train", "val"} {
		set := synth.VQAImageSet(split)
		q, a := synth.VQAFiles(set)
		files = append(files, q, a, filepath.Join(synth.Layout.COCOAnnotations, "instances_"+set+".json"))
	}
	files = append(files, synth.Layout.Answers)
	for _, f := range files {
		if err := copyFile(filepath.Join(root, f), filepath.Join(r.data, f)); err != nil {
			return err
		}
	}
	return nil
}

// DetectorSample is one held-out scene with the regions VL-BERT reads (the
// detect phase's boxes and labels) and the generator's true boxes.
type DetectorSample struct {
	SceneID    int
	ImageURI   string
	W, H       int
	Boxes      [][4]float32
	Labels     []string // "attributes class score" of each box
	LabelPos   []labelPos
	TrueBoxes  [][4]float32
	TrueLabels []string
}

// detectorSamples reads the detect phase's records of the first n val scenes.
// Labels name each box as the bottom-up-attention demo does: its best
// foreground class and the attributes above 0.1 (attr_thresh), best first.
func (r *runner) detectorSamples(n int) error {
	classes := append([]string{"__background__"}, synth.Shapes...)
	attrs := append([]string{"__no_attribute__"}, synth.DetectionAttributes()...)
	fs := zipfs.New()
	defer fs.Close()
	for _, s := range r.world.Val[:min(n, len(r.world.Val))] {
		rec, err := features.LoadJSON(fs, synth.FeatureFile(r.data, int64(s.ID)), features.Options{Classes: true, Attrs: true, NumClasses: -1, NumAttrs: -1})
		if err != nil {
			return err
		}
		png, err := os.ReadFile(filepath.Join(r.data, synth.Layout.Images, fmt.Sprintf("%d.png", s.ID)))
		if err != nil {
			return err
		}
		ds := DetectorSample{SceneID: s.ID, ImageURI: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), W: s.Width, H: s.Height}
		for k := 0; k < rec.NumBoxes; k++ {
			ds.Boxes = append(ds.Boxes, [4]float32(rec.Boxes[4*k:4*k+4]))
			ds.Labels = append(ds.Labels, regionLabel(rec.Classes[k*rec.NumClasses:(k+1)*rec.NumClasses], rec.Attrs[k*rec.NumAttrs:(k+1)*rec.NumAttrs], classes, attrs))
		}
		for _, o := range s.Objects {
			ds.TrueBoxes = append(ds.TrueBoxes, o.Box)
			ds.TrueLabels = append(ds.TrueLabels, o.Name())
		}
		ds.LabelPos = placeLabels(ds.Boxes, ds.Labels, s.Width, s.Height, cardScale)
		r.rep.detSamples = append(r.rep.detSamples, ds)
	}
	return nil
}

// regionLabel is "attr attr class p" for one box's class and attribute
// probabilities (names by index, background / no attribute first).
func regionLabel(cls, attr []float32, classes, attrs []string) string {
	best := 1
	for c := 2; c < len(cls) && c < len(classes); c++ {
		if cls[c] > cls[best] {
			best = c
		}
	}
	var words []string
	idx := make([]int, 0, len(attr))
	for a := 1; a < len(attr) && a < len(attrs); a++ {
		if attr[a] > 0.1 {
			idx = append(idx, a)
		}
	}
	sort.Slice(idx, func(i, j int) bool { return attr[idx[i]] > attr[idx[j]] })
	for _, a := range idx {
		words = append(words, attrs[a])
	}
	name := classes[min(best, len(classes)-1)]
	return strings.TrimSpace(strings.Join(words, " ") + " " + name + fmt.Sprintf(" %.2f", cls[best]))
}

// cardScale is the report's magnification of the scene images.
const cardScale = 3

// labelPos is where a box's label goes in the magnified image.
type labelPos struct {
	X, Y   float64
	Anchor string // SVG text-anchor
}

// placeLabels puts each box's label above the box (below it at the top
// edge), anchored at the box's side nearer the image edge, and moves a label
// down a line while it overlaps one placed before (duplicate detections of
// one object have nearly the same box).
func placeLabels(boxes [][4]float32, labels []string, w, h, scale int) []labelPos {
	const line, charW = 12.0, 6.2 // 11 px bold sans-serif
	type rect struct{ x1, y1, x2, y2 float64 }
	var placed []rect
	out := make([]labelPos, len(boxes))
	for i, b := range boxes {
		s := float64(scale)
		width := charW * float64(len(labels[i]))
		p := labelPos{X: float64(b[0]) * s, Y: float64(b[1])*s - 3, Anchor: "start"}
		if float64(b[0]+b[2])/2 > float64(w)/2 {
			p.X, p.Anchor = float64(b[2]+1)*s, "end"
		}
		if p.Y < line {
			p.Y = float64(b[3]+1)*s + line
		}
		x1 := p.X
		if p.Anchor == "end" {
			x1 -= width
		}
		for tries := 0; tries < 8; tries++ {
			r := rect{x1, p.Y - line + 2, x1 + width, p.Y + 2}
			hit := false
			for _, q := range placed {
				if r.x1 < q.x2 && q.x1 < r.x2 && r.y1 < q.y2 && q.y1 < r.y2 {
					hit = true
					break
				}
			}
			if !hit || p.Y+line > float64(h)*s {
				break
			}
			p.Y += line
		}
		placed = append(placed, rect{x1, p.Y - line + 2, x1 + width, p.Y + 2})
		out[i] = p
	}
	return out
}
