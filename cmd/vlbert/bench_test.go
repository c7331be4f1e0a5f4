package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/gemm"
)

func TestBenchGemmJSON(t *testing.T) {
	var out bytes.Buffer
	opts := benchGemmOptions{M: 13, K: 7, N: 17, Threads: 2, TransB: true, Backend: "go", JSON: true, Runs: 3, MinTime: time.Millisecond}
	if err := runBenchGemm(context.Background(), opts, &out); err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q is not JSON: %v", out.String(), err)
	}
	for _, key := range []string{"gflops", "m", "k", "n", "threads", "kernel", "min_gflops", "max_gflops"} {
		if _, ok := res[key]; !ok {
			t.Errorf("JSON %s lacks %q", out.String(), key)
		}
	}
	if res["m"] != 13.0 || res["k"] != 7.0 || res["n"] != 17.0 || res["threads"] != 2.0 || res["kernel"] != gemm.KernelName() {
		t.Errorf("JSON %s does not echo the options", out.String())
	}
	lo, med, hi := res["min_gflops"].(float64), res["gflops"].(float64), res["max_gflops"].(float64)
	if !(lo > 0 && lo <= med && med <= hi) {
		t.Errorf("want 0 < min <= median <= max, got %g %g %g", lo, med, hi)
	}
}

func TestBenchCommandLine(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"bench", "gemm", "--m", "5", "--k", "3", "--n", "4", "--ta", "--runs", "1", "--min-time", "1ms"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "GFLOP/s") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	for _, args := range [][]string{
		{"bench"},
		{"bench", "nothing"},
		{"bench", "gemm", "--m", "0"},
		{"bench", "gemm", "--backend", "cuda"},
		{"bench", "gemm", "--threads", "-1"},
		{"bench", "gemm", "--kernel", "no-such-kernel"},
		{"bench", "gemm", "--backend", "openblas", "--kernel", "generic"},
	} {
		out.Reset()
		errb.Reset()
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}

func TestBenchGemmOpenBLAS(t *testing.T) {
	var out bytes.Buffer
	opts := benchGemmOptions{M: 9, K: 9, N: 9, Threads: 1, Backend: "openblas", Runs: 1, MinTime: time.Millisecond}
	err := runBenchGemm(context.Background(), opts, &out)
	if !gemm.OpenBLASAvailable() {
		if err == nil {
			t.Fatal("openblas backend without a library did not fail")
		}
		t.Skipf("OpenBLAS not installed: %v", err)
	}
	if err != nil || !strings.Contains(out.String(), "openblas") {
		t.Fatalf("err %v, output %q", err, out.String())
	}
}

func TestBenchGemmCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := runBenchGemm(ctx, benchGemmOptions{M: 2, K: 2, N: 2, Backend: "go", Runs: 1, MinTime: time.Millisecond}, &bytes.Buffer{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestBenchGemmKernel(t *testing.T) {
	before := gemm.KernelName()
	var out bytes.Buffer
	opts := benchGemmOptions{M: 4, K: 4, N: 4, Threads: 1, Backend: "go", Kernel: "generic", JSON: true, Runs: 1, MinTime: time.Millisecond}
	if err := runBenchGemm(context.Background(), opts, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"kernel":"generic"`) {
		t.Errorf("output %q does not report the forced kernel", out.String())
	}
	if gemm.KernelName() != before {
		t.Errorf("kernel left at %s, want %s restored", gemm.KernelName(), before)
	}
}
