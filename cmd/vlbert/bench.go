package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/parallel"
)

// benchTargets are the things `vlbert bench` measures, one per first argument.
// A new target (e.g. "model") adds an entry here and its own runBenchX.
var benchTargets = map[string]struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}{
	"gemm": {"SGEMM throughput at one shape", benchGemmCommand},
}

func init() {
	register(&command{name: "bench", summary: "measure performance (bench gemm ...)", run: runBench})
}

// runBench dispatches on the first argument: `vlbert bench gemm --m 800 ...`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	names := make([]string, 0, len(benchTargets))
	for name := range benchTargets {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: vlbert bench <target> [flags]\n\ntargets:")
		for _, name := range names {
			fmt.Fprintf(stderr, "  %-8s %s\n", name, benchTargets[name].summary)
		}
		if len(args) == 0 {
			return usagef("missing bench target (one of %s)", strings.Join(names, ", "))
		}
		return nil
	}
	target, ok := benchTargets[args[0]]
	if !ok {
		return usagef("unknown bench target %q (one of %s)", args[0], strings.Join(names, ", "))
	}
	return target.run(ctx, args[1:], stdout, stderr)
}

// benchGemmOptions are the flags of `vlbert bench gemm`.
type benchGemmOptions struct {
	M, K, N        int
	Threads        int  // 0: parallel.Threads() (GOMAXPROCS)
	TransA, TransB bool // multiply by op(A) = Aᵀ, op(B) = Bᵀ
	Backend        string
	Kernel         string // go backend: micro-kernel name (see gemm.Kernels); "" = default
	JSON           bool
	Runs           int           // timed runs; the median is reported
	MinTime        time.Duration // each run repeats the product for at least this long
}

// benchGemmResult is the JSON that `vlbert bench gemm --json` prints.
type benchGemmResult struct {
	GFLOPS    float64 `json:"gflops"` // median over runs
	M         int     `json:"m"`
	K         int     `json:"k"`
	N         int     `json:"n"`
	TransA    bool    `json:"ta"`
	TransB    bool    `json:"tb"`
	Threads   int     `json:"threads"`
	Backend   string  `json:"backend"`
	Kernel    string  `json:"kernel"`
	Blocking  [3]int  `json:"blocking,omitempty"` // go backend: mc, kc, nc (VLBERT_GEMM_BLOCKING)
	MinGFLOPS float64 `json:"min_gflops"`
	MaxGFLOPS float64 `json:"max_gflops"`
	Runs      int     `json:"runs"`
}

func benchGemmCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opts benchGemmOptions
	fs := newFlagSet("bench gemm", stderr)
	fs.IntVar(&opts.M, "m", 800, "rows of op(A) and C")
	fs.IntVar(&opts.K, "k", 768, "columns of op(A), rows of op(B)")
	fs.IntVar(&opts.N, "n", 768, "columns of op(B) and C")
	fs.IntVar(&opts.Threads, "threads", 0, "worker threads (0: GOMAXPROCS)")
	fs.BoolVar(&opts.TransA, "ta", false, "transpose A (A is stored k x m)")
	fs.BoolVar(&opts.TransB, "tb", false, "transpose B (B is stored n x k)")
	fs.StringVar(&opts.Backend, "backend", "go", "go (vlbert's SGEMM) or openblas (system library, if installed)")
	fs.StringVar(&opts.Kernel, "kernel", "", "go backend: force a micro-kernel ("+strings.Join(gemm.Kernels(), ", ")+"); default: the fastest")
	fs.BoolVar(&opts.JSON, "json", false, "print one JSON object")
	fs.IntVar(&opts.Runs, "runs", 7, "timed runs after warm-up; the median is reported")
	fs.DurationVar(&opts.MinTime, "min-time", 200*time.Millisecond, "minimum duration of one timed run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return runBenchGemm(ctx, opts, stdout)
}

