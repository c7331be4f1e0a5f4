package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/parallel"
	"github.com/vlbert/vlbert/internal/serve"
	"github.com/vlbert/vlbert/internal/visual"
)

// serveOptions are the flags of `vlbert serve`.
type serveOptions struct {
	inferFlags
	addr           string
	workers        int
	maxInFlight    int
	batchWindow    time.Duration
	maxBatch       int
	maxBody        int64
	maxPixels      int64
	requestTimeout time.Duration
	maxBodyReads   int
	minBodyRate    int64
	allowHosts     string
	httpProc       bool
	quiet          bool
}

func init() {
	register(&command{name: "serve", summary: "HTTP JSON inference server (VQA, grounding, VCR, attention)",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o serveOptions
			fs := newFlagSet("serve", stderr)
			o.registerModel(fs)
			o.registerInt8(fs)
			fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
			fs.IntVar(&o.workers, "workers", 1, "model replicas (they share one copy of the weights; each adds only its activations; 1 is best on few cores)")
			fs.IntVar(&o.maxInFlight, "max-inflight", 0, "admitted inference requests; more get 429 (default 2 per worker, times --max-batch when batching)")
			fs.DurationVar(&o.batchWindow, "batch-window", 0, "VQA requests arriving within this window of the first are answered by one batched forward (0: off; a few ms)")
			fs.IntVar(&o.maxBatch, "max-batch", 8, "with --batch-window: requests per batched forward at most")
			fs.Int64Var(&o.maxBody, "max-body", 16<<20, "request body limit in bytes")
			fs.Int64Var(&o.maxPixels, "max-image-pixels", 4_000_000, "decoded image limit (width·height)")
			fs.DurationVar(&o.requestTimeout, "request-timeout", time.Minute, "per inference request, waiting for a replica included")
			fs.IntVar(&o.maxBodyReads, "max-body-reads", 16, "request bodies read and validated at once; more get 429")
			fs.Int64Var(&o.minBodyRate, "min-body-rate", 256<<10, "bytes/s a client must keep up while sending its body (deadline 2 s + size/rate); slower ones get 408")
			fs.StringVar(&o.allowHosts, "allow-host", "", "comma-separated Host names answered besides loopback ones when --addr is a loopback address")
			fs.BoolVar(&o.httpProc, "http-proc", false, "run Go with one processor more than the model's threads (on a quiet machine 429s and /healthz then run beside a forward pass; on a busy one it measured worse, so off by default)")
			fs.BoolVar(&o.quiet, "quiet", false, "no request log")
			fs.StringVar(&o.detector, "detector", "", "detector weights (as vlbert detect --weights): requests may send an \"image\" without \"boxes\" (regions from the detector)")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert serve --ckpt C [--cfg CFG] [--addr 127.0.0.1:8080]")
				fmt.Fprintln(stderr, "\nEndpoints: POST /v1/vqa {\"question\", \"features\" | \"image\"+\"boxes\", \"top_k\"},")
				fmt.Fprintln(stderr, "POST /v1/ground {\"expression\", ...}, POST /v1/vcr {\"question\", \"choices\", ...},")
				fmt.Fprintln(stderr, "POST /v1/attention {\"text\", \"layer\", ...}, GET /healthz, GET /metrics (Prometheus).")
				fmt.Fprintln(stderr, "With --int8, /v1/attention still runs float32 (it reads every layer's attention maps).")
				fmt.Fprintln(stderr, "Requests must send Content-Type: application/json; on a loopback --addr, only loopback")
				fmt.Fprintln(stderr, "Host names are answered (--allow-host adds more). A full server answers 429 at once.")
				fmt.Fprintln(stderr, "SIGTERM or SIGINT stops accepting and lets admitted requests finish.")
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if err := o.check("serve", false); err != nil {
				return err
			}
			if o.workers < 1 {
				return usagef("serve: --workers %d, want >= 1", o.workers)
			}
			if o.batchWindow < 0 || o.batchWindow > time.Second || o.maxBatch < 1 {
				return usagef("serve: --batch-window %v (want 0 to 1s) and --max-batch %d (want >= 1)", o.batchWindow, o.maxBatch)
			}
			return runServe(ctx, o, stdout, stderr, nil)
		}})
}

// runServe loads the checkpoint and serves until ctx ends. ready, when not nil,
// receives the bound address once the server listens (tests use port 0).
func runServe(ctx context.Context, o serveOptions, stdout, stderr io.Writer, ready chan<- string) error {
	p, err := o.load(o.workers)
	if err != nil {
		return err
	}
	cfg := serve.Config{
		Limits:         serve.Limits{MaxBodyBytes: o.maxBody, MaxRegions: o.maxRegions, MaxImagePixels: o.maxPixels, MaxTokens: o.maxTokens},
		MaxInFlight:    o.maxInFlight,
		BatchWindow:    o.batchWindow,
		MaxBatch:       o.maxBatch,
		MaxBodyReads:   o.maxBodyReads,
		MinBodyRate:    o.minBodyRate,
		RequestTimeout: o.requestTimeout,
	}
	for _, h := range strings.Split(o.allowHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.AllowedHosts = append(cfg.AllowedHosts, h)
		}
	}
	if o.detector != "" {
		n, err := loadDetector(o.detector)
		if err != nil {
			return err
		}
		if err := detectorFits(n, p.FeatureDim()); err != nil {
			return err
		}
		var mu sync.Mutex // one network, one image at a time
		cfg.Detector = func(ctx context.Context, img *visual.RGBImage) (*infer.Regions, error) {
			mu.Lock()
			defer mu.Unlock()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			r, err := regionsOf(n, img, o.maxRegions, p.FeatureDim())
			if err != nil {
				return nil, err
			}
			return r.Regions, nil
		}
	}
	if !o.quiet {
		cfg.Logger = log.New(stderr, "vlbert serve: ", log.LstdFlags|log.Lmicroseconds)
	}
	if o.httpProc && runtime.GOMAXPROCS(0) <= parallel.Threads() {
		// The model's kernels keep parallel.Threads() goroutines busy; one more
		// processor lets the HTTP side (admission, 429s, /healthz, /metrics)
		// run beside a forward pass instead of after it.
		runtime.GOMAXPROCS(parallel.Threads() + 1)
	}
	s := serve.New(p, cfg)
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(stdout, "serving %s (%s, %d worker(s), image input %v, detector %v, int8 %v) on http://%s\n", o.ckpt, p.Model.Task, p.Workers(), p.HasVisual(), cfg.Detector != nil, p.Int8, ln.Addr())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	if err := s.Serve(ctx, ln); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "server stopped")
	return nil
}
