package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/optim"
	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/quant"
)

// `vlbert bench model` registers itself as a target of `vlbert bench` (bench.go's
// benchTargets table is initialised before any init function runs).
func init() {
	benchTargets["model"] = struct {
		summary string
		run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	}{"VQA model throughput (inference, or a full training step)", benchModelCommand}
}

// benchModelOptions are the flags of `vlbert bench model`.
type benchModelOptions struct {
	Size       string // base, large or small
	Batch      int
	TextLen    int // text tokens per sample: [CLS] question [SEP] [MASK] [SEP]
	Regions    int // boxes per sample, box 0 the whole image
	FeatDim    int // region feature width, NETWORK.IMAGE_FEAT_DIM (0: 2048)
	Train      bool
	AllRows    bool // inference: the last layer for every row, not just the [MASK] rows
	Int8       bool // inference: the encoder's Linear layers in int8 (model.QuantizeInt8)
	Threads    int  // 0: parallel.Threads()
	Steps      int  // timed steps
	Warmup     int  // untimed steps first
	JSON       bool
	CPUProfile string // pprof CPU profile of the timed steps
	MemProfile string // pprof heap (allocation) profile written after the timed steps
}

// benchModelResult is the JSON that `vlbert bench model --json` prints.
type benchModelResult struct {
	SeqPerS     float64   `json:"seq_per_s"`   // batch / median step time
	GFLOPS      float64   `json:"gflops"`      // flops_per_step / median step time
	MsPerStep   float64   `json:"ms_per_step"` // median
	MinMs       float64   `json:"min_ms"`
	MaxMs       float64   `json:"max_ms"`
	PeakRSSMB   float64   `json:"peak_rss_mb"`     // VmHWM of the process
	CPUMsStep   float64   `json:"cpu_ms_per_step"` // process user+system CPU time per timed step (mean)
	Threads     int       `json:"threads"`
	Train       bool      `json:"train"`
	AllRows     bool      `json:"all_rows"` // inference ran the last layer for every row
	Int8        bool      `json:"int8"`     // inference ran the encoder's Linear layers in int8
	Size        string    `json:"size"`
	Batch       int       `json:"batch"`
	TextLen     int       `json:"text_len"`
	Regions     int       `json:"regions"`
	FeatDim     int       `json:"feat_dim"` // region feature width (IMAGE_FEAT_DIM)
	SeqLen      int       `json:"seq_len"`  // concatenated length L = text + regions + [END]
	Steps       int       `json:"steps"`
	Warmup      int       `json:"warmup"`
	FlopsStep   float64   `json:"flops_per_step"` // matmul FLOPs (see modelFlops)
	Params      int       `json:"params"`
	AllocsStep  float64   `json:"allocs_per_step"`       // heap allocations per timed step
	AllocMBStep float64   `json:"alloc_mb_per_step"`     // heap bytes allocated per timed step
	Kernel      string    `json:"kernel"`                // gemm micro-kernel
	Int8Kernel  string    `json:"int8_kernel,omitempty"` // quant micro-kernel, with --int8
	Loss        float64   `json:"loss,omitempty"`        // last training loss (sanity)
	SetupMs     float64   `json:"setup_ms"`              // model build + weight init
	GoMaxProcs  int       `json:"gomaxprocs"`            // during the timed steps
	Impl        string    `json:"impl"`                  // "vlbert"
	TimesMs     []float64 `json:"times_ms,omitempty"`    // every timed step, in order
}

func benchModelCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opts benchModelOptions
	fs := newFlagSet("bench model", stderr)
	fs.StringVar(&opts.Size, "size", "base", "model size: base (BERT-base), large (BERT-large) or small (tiny, for tests)")
	fs.IntVar(&opts.Batch, "batch", 8, "samples per step")
	fs.IntVar(&opts.TextLen, "text-len", 64, "text tokens per sample ([CLS] question [SEP] [MASK] [SEP]), at least 5")
	fs.IntVar(&opts.Regions, "regions", 36, "regions (boxes) per sample, at least 1")
	fs.IntVar(&opts.FeatDim, "feat-dim", model.DefaultFeatureDim, "region feature width (NETWORK.IMAGE_FEAT_DIM): 2048 for bottom-up features, 256 for the synthetic detector")
	fs.BoolVar(&opts.Train, "train", false, "time forward + backward + gradient clipping + AdamW step instead of inference")
	fs.BoolVar(&opts.AllRows, "all-rows", false, "inference: run the last layer for every row, as the original does (default: the [MASK] rows only, what predict and serve do)")
	int8Flag(fs, &opts.Int8)
	fs.IntVar(&opts.Threads, "threads", 0, "worker threads, also GOMAXPROCS (0: current GOMAXPROCS)")
	fs.IntVar(&opts.Steps, "steps", 5, "timed steps; the median is reported")
	fs.IntVar(&opts.Warmup, "warmup", 2, "untimed steps before timing")
	fs.BoolVar(&opts.JSON, "json", false, "print one JSON object")
	fs.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a pprof CPU profile of the timed steps to this file")
	fs.StringVar(&opts.MemProfile, "memprofile", "", "write a pprof allocation profile after the timed steps to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return runBenchModel(ctx, opts, stdout)
}

