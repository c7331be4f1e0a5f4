package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/visual"
)

// `vlbert bench features` and `vlbert bench e2e` time the convolutional path
// (package visual) with random weights at the shapes bench/resnet_torch.py
// runs in PyTorch: features = inference of the ResNet-101 C4 backbone and the
// dilated res5 RoI head (what `vlbert features` runs per image); e2e = the
// CNN half of an e2e RefCOCO+ training step (forward on a batch of images,
// backward into the trainable stages: conv1 and layer1 frozen as in every e2e
// config, every BatchNorm frozen).
func init() {
	type target = struct {
		summary string
		run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	}
	benchTargets["features"] = target{"ResNet-101 C4 backbone + res5 RoI head inference (images/s, per-stage ms)", benchFeaturesCommand}
	benchTargets["e2e"] = target{"CNN forward + backward of the e2e RefCOCO+ training step", benchE2ECommand}
}

// benchCNNOptions are the flags of `vlbert bench features` and `bench e2e`.
type benchCNNOptions struct {
	Height, Width int // image size (preprocessed, padded)
	Images        int // images per step
	Boxes         int // RoIs per image
	Threads       int // 0: parallel.Threads()
	Steps, Warmup int
	JSON          bool
	CPUProfile    string
	Train         bool // e2e: forward + backward
	Int8          bool // features: int8 convolutions (visual.Network.QuantizeInt8)
}

// benchCNNResult is the JSON that `--json` prints.
type benchCNNResult struct {
	Bench        string             `json:"bench"` // features or e2e
	MsPerStep    float64            `json:"ms_per_step"`
	MinMs        float64            `json:"min_ms"`
	MaxMs        float64            `json:"max_ms"`
	ImagesPerS   float64            `json:"images_per_s"`
	CPUMsStep    float64            `json:"cpu_ms_per_step"`
	GFLOPS       float64            `json:"gflops"` // flops_per_step / median wall time
	FlopsStep    float64            `json:"flops_per_step"`
	BackboneGF   float64            `json:"backbone_gflop"` // forward, all images
	HeadGF       float64            `json:"head_gflop"`     // forward, all boxes
	StageMs      map[string]float64 `json:"stage_ms"`       // forward stages, median over steps
	BackwardMs   float64            `json:"backward_ms,omitempty"`
	PeakRSSMB    float64            `json:"peak_rss_mb"`
	Threads      int                `json:"threads"`
	Images       int                `json:"images"`
	Boxes        int                `json:"boxes"`
	Height       int                `json:"height"`
	Width        int                `json:"width"`
	Steps        int                `json:"steps"`
	Warmup       int                `json:"warmup"`
	Kernel       string             `json:"kernel"`
	Int8         bool               `json:"int8"`
	Load1        float64            `json:"load1"` // 1-minute load average before the run
	SetupMs      float64            `json:"setup_ms"`
	StepMsValues []float64          `json:"step_ms"`
}

func benchFeaturesCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseBenchCNN("bench features", args, 1, 36, stderr)
	if err == nil && opts.Int8 && opts.Train {
		err = usagef("--int8 is an inference mode")
	}
	if err != nil {
		return err
	}
	return runBenchCNN(ctx, opts, stdout)
}

func benchE2ECommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseBenchCNN("bench e2e", args, 1, 10, stderr)
	if err != nil {
		return err
	}
	opts.Train = true
	return runBenchCNN(ctx, opts, stdout)
}

func parseBenchCNN(name string, args []string, images, boxes int, stderr io.Writer) (benchCNNOptions, error) {
	var opts benchCNNOptions
	fs := newFlagSet(name, stderr)
	fs.IntVar(&opts.Height, "height", 600, "image height (the preprocessed short side)")
	fs.IntVar(&opts.Width, "width", 1000, "image width")
	fs.IntVar(&opts.Images, "images", images, "images per step")
	fs.IntVar(&opts.Boxes, "boxes", boxes, "RoIs per image")
	fs.IntVar(&opts.Threads, "threads", 0, "worker threads (0: GOMAXPROCS)")
	fs.IntVar(&opts.Steps, "steps", 3, "timed steps; the median is reported")
	fs.IntVar(&opts.Warmup, "warmup", 1, "untimed steps first")
	fs.BoolVar(&opts.JSON, "json", false, "print one JSON object")
	fs.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a pprof CPU profile of the timed steps to this file")
	if name == "bench features" {
		fs.BoolVar(&opts.Int8, "int8", false, "int8 convolutions (batch norm folded into per-channel int8 weights, 7-bit per-pixel activations)")
	}
	if err := parseFlags(fs, args); err != nil {
		return opts, err
	}
	switch {
	case opts.Height < 32 || opts.Width < 32:
		return opts, usagef("--height and --width must be at least 32 (got %d, %d)", opts.Height, opts.Width)
	case opts.Images < 1 || opts.Boxes < 1:
		return opts, usagef("--images and --boxes must be at least 1 (got %d, %d)", opts.Images, opts.Boxes)
	case opts.Threads < 0:
		return opts, usagef("--threads must be at least 0 (got %d)", opts.Threads)
	case opts.Steps < 1 || opts.Warmup < 0:
		return opts, usagef("--steps must be at least 1 and --warmup at least 0 (got %d, %d)", opts.Steps, opts.Warmup)
	}
	return opts, nil
}

