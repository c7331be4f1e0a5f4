package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// TestBenchCNNJSON runs `bench features` and `bench e2e` at a tiny image
// size (the full ResNet-101 C4 network, one step) and checks the JSON: keys,
// per-stage times, FLOP counts and min <= median <= max.
func TestBenchCNNJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds ResNet-101 (42 M parameters) twice")
	}
	for _, train := range []bool{false, true} {
		var out bytes.Buffer
		opts := benchCNNOptions{Height: 64, Width: 96, Images: 1, Boxes: 2, Threads: 2, Steps: 2, JSON: true, Train: train}
		if err := runBenchCNN(context.Background(), opts, &out); err != nil {
			t.Fatal(err)
		}
		var res benchCNNResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("output %q is not JSON: %v", out.String(), err)
		}
		want := "features"
		if train {
			want = "e2e"
		}
		if res.Bench != want || res.Threads != 2 || res.Boxes != 2 || res.Height != 64 || len(res.StepMsValues) != 2 {
			t.Errorf("JSON %s does not echo the options", out.String())
		}
		if !(res.MinMs > 0 && res.MinMs <= res.MsPerStep && res.MsPerStep <= res.MaxMs) {
			t.Errorf("want 0 < min <= median <= max, got %g %g %g", res.MinMs, res.MsPerStep, res.MaxMs)
		}
		for _, s := range []string{"stem", "layer1", "layer2", "layer3", "roialign", "head", "pool"} {
			if _, ok := res.StageMs[s]; !ok {
				t.Errorf("stage_ms lacks %q: %v", s, res.StageMs)
			}
		}
		// 2 RoIs of the dilated head: 2 x 5.86 GFLOP (14x14 res5 bottlenecks).
		if res.HeadGF < 11.5 || res.HeadGF > 12 || res.BackboneGF <= 0 {
			t.Errorf("head %g GFLOP, backbone %g GFLOP", res.HeadGF, res.BackboneGF)
		}
		if train != (res.BackwardMs > 0) || train != (res.FlopsStep > (res.BackboneGF+res.HeadGF)*1e9*1.5) {
			t.Errorf("train=%v: backward %g ms, %g flops per step", train, res.BackwardMs, res.FlopsStep)
		}
	}
}

func TestBenchCNNFlags(t *testing.T) {
	for _, args := range [][]string{{"--boxes", "0"}, {"--height", "8"}, {"--steps", "0"}, {"--threads", "-1"}} {
		if _, err := parseBenchCNN("bench features", args, 1, 36, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if err := benchE2ECommand(context.Background(), []string{"--int8"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "int8") {
		t.Errorf("bench e2e --int8: %v, want an unknown-flag error", err)
	}
}