// benchModelConfig returns the VQA network of a --size.
func benchModelConfig(size string) (model.Config, error) {
	c := model.BaseConfig(model.TaskVQA)
	switch size {
	case "base":
	case "large":
		c.HiddenSize, c.VisualSize, c.ImageFinalDim = 1024, 1024, 1024
		c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 24, 16, 4096
	case "small":
		c.HiddenSize, c.VisualSize, c.ImageFinalDim = 64, 64, 64
		c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 2, 4, 128
		c.VocabSize, c.AnswerVocabSize = 1000, 100
	default:
		return model.Config{}, usagef("--size must be base, large or small (got %q)", size)
	}
	return c, nil
}

// modelFlops counts the matrix-multiply FLOPs (2 per multiply-add) of one VQA step of
// B samples with Lt text tokens and Lo regions each, L = Lt+Lo+1, N = B·L, R = B·Lo:
//
//	forward  = 2·R·(2048+F)·H                    obj_downsample (geometry ⊕ F-d feature → H)
//	         + layers·(8·N·H² + 4·N·H·I           Q, K, V, output dense; FFN up and down
//	                   + 4·B·L²·H)                QKᵀ and P·V over all heads
//	         + 2·B·H² [+ 2·B·H² pooler]           head transform dense
//	         + 2·B·H·A                            answer classifier
//	backward = 2·forward − 2·R·(2048+F)·H         input and weight gradients of every product,
//	                                              except obj_downsample's input (features need no grad)
//
// An answers-only inference (allRows false, what predict and serve run) does the last
// layer's K and V for all N rows but its Q, output dense and FFN for the B [MASK] rows,
// its attention for B query rows, and no pooler:
//
//	last     = 4·N·H² + 4·B·H² + 4·B·H·I + 4·B·L·H
//
// Element-wise work (LayerNorm, GELU, softmax, dropout, AdamW) is not counted.
func modelFlops(c *model.Config, B, Lt, Lo int, train, allRows bool) float64 {
	H, I, A := float64(c.HiddenSize), float64(c.IntermediateSize), float64(c.AnswerVocabSize)
	b, L := float64(B), float64(Lt+Lo+1)
	N, R := b*L, b*float64(Lo)
	objDS := 2 * R * float64(model.GeomDim+c.FeatureDim()) * H
	layer := 8*N*H*H + 4*N*H*I + 4*b*L*L*H
	head := 2*b*H*H + 2*b*H*A
	if c.WithPooler {
		head += 2 * b * H * H
	}
	fwd := objDS + float64(c.NumHiddenLayers)*layer + head
	if !train {
		if !allRows {
			last := 4*N*H*H + 4*b*H*H + 4*b*H*I + 4*b*L*H
			fwd += last - layer
			if c.WithPooler {
				fwd -= 2 * b * H * H
			}
		}
		return fwd
	}
	return fwd + 2*fwd - objDS
}