// benchRoIs returns boxes per image RoIs [x, 5] in the pattern of
// bench/resnet_torch.py's make_rois (clipped to the image), image by image.
func benchRoIs(images, boxes, H, W int) []float32 {
	var rois []float32
	for b := 0; b < images; b++ {
		for r := 0; r < boxes; r++ {
			x1, y1 := float32(r*97%max(W-200, 1)), float32(r*61%max(H-150, 1))
			x2 := min(x1+40+float32(r*13%160), float32(W-1))
			y2 := min(y1+30+float32(r*7%120), float32(H-1))
			rois = append(rois, float32(b), x1, y1, x2, y2)
		}
	}
	return rois
}

// randomCNN fills the network with He-normal convolution weights and batch
// norms near identity, as the PyTorch side's fresh torchvision ResNet.
func randomCNN(net *visual.Network, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	for _, p := range net.Params.Params {
		switch {
		case len(p.Shape) == 4:
			std := math.Sqrt(2 / float64(p.Shape[1]*p.Shape[2]*p.Shape[3]))
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64() * std)
			}
		case strings.HasSuffix(p.Name, ".weight"), strings.HasSuffix(p.Name, ".running_var"):
			for i := range p.Data {
				p.Data[i] = float32(0.5 + rng.Float64())
			}
		default: // bias, running_mean
			for i := range p.Data {
				p.Data[i] = float32(0.1 * rng.NormFloat64())
			}
		}
	}
}

// cnnFlops counts 2·multiply-adds of the convolutions: the backbone forward
// on images of H x W, the head forward per RoI, and the backward of a
// training step (weight and input gradients of the trainable blocks; no input
// gradient into the first trainable stage).
func cnnFlops(net *visual.Network, N, H, W, R int) (backbone, head, backward float64) {
	conv := func(cv visual.Conv2D, h, w int) float64 {
		oh, ow := cv.OutSize(h, w)
		return 2 * float64(cv.WeightSize()) * float64(oh*ow)
	}
	block := func(b *visual.Bottleneck, h, w int) (f, inGrad float64, oh, ow int) {
		h1, w1 := b.Conv1.OutSize(h, w)
		oh, ow = b.Conv2.OutSize(h1, w1)
		first := conv(b.Conv1, h, w)
		f = first + conv(b.Conv2, h1, w1) + conv(b.Conv3, oh, ow)
		inGrad = first
		if b.HasDown {
			d := conv(b.Down, h, w)
			f += d
			inGrad += d
		}
		return f, inGrad, oh, ow
	}
	var bbBackward, headBackward float64
	h1, w1 := net.Conv1.OutSize(H, W)
	backbone = conv(net.Conv1, H, W)
	h, w := net.Pool.OutSize(h1, w1)
	firstTrainable := true
	for _, layer := range net.Layers {
		for j, b := range layer {
			f, inGrad, oh, ow := block(b, h, w)
			backbone += f
			if b.Trainable {
				bbBackward += 2 * f
				if firstTrainable && j == 0 {
					bbBackward -= inGrad // its input needs no gradient
				}
			}
			h, w = oh, ow
		}
		if layer[0].Trainable {
			firstTrainable = false
		}
	}
	ra := net.Cfg.RoIAlign
	h, w = ra.PooledH, ra.PooledW
	for _, b := range net.Head {
		f, _, oh, ow := block(b, h, w)
		head += f
		if b.Trainable {
			headBackward += 2 * f
		}
		h, w = oh, ow
	}
	return backbone * float64(N), head * float64(R), bbBackward*float64(N) + headBackward*float64(R)
}

