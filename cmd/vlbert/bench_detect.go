package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/vlbert/vlbert/internal/detect"
	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/parallel"
)

// `vlbert bench detect` registers itself as a target of `vlbert bench`.
func init() {
	benchTargets["detect"] = struct {
		summary string
		run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	}{"detector throughput (random weights, one 600x1000 image, 300 proposals)", benchDetectCommand}
}

// benchDetectOptions are the flags of `vlbert bench detect`.
type benchDetectOptions struct {
	Threads    int // 0: parallel.Threads()
	Rounds     int // timed images
	Warmup     int
	Seed       uint64
	Height     int
	Width      int
	JSON       bool
	CPUProfile string
}

// benchDetectResult is the JSON that `vlbert bench detect --json` prints.
type benchDetectResult struct {
	ImagesPerS float64            `json:"images_per_s"` // 1000 / ms_per_image
	MsPerImage float64            `json:"ms_per_image"` // median over rounds
	MinMs      float64            `json:"min_ms"`
	MaxMs      float64            `json:"max_ms"`
	StagesMs   map[string]float64 `json:"stages_ms"` // of the median round
	PeakRSSMB  float64            `json:"peak_rss_mb"`
	RoIs       int                `json:"rois"`
	Threads    int                `json:"threads"`
	Height     int                `json:"height"`
	Width      int                `json:"width"`
	LoadMs     float64            `json:"load_ms"`          // weight generation + BatchNorm folding
	CPUMs      float64            `json:"cpu_ms_per_image"` // process user+system CPU time per timed image (mean)
}

func benchDetectCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench detect", stderr)
	var o benchDetectOptions
	fs.IntVar(&o.Threads, "threads", 0, "worker threads (default GOMAXPROCS)")
	fs.IntVar(&o.Rounds, "rounds", 3, "timed images (the median is reported)")
	fs.IntVar(&o.Warmup, "warmup", 1, "untimed images first")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the random weights and image")
	fs.IntVar(&o.Height, "height", 600, "image height (the network input, already scaled)")
	fs.IntVar(&o.Width, "width", 1000, "image width")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a pprof CPU profile of the timed rounds")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("bench detect: unexpected argument %q", fs.Arg(0))
	}
	if o.Rounds < 1 || o.Warmup < 0 || o.Threads < 0 || o.Height < 32 || o.Width < 32 || o.Height > 4000 || o.Width > 4000 {
		return usagef("bench detect: need --rounds >= 1, --warmup >= 0, --threads >= 0 and a size between 32 and 4000")
	}
	res, err := runBenchDetect(ctx, o)
	if err != nil {
		return err
	}
	if o.JSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	_, err = fmt.Fprintf(stdout, "vlbert detect %dx%d threads=%d: %.0f ms/image (min %.0f, max %.0f over %d), %.3f images/s, %d proposals, %.0f CPU ms/image, peak RSS %.0f MB; stages ms:",
		o.Height, o.Width, res.Threads, res.MsPerImage, res.MinMs, res.MaxMs, o.Rounds, res.ImagesPerS, res.RoIs, res.CPUMs, res.PeakRSSMB)
	for _, s := range detect.Stages[1:] {
		fmt.Fprintf(stdout, " %s %.0f", s, res.StagesMs[s])
	}
	fmt.Fprintln(stdout)
	return err
}

func runBenchDetect(ctx context.Context, o benchDetectOptions) (*benchDetectResult, error) {
	if o.Threads > 0 {
		defer parallel.SetThreads(parallel.SetThreads(o.Threads))
	}
	t := time.Now()
	cfg := importer.Default()
	net, err := detect.Load(cfg, detect.RandomWeights(cfg, o.Seed), "random weights")
	if err != nil {
		return nil, err
	}
	loadMs := msSince(t)
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	img := &detect.Image{Data: make([]float32, 3*o.Height*o.Width), H: o.Height, W: o.Width, Scale: 1,
		OrigH: o.Height, OrigW: o.Width, TargetSize: 600, MaxSize: 1000}
	for i := range img.Data {
		img.Data[i] = rng.Float32()*255 - 128 // pixels minus the means
	}
	for i := 0; i < o.Warmup; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		net.Forward(img)
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	type round struct {
		ms     float64
		stages map[string]float64
		rois   int
	}
	rounds := make([]round, 0, o.Rounds)
	cpu0 := cpuTimeMs()
	for i := 0; i < o.Rounds; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := time.Now()
		r := net.Forward(img)
		rounds = append(rounds, round{msSince(t), r.StagesMs, len(r.RoIs)})
	}
	cpuMs := (cpuTimeMs() - cpu0) / float64(o.Rounds)
	slices.SortFunc(rounds, func(a, b round) int {
		switch {
		case a.ms < b.ms:
			return -1
		case a.ms > b.ms:
			return 1
		}
		return 0
	})
	med := rounds[len(rounds)/2]
	return &benchDetectResult{
		ImagesPerS: 1000 / med.ms, MsPerImage: med.ms, MinMs: rounds[0].ms, MaxMs: rounds[len(rounds)-1].ms,
		StagesMs: med.stages, PeakRSSMB: peakRSSMB(), RoIs: med.rois, Threads: parallel.Threads(),
		Height: o.Height, Width: o.Width, LoadMs: loadMs, CPUMs: cpuMs,
	}, nil
}