// runBenchGemm times C = op(A)·op(B) at one shape and prints GFLOP/s (2mnk flops per
// product): the median, minimum and maximum over opts.Runs runs after a warm-up.
func runBenchGemm(ctx context.Context, opts benchGemmOptions, stdout io.Writer) error {
	if opts.M < 1 || opts.K < 1 || opts.N < 1 {
		return usagef("--m, --k and --n must be at least 1 (got %d, %d, %d)", opts.M, opts.K, opts.N)
	}
	if opts.Threads < 0 {
		return usagef("--threads must be at least 0 (got %d)", opts.Threads)
	}
	if opts.Runs < 1 {
		return usagef("--runs must be at least 1 (got %d)", opts.Runs)
	}
	threads := opts.Threads
	if threads == 0 {
		threads = parallel.Threads()
	}
	var sgemm func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	var kernel string
	switch opts.Backend {
	case "go":
		if opts.Kernel != "" {
			prevKernel, err := gemm.SetKernel(opts.Kernel)
			if err != nil {
				return usagef("--kernel: %v", err)
			}
			defer gemm.SetKernel(prevKernel)
		}
		prev := parallel.SetThreads(threads)
		defer parallel.SetThreads(prev)
		sgemm, kernel = gemm.Sgemm, gemm.KernelName()
	case "openblas":
		if opts.Kernel != "" {
			return usagef("--kernel applies to --backend go only")
		}
		lib, core, err := gemm.OpenBLASInfo()
		if err != nil {
			return fmt.Errorf("bench gemm: --backend openblas: %w", err)
		}
		gemm.OpenBLASSetThreads(threads)
		sgemm, kernel = gemm.OpenBLASSgemm, fmt.Sprintf("openblas:%s:%s", lib, core)
	default:
		return usagef("--backend must be go or openblas (got %q)", opts.Backend)
	}

	m, k, n := opts.M, opts.K, opts.N
	lda, ldb := k, n
	if opts.TransA {
		lda = m
	}
	if opts.TransB {
		ldb = k
	}
	rng := rand.New(rand.NewPCG(1, 2))
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = rng.Float32() - 0.5
	}
	for i := range b {
		b[i] = rng.Float32() - 0.5
	}
	product := func() { sgemm(opts.TransA, opts.TransB, m, n, k, 1, a, lda, b, ldb, 0, c, n) }
	flops := 2 * float64(m) * float64(n) * float64(k)

	// Warm-up: buffers, library load, clocks; also sizes the repeat count.
	start := time.Now()
	product()
	reps := 1
	if per := time.Since(start); per < opts.MinTime {
		reps = int(opts.MinTime/max(per, time.Microsecond)) + 1
	}
	for range min(reps, 3) {
		product()
	}
	rates := make([]float64, 0, opts.Runs)
	for range opts.Runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		for range reps {
			product()
		}
		rates = append(rates, flops*float64(reps)/time.Since(start).Seconds()/1e9)
	}
	slices.Sort(rates)
	res := benchGemmResult{
		GFLOPS: rates[len(rates)/2], M: m, K: k, N: n, TransA: opts.TransA, TransB: opts.TransB,
		Threads: threads, Backend: opts.Backend, Kernel: kernel,
		MinGFLOPS: rates[0], MaxGFLOPS: rates[len(rates)-1], Runs: opts.Runs,
	}
	if opts.Backend == "go" {
		mc, kc, nc := gemm.Blocking()
		res.Blocking = [3]int{mc, kc, nc}
	}
	if opts.JSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	_, err := fmt.Fprintf(stdout, "sgemm m=%d k=%d n=%d ta=%v tb=%v threads=%d backend=%s kernel=%s: %.1f GFLOP/s (min %.1f, max %.1f over %d runs)\n",
		m, k, n, opts.TransA, opts.TransB, threads, opts.Backend, kernel, res.GFLOPS, res.MinGFLOPS, res.MaxGFLOPS, opts.Runs)
	return err
}
