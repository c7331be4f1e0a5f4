package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/train"
)

// Options are the settings of one demo run.
type Options struct {
	Out      string    // output directory (DIR)
	Quick    bool      // the small plan (QuickPlan)
	Log      io.Writer // phase headers, training progress (nil: discard)
	Terminal bool      // Log is a terminal: training draws progress bars
	// Plan overrides the plan Quick selects (tests).
	Plan *Plan
}

// Phase names, in order; report.json's phase_seconds uses them.
const (
	PhaseData          = "data"
	PhaseDetector      = "detector"
	PhaseDetect        = "detect"
	PhasePretrain      = "pretrain"
	PhaseVQA           = "vqa"
	PhaseVQAScratch    = "vqa_scratch"
	PhaseGround        = "ground"
	PhaseGroundScratch = "ground_scratch"
	PhaseVCR           = "vcr"
	PhaseVCRScratch    = "vcr_scratch"
	PhaseVQAOracle     = "vqa_oracle"
	PhaseReport        = "report"
)

// runner holds one demo run's state.
type runner struct {
	opts  Options
	plan  Plan
	log   io.Writer
	out   string
	data  string
	world *synth.World
	rep   *Report
	start time.Time
	cpu0  float64
	step  int
	steps int
	runs  map[string]*runResult
}

// runResult is what one training phase left behind.
type runResult struct {
	cfgPath, ckpt string
	val           map[string]float64
	curve         []Point
	seconds       float64
}

// Run executes the whole demo and returns its report (also written to
// DIR/report.json and DIR/report.html).
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Out == "" {
		return nil, fmt.Errorf("demo: no output directory")
	}
	plan := FullPlan()
	if opts.Quick {
		plan = QuickPlan()
	}
	if opts.Plan != nil {
		plan = *opts.Plan
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	parallel.SetThreads(runtime.NumCPU())
	r := &runner{opts: opts, plan: plan, log: log, out: out, data: filepath.Join(out, "data"), start: time.Now(),
		runs: map[string]*runResult{}}
	r.rep = &Report{Quick: opts.Quick, Plan: plan, PhaseSeconds: map[string]float64{}, Threads: parallel.Threads()}
	r.cpu0 = cpuSeconds()
	fmt.Fprintf(log, "vlbert demo: output %s (%s plan, %d threads)\n", out, planName(opts.Quick), parallel.Threads())

	// The fine-tuning jobs start from the pre-training checkpoint's path.
	preCkpt := filepath.Join(out, "checkpoints", PhasePretrain+".safetensors")
	jobs := []job{plan.vqaJob(out, r.data, preCkpt), plan.vqaJob(out, r.data, ""), plan.groundJob(out, r.data, preCkpt)}
	if plan.AllScratch {
		jobs = append(jobs, plan.groundJob(out, r.data, ""))
	}
	jobs = append(jobs, plan.vcrJob(out, r.data, preCkpt))
	if plan.AllScratch {
		jobs = append(jobs, plan.vcrJob(out, r.data, ""))
	}
	if plan.OracleFineTune {
		oracle := plan.vqaJob(out, filepath.Join(r.data, oracleDir), preCkpt)
		oracle.name = PhaseVQAOracle
		jobs = append(jobs, oracle)
	}
	r.steps = len(jobs) + 5
	if err := r.phase(PhaseData, "generate the synthetic world", r.writeWorld); err != nil {
		return nil, err
	}
	if err := r.phase(PhaseDetector, "train the bottom-up-attention detector on the world's images", func() error { return r.trainDetector(ctx) }); err != nil {
		return nil, err
	}
	if err := r.phase(PhaseDetect, "detect regions in every image; features at VCR's given boxes", func() error {
		if err := r.detectAll(ctx); err != nil {
			return err
		}
		return r.baselines()
	}); err != nil {
		return nil, err
	}
	if err := r.phase(PhasePretrain, "pre-train VL-BERT (MLM + MVRC on captions, MLM on text-only corpus)", func() error {
		pre, err := r.train(ctx, plan.pretrainJob(out, r.data))
		if err == nil && pre.ckpt != preCkpt {
			err = fmt.Errorf("pre-training checkpoint at %s, want %s", pre.ckpt, preCkpt)
		}
		return err
	}); err != nil {
		return nil, err
	}
	what := map[string]string{
		PhaseVQA: "fine-tune VQA from the pre-trained weights", PhaseVQAScratch: "train VQA from scratch (same steps and lr)",
		PhaseGround: "fine-tune grounding (RefCOCO+ style) from the pre-trained weights", PhaseGroundScratch: "train grounding from scratch (same steps and lr)",
		PhaseVCR: "fine-tune VCR-style Q→A (4 choices) from the pre-trained weights", PhaseVCRScratch: "train VCR-style Q→A from scratch (same steps and lr)",
		PhaseVQAOracle: "fine-tune VQA on the detector's features at the true boxes (oracle row)",
	}
	for _, j := range jobs {
		j := j
		run := func() error { _, err := r.train(ctx, j); return err }
		if err := r.phase(j.name, what[j.name], run); err != nil {
			return nil, err
		}
	}
	if err := r.phase(PhaseReport, "evaluate samples, write report.json and report.html", func() error { return r.report(ctx) }); err != nil {
		return nil, err
	}
	r.rep.Seconds = time.Since(r.start).Seconds()
	r.rep.CPUSeconds = cpuSeconds() - r.cpu0
	if err := r.writeJSON(); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "\ndone in %.1fs (CPU %.1fs)\n", r.rep.Seconds, r.rep.CPUSeconds)
	r.rep.summary(log)
	fmt.Fprintf(log, "report: %s\n", filepath.Join(out, "report.html"))
	return r.rep, nil
}