// benchVQABatch builds a deterministic batch: every sample has TextLen-4 question
// tokens and Regions valid boxes (box 0 the whole image) with sparse non-negative
// features, and a soft answer target with a few non-zero entries.
func benchVQABatch(c *model.Config, B, textLen, regions int) *model.VQABatch {
	rng := rand.New(rand.NewPCG(7, 11))
	lq := textLen - 4
	q := make([]int32, B*lq)
	lowID := model.MaskID + 1
	for i := range q {
		q[i] = int32(lowID + rng.IntN(c.VocabSize-lowID))
	}
	stride := c.BoxStride()
	bx := model.Boxes{B: B, NB: regions, Data: make([]float32, B*regions*stride), ImInfo: make([]float32, B*4), InfoW: 4}
	for b := 0; b < B; b++ {
		w, h := float32(400+rng.IntN(200)), float32(300+rng.IntN(200))
		copy(bx.ImInfo[b*4:], []float32{w, h, 1, 1})
		for j := 0; j < regions; j++ {
			row := bx.Data[(b*regions+j)*stride : (b*regions+j+1)*stride]
			x1, y1 := float32(rng.IntN(int(w)/2)), float32(rng.IntN(int(h)/2))
			x2, y2 := x1+1+float32(rng.IntN(int(w)/2)), y1+1+float32(rng.IntN(int(h)/2))
			if j == 0 {
				x1, y1, x2, y2 = 0, 0, w-1, h-1
			}
			copy(row, []float32{x1, y1, x2, y2})
			for i := 4; i < stride; i++ {
				if rng.IntN(4) == 0 {
					row[i] = float32(rng.ExpFloat64())
				}
			}
		}
	}
	A := c.AnswerVocabSize
	label := make([]float32, B*A)
	for b := 0; b < B; b++ {
		for k := 0; k < 3; k++ {
			label[b*A+rng.IntN(A)] = []float32{1, 0.6, 0.3}[k]
		}
	}
	return &model.VQABatch{Boxes: bx, LQ: lq, Question: q, Label: label}
}