// runBenchCNN builds ResNet-101 C4 with random weights and times steps.
func runBenchCNN(ctx context.Context, opts benchCNNOptions, stdout io.Writer) error {
	threads, restore := benchThreads(opts.Threads)
	defer restore()

	setup := time.Now()
	net := visual.NewNetwork(visual.ResNet101C4())
	randomCNN(net, 1)
	if opts.Train {
		net.Params.AllocGrads()
	} else {
		net.SetInference(true)
	}
	if opts.Int8 {
		if err := net.QuantizeInt8(); err != nil {
			return fmt.Errorf("bench features: %w", err)
		}
	}
	N, H, W, R := opts.Images, opts.Height, opts.Width, opts.Images*opts.Boxes
	rng := rand.New(rand.NewPCG(2, 2))
	images := make([]float32, N*3*H*W)
	for i := range images {
		images[i] = float32(rng.NormFloat64() * 50)
	}
	rois := benchRoIs(N, opts.Boxes, H, W)
	dfeats := make([]float32, R*net.Cfg.FeatureDim())
	for i := range dfeats {
		dfeats[i] = float32(rng.NormFloat64())
	}
	bbF, headF, bwdF := cnnFlops(net, N, H, W, R)
	flops := bbF + headF
	if opts.Train {
		flops += bwdF
	}
	stages := map[string][]float64{}
	var cur map[string]float64
	net.StageTimer = func(stage string, d time.Duration) { cur[stage] += float64(d.Nanoseconds()) / 1e6 }
	setupMs := msSince(setup)

	var bwdMs []float64
	step := func() {
		cur = map[string]float64{}
		net.Forward(images, N, H, W, rois, R, nil)
		if opts.Train {
			t := time.Now()
			net.Backward(dfeats)
			bwdMs = append(bwdMs, msSince(t))
		}
	}
	for i := 0; i < opts.Warmup; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		step()
	}
	bwdMs = bwdMs[:0]
	if opts.CPUProfile != "" {
		f, err := os.Create(opts.CPUProfile)
		if err != nil {
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	load := load1()
	var ms []float64
	cpu0 := cpuTimeMs()
	for i := 0; i < opts.Steps; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := time.Now()
		step()
		ms = append(ms, msSince(t))
		for k, v := range cur {
			stages[k] = append(stages[k], v)
		}
	}
	cpuMs := (cpuTimeMs() - cpu0) / float64(opts.Steps)
	sorted := slices.Clone(ms)
	slices.Sort(sorted)
	med := median(sorted)
	res := benchCNNResult{
		Bench: "features", MsPerStep: med, MinMs: sorted[0], MaxMs: sorted[len(sorted)-1],
		ImagesPerS: float64(N) / (med / 1000), CPUMsStep: cpuMs, GFLOPS: flops / (med / 1000) / 1e9,
		FlopsStep: flops, BackboneGF: bbF / 1e9, HeadGF: headF / 1e9, StageMs: map[string]float64{},
		PeakRSSMB: peakRSSMB(), Threads: threads, Images: N, Boxes: opts.Boxes, Height: H, Width: W,
		Steps: opts.Steps, Warmup: opts.Warmup, Kernel: gemm.KernelName(), Int8: opts.Int8, Load1: load, SetupMs: setupMs, StepMsValues: ms,
	}
	if opts.Train {
		res.Bench = "e2e"
		slices.Sort(bwdMs)
		res.BackwardMs = median(bwdMs)
	}
	for k, v := range stages {
		slices.Sort(v)
		res.StageMs[k] = median(v)
	}
	if opts.JSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	if opts.Int8 {
		res.Bench += " --int8"
	}
	_, err := fmt.Fprintf(stdout, "vlbert bench %s %dx%d images=%d boxes=%d threads=%d kernel=%s: %.1f ms/step (min %.1f, max %.1f over %d), %.3f images/s, %.1f GFLOP/s, cpu %.1f ms/step, peak RSS %.0f MB, load %.2f\n  stages (ms): %v backward %.1f\n",
		res.Bench, H, W, N, opts.Boxes, threads, res.Kernel, med, res.MinMs, res.MaxMs, opts.Steps, res.ImagesPerS, res.GFLOPS, cpuMs, res.PeakRSSMB, load, res.StageMs, res.BackwardMs)
	return err
}

// load1 is the 1-minute load average (0 where /proc/loadavg is missing).
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	fmt.Sscanf(string(b), "%f", &v)
	return v
}
