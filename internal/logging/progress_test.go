package logging

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	// 2 samples per batch, 10 batches per epoch, 2 epochs, a line every 4 batches.
	p := NewProgress(&buf, false, 4, 2, 10, 2)
	p.now = fakeClock(time.Unix(0, 0), time.Second) // one call per batch: 1 s per batch
	ph := Phases{Data: 10 * time.Millisecond, Forward: 100 * time.Millisecond, Backward: 200 * time.Millisecond, Optimizer: 5 * time.Millisecond}
	metrics := []Metric{{"Loss", 0.5}, {"Acc", 0.25}}
	for e := 0; e < 2; e++ {
		for b := 0; b < 10; b++ {
			p.Batch(e, b, ph, metrics)
		}
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{
		"Epoch[0] Batch [0]\tSpeed: - samples/sec ETA: - d - h - m\tTrain-Loss=0.500000,\tAcc=0.250000,\t",
		// 4 batches × 2 samples in 4 s; remaining (2−0−1)·10+10−4 = 16 batches = 32 samples / 2 per s = 16 s -> 0 m.
		// Phase sums cover batches 0..4 (the Speedometer does not reset them at an epoch start).
		"Epoch[0] Batch [4]\tSpeed: 2.00 samples/s ETA: 0 d  0 h  0 m\tData: 0.013 Tran: 0.000 F: 0.125 B: 0.250 O: 0.006 M: 0.000\tTrain-Loss=0.500000,\tAcc=0.250000,\t",
		"Epoch[0] Batch [8]\tSpeed: 2.00 samples/s ETA: 0 d  0 h  0 m\tData: 0.010 Tran: 0.000 F: 0.100 B: 0.200 O: 0.005 M: 0.000\tTrain-Loss=0.500000,\tAcc=0.250000,\t",
		"Epoch[1] Batch [0]\tSpeed: - samples/sec ETA: - d - h - m\tTrain-Loss=0.500000,\tAcc=0.250000,\t",
	}
	if len(lines) != 6 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], w)
		}
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("plain mode wrote a carriage return")
	}
}

func TestProgressETAAndRank(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, false, 1, 32, 100000, 3)
	p.Rank = 2
	p.now = fakeClock(time.Unix(0, 0), time.Second)
	p.Batch(0, 0, Phases{}, nil)
	p.Batch(0, 1, Phases{}, nil)
	// speed 32/s; remaining (3−1)·100000 + 100000 − 1 batches, ×32/32 s = 299999 s
	// = 4999 min = 3 d 11 h 19 m.
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := "Rank[  2]Epoch[0] Batch [1]\tSpeed: 32.00 samples/s ETA: 3 d 11 h 19 m\tData: 0.000 Tran: 0.000 F: 0.000 B: 0.000 O: 0.000 M: 0.000"
	if len(lines) != 2 || lines[1] != want || lines[0] != "Rank[  2]Epoch[0] Batch [0]\tSpeed: - samples/sec ETA: - d - h - m" {
		t.Errorf("got:\n%s\nwant second line:\n%s", buf.String(), want)
	}
}

func TestProgressTerminalBar(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, true, 5, 4, 10, 1)
	p.now = fakeClock(time.Unix(0, 0), 50*time.Millisecond)
	for b := 0; b < 10; b++ {
		p.Batch(0, b, Phases{}, []Metric{{"Loss", 1.5}})
	}
	p.Done()
	out := buf.String()
	if !strings.Contains(out, "\r\x1b[Kepoch 0 [") || !strings.HasSuffix(out, "\n") {
		t.Errorf("no redrawn bar in %q", out)
	}
	// The final redraw shows the full bar and the metric.
	last := out[strings.LastIndex(out, "\r"):]
	if !strings.Contains(last, "[========================] 10/10") || !strings.Contains(last, "Loss=1.5") ||
		!strings.Contains(last, "samples/s") || !strings.Contains(last, "ETA 0m00s") {
		t.Errorf("last bar %q", last)
	}
	// Periodic Speedometer lines still appear, each on its own line after clearing the bar.
	if !strings.Contains(out, "\r\x1b[KEpoch[0] Batch [5]\tSpeed: ") {
		t.Errorf("speedometer line missing or not clearing the bar: %q", out)
	}
	// Redraws are throttled to RedrawEvery (100 ms at 50 ms per batch).
	if n := strings.Count(out, "\r\x1b[Kepoch"); n < 4 || n > 7 {
		t.Errorf("%d redraws for 10 batches", n)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
}

func TestTrainStepScalars(t *testing.T) {
	got := TrainStepScalars([]float64{5e-4, 1e-3}, []float64{1.25e-4, 2.5e-4}, 0.5, []Metric{{"SoftAcc", 0.25}})
	want := []Scalar{{"Initial-LR/Group_0", 5e-4}, {"LR/Group_0", 1.25e-4}, {"Initial-LR/Group_1", 1e-3}, {"LR/Group_1", 2.5e-4},
		{"Train-Loss", 0.5}, {"Train-SoftAcc", 0.25}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if TensorBoardDir("/o/tensorboard_logs", -1) != "/o/tensorboard_logs" || TensorBoardDir("/o/tb", 3) != "/o/tb/rank3" {
		t.Error("TensorBoardDir")
	}
}