func planName(quick bool) string {
	if quick {
		return "quick"
	}
	return "full"
}

// phase runs fn under a numbered header and records its time.
func (r *runner) phase(name, what string, fn func() error) error {
	r.step++
	fmt.Fprintf(r.log, "\n[%d/%d] %s: %s\n", r.step, r.steps, name, what)
	t0 := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("demo: %s: %w", name, err)
	}
	sec := time.Since(t0).Seconds()
	r.rep.PhaseSeconds[name] = sec
	fmt.Fprintf(r.log, "[%d/%d] %s done in %.1fs (total %.1fs)\n", r.step, r.steps, name, sec, time.Since(r.start).Seconds())
	return nil
}

// writeWorld writes the synthetic world unless DIR/data already holds it.
func (r *runner) writeWorld() error {
	cfg := r.plan.World
	r.rep.World = cfg
	w, err := synth.Generate(cfg) // a pure function of cfg: the scenes of a reused world too
	if err != nil {
		return err
	}
	r.world = w
	if synth.IsComplete(r.data, cfg) {
		fmt.Fprintf(r.log, "%s is complete for this config: reusing it\n", r.data)
		return nil
	}
	if err := os.RemoveAll(r.data); err != nil {
		return err
	}
	fmt.Fprintf(r.log, "writing %d train + %d val scenes (%dx%d) to %s\n", cfg.TrainScenes, cfg.ValScenes, cfg.ImageSize, cfg.ImageSize, r.data)
	return synth.Write(w, r.data)
}

// baselines records the val chance levels; grounding's depends on the
// detected boxes.
func (r *runner) baselines() error {
	b, err := computeBaselines(r.data)
	if err != nil {
		return err
	}
	r.rep.Counts = b.counts
	r.rep.Counts.TrainScenes, r.rep.Counts.ValScenes = r.plan.World.TrainScenes, r.plan.World.ValScenes
	r.rep.VQAMajorityBaseline = b.vqaMajority
	r.rep.VQAMajorityAnswer = b.vqaMajorityAnswer
	r.rep.GroundingRandomBaseline = b.groundRandom
	r.rep.VCRRandomBaseline = 0.25
	r.rep.MVRCRandomBaseline = 1 / float64(detectorClasses()-1)
	fmt.Fprintf(r.log, "val baselines: VQA majority answer %q %.3f, grounding random box %.3f\n", b.vqaMajorityAnswer, b.vqaMajority, b.groundRandom)
	return nil
}

// train runs one job with internal/train and copies its final checkpoint to
// DIR/checkpoints/<name>.safetensors.
func (r *runner) train(ctx context.Context, j job) (*runResult, error) {
	cfg, cfgPath, err := j.config(r.out)
	if err != nil {
		return nil, err
	}
	// A fresh run every time: AUTO_RESUME is off, and stale checkpoints of an
	// earlier demo in the same directory must not be picked up.
	runDir := filepath.Join(r.out, "runs", j.name)
	if err := os.RemoveAll(runDir); err != nil {
		return nil, err
	}
	t0 := time.Now()
	res, err := train.Run(ctx, cfg, train.Options{CfgPath: cfgPath, Log: r.log, Terminal: r.opts.Terminal})
	if err != nil {
		return nil, err
	}
	if res.Interrupted {
		return nil, fmt.Errorf("interrupted")
	}
	if res.Checkpoint == "" {
		return nil, fmt.Errorf("training wrote no checkpoint")
	}
	dst := filepath.Join(r.out, "checkpoints", j.name+".safetensors")
	if err := copyFile(dst, res.Checkpoint); err != nil {
		return nil, err
	}
	rr := &runResult{cfgPath: cfgPath, ckpt: dst, val: res.Val, seconds: time.Since(t0).Seconds()}
	rr.curve, err = lossCurve(res.OutputDir)
	if err != nil {
		return nil, err
	}
	r.runs[j.name] = rr
	r.rep.record(j.name, rr)
	fmt.Fprintf(r.log, "checkpoint: %s\n", dst)
	return rr, nil
}

func copyFile(dst, src string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return atomicfile.WriteFile(dst, func(w io.Writer) error { _, err := io.Copy(w, f); return err })
}

func (r *runner) writeJSON() error {
	b, err := json.MarshalIndent(r.rep, "", "  ")
	if err != nil {
		return fmt.Errorf("demo: report.json: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(r.out, "report.json"), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}