// runBenchModel builds the VQA model of opts.Size with random weights (InitWeights) and
// times opts.Steps inference passes (no labels, dropout off) or training steps (dropout
// on, forward, backward, clip to norm 1, AdamW, zero grad) after opts.Warmup untimed ones.
func runBenchModel(ctx context.Context, opts benchModelOptions, stdout io.Writer) error {
	cfg, err := benchModelConfig(opts.Size)
	if err != nil {
		return err
	}
	cfg.FeatDim = opts.FeatDim
	switch {
	case opts.Batch < 1:
		return usagef("--batch must be at least 1 (got %d)", opts.Batch)
	case opts.TextLen < 5:
		return usagef("--text-len must be at least 5 ([CLS] q [SEP] [MASK] [SEP]; got %d)", opts.TextLen)
	case opts.Regions < 1:
		return usagef("--regions must be at least 1 (got %d)", opts.Regions)
	case opts.FeatDim < 0:
		return usagef("--feat-dim must be positive (got %d)", opts.FeatDim)
	case opts.TextLen+opts.Regions+1 > cfg.MaxPositionEmbeddings:
		return usagef("--text-len + --regions + 1 = %d exceeds max_position_embeddings %d", opts.TextLen+opts.Regions+1, cfg.MaxPositionEmbeddings)
	case opts.Threads < 0:
		return usagef("--threads must be at least 0 (got %d)", opts.Threads)
	case opts.Steps < 1:
		return usagef("--steps must be at least 1 (got %d)", opts.Steps)
	case opts.Warmup < 0:
		return usagef("--warmup must be at least 0 (got %d)", opts.Warmup)
	}
	if opts.Int8 && opts.Train {
		return usagef("--int8 is an inference mode; it cannot be combined with --train")
	}
	threads, restore := benchThreads(opts.Threads)
	defer restore()

	setup := time.Now()
	m, err := model.NewVQA(cfg)
	if err != nil {
		return fmt.Errorf("bench model: %w", err)
	}
	m.InitWeights(1)
	m.Inference = !opts.Train // inference reuses one layer's activation buffers
	m.AllRows = opts.AllRows
	int8Kernel := ""
	if opts.Int8 {
		if err := m.QuantizeInt8(); err != nil {
			return fmt.Errorf("bench model: %w", err)
		}
		int8Kernel = quant.KernelName()
	}
	bt := benchVQABatch(&cfg, opts.Batch, opts.TextLen, opts.Regions)
	var opt *optim.AdamW
	if opts.Train {
		params := make([]optim.Param, len(m.Params.List))
		for i, q := range m.Params.List {
			params[i] = optim.Param{Name: q.Name, Offset: q.Offset, Size: q.Size}
		}
		groups, err := optim.BuildGroups(params, nil, 1e-5, 1e-4)
		if err != nil {
			return fmt.Errorf("bench model: %w", err)
		}
		opt = optim.NewAdamW(params, groups, len(m.Params.Data))
	} else {
		bt.Label = nil
	}
	setupMs := msSince(setup)

	var loss float32
	step := func(i int) error {
		if opts.Train {
			m.Train, m.Seed, m.Step = true, 1, uint64(i)
			out, err := m.Forward(bt)
			if err != nil {
				return fmt.Errorf("bench model: %w", err)
			}
			loss = out.Loss
			m.Backward(1)
			optim.ClipGradNorm(m.Params.Grad, 1)
			opt.Step(m.Params.Data, m.Params.Grad, nil)
			m.ZeroGrad()
			return nil
		}
		if _, err := m.Forward(bt); err != nil {
			return fmt.Errorf("bench model: %w", err)
		}
		return nil
	}
	for i := range opts.Warmup {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(i); err != nil {
			return err
		}
	}
	if opts.CPUProfile != "" {
		f, err := os.Create(opts.CPUProfile)
		if err != nil {
			return fmt.Errorf("bench model: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench model: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if opts.MemProfile != "" {
		runtime.MemProfileRate = 4096
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTimeMs()
	times := make([]float64, 0, opts.Steps)
	for i := range opts.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		if err := step(opts.Warmup + i); err != nil {
			return err
		}
		times = append(times, msSince(start))
	}
	cpuMs := cpuTimeMs() - cpu0
	runtime.ReadMemStats(&ms1)
	if opts.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if opts.MemProfile != "" {
		if err := writeHeapProfile(opts.MemProfile); err != nil {
			return err
		}
	}

	sorted := slices.Clone(times)
	slices.Sort(sorted)
	med := median(sorted)
	flops := modelFlops(&cfg, opts.Batch, opts.TextLen, opts.Regions, opts.Train, opts.AllRows)
	n := float64(opts.Steps)
	res := benchModelResult{
		SeqPerS: float64(opts.Batch) / (med / 1e3), GFLOPS: flops / (med / 1e3) / 1e9, MsPerStep: med,
		MinMs: sorted[0], MaxMs: sorted[len(sorted)-1], PeakRSSMB: peakRSSMB(), CPUMsStep: cpuMs / float64(opts.Steps),
		Threads: threads, Train: opts.Train, AllRows: opts.AllRows && !opts.Train, Int8: opts.Int8, Size: opts.Size, Batch: opts.Batch, TextLen: opts.TextLen,
		Regions: opts.Regions, FeatDim: cfg.FeatureDim(), SeqLen: m.SeqLen(), Steps: opts.Steps, Warmup: opts.Warmup,
		FlopsStep: flops, Params: m.Params.Count(),
		AllocsStep:  float64(ms1.Mallocs-ms0.Mallocs) / n,
		AllocMBStep: float64(ms1.TotalAlloc-ms0.TotalAlloc) / n / (1 << 20),
		Kernel:      gemm.KernelName(), Int8Kernel: int8Kernel, Loss: float64(loss), SetupMs: setupMs, GoMaxProcs: runtime.GOMAXPROCS(0),
		Impl: "vlbert", TimesMs: times,
	}
	if opts.JSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	mode := "inference"
	if opts.Train {
		mode = "train step"
	}
	_, err = fmt.Fprintf(stdout, "vlbert %s %s batch=%d text=%d regions=%d (L=%d) threads=%d kernel=%s: %.1f ms/step (min %.1f, max %.1f over %d), %.2f seq/s, %.1f GFLOP/s, peak RSS %.0f MB, %.0f allocs/step\n",
		opts.Size, mode, opts.Batch, opts.TextLen, opts.Regions, res.SeqLen, threads, res.Kernel, med, res.MinMs, res.MaxMs,
		opts.Steps, res.SeqPerS, res.GFLOPS, res.PeakRSSMB, res.AllocsStep)
	return err
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench model: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("bench model: heap profile %s: %w", path, err)
	}
	return f.Close()
}

// cpuTimeMs is the user+system CPU time of the process so far (0 where unavailable).
// On a shared machine it is steadier than wall time: waiting for a core does not count.
func cpuTimeMs() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

// median of sorted values (the mean of the middle two for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// peakRSSMB is the process's peak resident set (VmHWM in /proc/self/status), 0 where
// that file does not exist.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				kb, err := strconv.ParseFloat(fields[0], 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	return 0
}

// benchThreads sets the worker count (0: the default) and GOMAXPROCS to the
// same number, one OS thread per worker so that a 1-thread run does not get a
// second core for free; restore puts both back.
func benchThreads(n int) (threads int, restore func()) {
	if n == 0 {
		n = parallel.Threads()
	}
	prevThreads := parallel.SetThreads(n)
	prevProcs := runtime.GOMAXPROCS(n)
	return n, func() {
		runtime.GOMAXPROCS(prevProcs)
		parallel.SetThreads(prevThreads)
	}
}
