package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/logging"
)

// metricsLog reads metrics.jsonl as "step kind" -> metrics (time dropped),
// failing on a duplicated record.
func metricsLog(t *testing.T, outDir string) (map[string]map[string]float64, []string) {
	t.Helper()
	recs := readMetricsLog(t, outDir)
	out := map[string]map[string]float64{}
	var order []string
	for _, r := range recs {
		kind := "train"
		if isValRecord(r) {
			kind = "val"
		}
		key := fmt.Sprintf("%s %d/%d", kind, r.Epoch, r.Step)
		if _, dup := out[key]; dup {
			t.Errorf("metrics.jsonl has %s twice", key)
		}
		out[key] = r.Metrics
		order = append(order, key)
	}
	return out, order
}

// Finding 6: after a resume (even one from a checkpoint older than what the
// interrupted run logged), metrics.jsonl holds every step once with the
// values of an uninterrupted run (running averages restored), and the new
// TensorBoard file purges the steps after the resume point.
func TestLogsContinueAfterResume(t *testing.T) {
	over := []string{"TRAIN.END_EPOCH=2", "LOG_FREQUENT=1"}
	straightDir, dir := t.TempDir(), t.TempDir()
	straight := run(t, context.Background(), tinyConfig(t, "vqa", worldDir, straightDir, over...), Options{})

	cfg := tinyConfig(t, "vqa", worldDir, dir, over...)
	prefix := cfg.ModelPrefixPath("", cfgName)
	run(t, context.Background(), cfg, Options{StopAfter: 2})
	saved, err := os.ReadFile(latestCheckpoint(prefix))
	if err != nil {
		t.Fatal(err)
	}
	// The run goes on to batch 4, then "dies" having checkpointed only at 2:
	// steps 2 and 3 are logged, and will be logged again.
	run(t, context.Background(), tinyConfig(t, "vqa", worldDir, dir, over...), Options{Resume: true, StopAfter: 4})
	if err := os.WriteFile(latestCheckpoint(prefix), saved, 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	res, err := Run(context.Background(), tinyConfig(t, "vqa", worldDir, dir, over...), Options{CfgPath: cfgName, Resume: true, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if res.State.Global != straight.State.Global {
		t.Fatalf("resumed to %d batches, straight %d", res.State.Global, straight.State.Global)
	}
	for _, want := range []string{"metrics.jsonl: removed 2 records", "running averages (Train-*) continue from"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}

	want, wantOrder := metricsLog(t, straight.OutputDir)
	got, gotOrder := metricsLog(t, res.OutputDir)
	if strings.Join(gotOrder, ",") != strings.Join(wantOrder, ",") {
		t.Fatalf("records\n%v\nstraight\n%v", gotOrder, wantOrder)
	}
	for _, k := range wantOrder {
		for name, v := range want[k] {
			if g := got[k][name]; g != v && !(math.IsNaN(g) && math.IsNaN(v)) {
				t.Errorf("%s %s = %v, uninterrupted %v", k, name, g, v)
			}
		}
	}

	// The last event file (the final resume) starts by purging from batch 2.
	tb := filepath.Join(res.OutputDir, "tensorboard_logs")
	var files []string
	filepath.WalkDir(tb, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	if len(files) < 3 {
		t.Fatalf("event files %v", files)
	}
	f, err := os.Open(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	recs, err := logging.ReadRecords(strings.NewReader(string(b)))
	if err != nil || len(recs) < 2 {
		t.Fatalf("event records: %d, %v", len(recs), err)
	}
	if step, ok := logging.SessionStartStep(recs[1]); !ok || step != 2 {
		t.Errorf("second event of %s: session start %v at step %d, want a purge at 2", files[len(files)-1], ok, step)
	}
}
