package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/model"
)

func TestBenchModelJSON(t *testing.T) {
	for _, mode := range []struct{ train, int8 bool }{{false, false}, {true, false}, {false, true}} {
		train := mode.train
		var out bytes.Buffer
		opts := benchModelOptions{Size: "small", Batch: 2, TextLen: 9, Regions: 4, Train: train, Int8: mode.int8, Threads: 1, Steps: 3, Warmup: 1, JSON: true}
		if err := runBenchModel(context.Background(), opts, &out); err != nil {
			t.Fatal(err)
		}
		var res benchModelResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("output %q is not JSON: %v", out.String(), err)
		}
		var raw map[string]any
		_ = json.Unmarshal(out.Bytes(), &raw)
		for _, key := range []string{"seq_per_s", "gflops", "ms_per_step", "peak_rss_mb", "min_ms", "max_ms", "threads", "train", "int8", "cpu_ms_per_step"} {
			if _, ok := raw[key]; !ok {
				t.Errorf("JSON %s lacks %q", out.String(), key)
			}
		}
		if (res.Int8Kernel != "") != mode.int8 {
			t.Errorf("int8_kernel %q with --int8=%v", res.Int8Kernel, mode.int8)
		}
		if res.Train != train || res.Int8 != mode.int8 || res.Threads != 1 || res.Batch != 2 || res.SeqLen != 9+4+1 || res.Steps != 3 || len(res.TimesMs) != 3 {
			t.Errorf("JSON %s does not echo the options", out.String())
		}
		if !(res.MinMs > 0 && res.MinMs <= res.MsPerStep && res.MsPerStep <= res.MaxMs) {
			t.Errorf("want 0 < min <= median <= max, got %g %g %g", res.MinMs, res.MsPerStep, res.MaxMs)
		}
		if want := 2 / (res.MsPerStep / 1e3); res.SeqPerS < want*0.999 || res.SeqPerS > want*1.001 {
			t.Errorf("seq_per_s %g, want batch/median = %g", res.SeqPerS, want)
		}
		if res.PeakRSSMB <= 0 || res.CPUMsStep <= 0 || res.GFLOPS <= 0 || res.Params <= 0 {
			t.Errorf("implausible result %s", out.String())
		}
		if train && !(res.Loss > 0) {
			t.Errorf("training loss %g, want > 0", res.Loss)
		}
	}
}

// TestBenchModelFeatDim times a model of 256-d region features (--feat-dim,
// NETWORK.IMAGE_FEAT_DIM): it trains and reports the width.
func TestBenchModelFeatDim(t *testing.T) {
	var out bytes.Buffer
	opts := benchModelOptions{Size: "small", Batch: 2, TextLen: 6, Regions: 3, FeatDim: 256, Train: true, Threads: 1, Steps: 1, JSON: true}
	if err := runBenchModel(context.Background(), opts, &out); err != nil {
		t.Fatal(err)
	}
	var res benchModelResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.FeatDim != 256 || !(res.Loss > 0) {
		t.Errorf("feat_dim %d, loss %g", res.FeatDim, res.Loss)
	}
}

func TestBenchModelInt8Train(t *testing.T) {
	opts := benchModelOptions{Size: "small", Batch: 1, TextLen: 6, Regions: 2, Train: true, Int8: true, Threads: 1, Steps: 1, JSON: true}
	err := runBenchModel(context.Background(), opts, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "--int8") {
		t.Fatalf("--int8 --train: error %v, want one naming --int8", err)
	}
}

// TestModelFlops pins the documented formula at the VL-BERT-base shape (batch 8, text
// 64, 36 regions: L = 101), counted by hand.
func TestModelFlops(t *testing.T) {
	cfg, err := benchModelConfig("base")
	if err != nil {
		t.Fatal(err)
	}
	const objDS = 2 * 288 * 4096 * 768                             // R = 8·36 rows of obj_downsample
	const layer = 8*808*768*768 + 4*808*768*3072 + 4*8*101*101*768 // N = 8·101
	const head = 2*8*768*768 + 2*8*768*3129                        // transform + classifier
	const fwd = objDS + 12*layer + head                            // 142.1 GFLOP
	if got := modelFlops(&cfg, 8, 64, 36, false, true); got != fwd {
		t.Errorf("forward flops %g, want %g", got, float64(fwd))
	}
	// Answers only: the last layer's K, V for all 808 rows, the rest for the 8 [MASK] rows.
	const last = 4*808*768*768 + 4*8*768*768 + 4*8*768*3072 + 4*8*101*768
	if got := modelFlops(&cfg, 8, 64, 36, false, false); got != fwd-layer+last {
		t.Errorf("answers-only forward flops %g, want %g", got, float64(fwd-layer+last))
	}
	if got := modelFlops(&cfg, 8, 64, 36, true, true); got != 3*fwd-objDS {
		t.Errorf("training flops %g, want %g", got, float64(3*fwd-objDS))
	}
	if cfg.HiddenSize != 768 || cfg.NumHiddenLayers != 12 || cfg.NumAttentionHeads != 12 || cfg.IntermediateSize != 3072 ||
		cfg.VocabSize != 30522 || cfg.AnswerVocabSize != 3129 || cfg.Task != model.TaskVQA {
		t.Errorf("base config %+v is not VL-BERT-base VQA", cfg)
	}
}

func TestBenchModelCommandLine(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"bench", "model", "--size", "small", "--batch", "1", "--text-len", "6", "--regions", "2", "--steps", "1", "--warmup", "0", "--threads", "1"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "ms/step") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	for _, args := range [][]string{
		{"bench", "model", "--size", "huge"},
		{"bench", "model", "--batch", "0"},
		{"bench", "model", "--text-len", "4"},
		{"bench", "model", "--regions", "0"},
		{"bench", "model", "--text-len", "500", "--regions", "36"},
		{"bench", "model", "--steps", "0"},
		{"bench", "model", "--threads", "-1"},
	} {
		out.Reset()
		errb.Reset()
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}
