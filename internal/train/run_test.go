package train

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/dist"
	"github.com/vlbert/vlbert/internal/logging"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/weights"
)

const cfgName = "synth.yaml" // options CfgPath: names the output directory

func run(t *testing.T, ctx context.Context, cfg *config.Config, opts Options) *Result {
	t.Helper()
	opts.CfgPath = cfgName
	res, err := Run(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// readMetricsLog reads every record of outDir/metrics.jsonl.
func readMetricsLog(t *testing.T, outDir string) []logging.Record {
	t.Helper()
	f, err := os.Open(filepath.Join(outDir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := logging.ReadMetrics(f)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// trainLosses reads the Train-Loss of every batch from metrics.jsonl.
func trainLosses(t *testing.T, outDir string) []float64 {
	t.Helper()
	recs := readMetricsLog(t, outDir)
	var out []float64
	for _, r := range recs {
		if v, ok := r.Metrics["Train-Loss"]; ok {
			out = append(out, v)
		}
	}
	return out
}

// valRecordsAt counts the metrics.jsonl validation records at step.
func valRecordsAt(t *testing.T, outDir string, step int64) int {
	recs := readMetricsLog(t, outDir)
	n := 0
	for _, r := range recs {
		for k := range r.Metrics {
			if strings.HasPrefix(k, "Val-") && r.Step == step {
				n++
				break
			}
		}
	}
	return n
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// checkLearns trains and asserts that the loss of the last batches is below
// that of the first ones, and that the run left its files.
func checkLearns(t *testing.T, name string, epochs int, extra ...string) *Result {
	out := t.TempDir()
	cfg := tinyConfig(t, name, worldDir, out, append([]string{"TRAIN.END_EPOCH=" + strconv.Itoa(epochs)}, extra...)...)
	res := run(t, context.Background(), cfg, Options{ValEvery: 4})
	losses := trainLosses(t, res.OutputDir)
	if n := valRecordsAt(t, res.OutputDir, 4); n != 1 {
		t.Errorf("%d validation records at batch 4 (ValEvery 4), want 1", n)
	}
	k := max(2, len(losses)/5)
	first, last := mean(losses[:k]), mean(losses[len(losses)-k:])
	t.Logf("%s: %d batches in %v, loss first %d %.4f, last %d %.4f; val %v", name, len(losses), res.Elapsed, k, first, k, last, res.Val)
	if !(last < 0.9*first) {
		t.Errorf("%s: loss did not fall: first batches %.4f, last %.4f", name, first, last)
	}
	prefix := cfg.ModelPrefixPath("", cfgName)
	for _, f := range []string{epochCheckpoint(prefix, epochs-1), bestCheckpoint(prefix), filepath.Join(res.OutputDir, cfgName)} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	tb, _ := filepath.Glob(filepath.Join(res.OutputDir, "tensorboard_logs", "events.out.tfevents.*"))
	if len(tb) != 1 {
		t.Fatalf("tensorboard event files %v", tb)
	}
	checkScalars(t, tb[0], "Train-Loss", "LR/Group_0", "Initial-LR/Group_0", "grad-para/Total-Norm", "Val-"+firstMetric(name))
	return res
}

func firstMetric(task string) string {
	return map[string]string{"vqa": "SoftAcc", "ground": "RefAcc", "pretrain": "MLMAccWVC"}[task]
}

func checkScalars(t *testing.T, path string, tags ...string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := logging.ReadEvents(f)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		for _, s := range e.Scalars {
			seen[s.Tag] = true
		}
	}
	for _, tag := range tags {
		if !seen[tag] {
			t.Errorf("tensorboard: no %q scalar", tag)
		}
	}
}

// mustTask is NewTask for tests; the task closes when the test ends.
func mustTask(t testing.TB, cfg *config.Config, splits ...string) Task {
	t.Helper()
	task, err := NewTask(cfg, splits...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Close() })
	return task
}

func TestVQALearns(t *testing.T) {
	res := checkLearns(t, "vqa", 3)
	if res.Val["SoftAcc"] <= 0 || res.Val["SoftAcc"] > 1 {
		t.Errorf("Val SoftAcc %v", res.Val["SoftAcc"])
	}
	// Evaluate on the last epoch's checkpoint reproduces the validation the
	// run logged at that epoch.
	cfg := tinyConfig(t, "vqa", worldDir, t.TempDir(), "TRAIN.END_EPOCH=3")
	got, names, err := Evaluate(context.Background(), cfg, res.Checkpoint, "val", InferenceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if got[n] != res.Val[n] {
			t.Errorf("%s: Evaluate %v, training validation %v", n, got[n], res.Val[n])
		}
	}
	// With the encoder in int8 the metrics move by the rounding only.
	q8, _, err := Evaluate(context.Background(), cfg, res.Checkpoint, "val", InferenceOptions{Int8: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("int8 evaluation %v, float32 %v", q8, got)
	if q8["AnsLoss"] == got["AnsLoss"] || math.Abs(q8["AnsLoss"]-got["AnsLoss"]) > 0.02*got["AnsLoss"] || math.Abs(q8["SoftAcc"]-got["SoftAcc"]) > 0.03 {
		t.Errorf("int8 evaluation %v, float32 %v: want the loss within 2%% (but not equal) and SoftAcc within 0.03", q8, got)
	}
	// Evaluation runs in Inference mode (the last layer for the [MASK] rows only);
	// the full last layer gives the same metrics, and the mode is restored after.
	task := mustTask(t, cfg, "val")
	m, err := loadForInference(cfg, task, res.Checkpoint, InferenceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.(*model.VQA).AllRows = true
	full, err := evaluate(context.Background(), cfg, task, m, "val", dist.Single{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Base().Inference {
		t.Error("evaluate left the model in Inference mode")
	}
	for _, n := range names {
		if d := math.Abs(full[n] - got[n]); d > 1e-5*math.Max(1, math.Abs(full[n])) {
			t.Errorf("%s: answers-only evaluation %v, full last layer %v", n, got[n], full[n])
		}
	}
}

func TestRefCOCOLearns(t *testing.T) {
	res := checkLearns(t, "ground", 3)
	for _, n := range []string{"RefAcc", "ClsAcc", "ClsPosAcc", "ClsPosFrac", "ClsLoss"} {
		if v, ok := res.Val[n]; !ok || math.IsNaN(v) {
			t.Errorf("validation metric %s = %v in %v", n, v, res.Val)
		}
	}
}

func TestPretrainLearns(t *testing.T) {
	res := checkLearns(t, "pretrain", 3, "TRAIN.LR=5e-4")
	for _, n := range []string{"MLMAccWVC", "MLMAccAUX", "MVRCAccuracy", "MLMLossWVC", "MLMLossAUX", "MVRCLoss"} {
		if _, ok := res.Val[n]; !ok {
			t.Errorf("no validation metric %s in %v", n, res.Val)
		}
	}
}

// ckptTensors reads every tensor of a checkpoint.
func ckptTensors(t *testing.T, path string) (map[string]*weights.Tensor, State) {
	t.Helper()
	ts, meta, err := weights.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	var s State
	if err := json.Unmarshal([]byte(meta["trainer"]), &s); err != nil {
		t.Fatal(err)
	}
	return ts, s
}

// sameCheckpoint asserts bit-identical weights and optimizer state.
func sameCheckpoint(t *testing.T, a, b string) {
	t.Helper()
	ta, sa := ckptTensors(t, a)
	tb, sb := ckptTensors(t, b)
	if sa.Global != sb.Global || sa.Updates != sb.Updates || sa.Epoch != sb.Epoch || sa.Batch != sb.Batch {
		t.Errorf("states differ: %+v vs %+v", sa, sb)
	}
	if len(ta) != len(tb) {
		t.Fatalf("%d vs %d tensors", len(ta), len(tb))
	}
	diff := 0
	for k, x := range ta {
		y := tb[k]
		if y == nil || !slices.Equal(x.Shape, y.Shape) || !slices.EqualFunc(x.F32, y.F32, func(p, q float32) bool { return math.Float32bits(p) == math.Float32bits(q) }) || !slices.Equal(x.I64, y.I64) {
			diff++
			if diff < 5 {
				t.Errorf("tensor %s differs", k)
			}
		}
	}
	if diff > 0 {
		t.Errorf("%d of %d tensors differ", diff, len(ta))
	}
}

// TestResumeBitExact: N batches straight and N/2 + Ctrl-C + resume + N/2
// give bit-identical weights and optimizer state, with dropout on, with
// gradient accumulation (the stop lands between a backward and its update,
// so pending gradients are saved) and across an epoch boundary. (The
// kill-and-resume test covers accumulation off.)
func TestResumeBitExact(t *testing.T) {
	for _, tc := range []struct {
		name   string
		accum  int
		stopAt int // the run is cancelled after this many batches
	}{{"accumulate", 2, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			over := []string{"TRAIN.GRAD_ACCUMULATE_STEPS=" + strconv.Itoa(tc.accum), "TRAIN.END_EPOCH=2"}
			straightDir, resumedDir := t.TempDir(), t.TempDir()
			straight := tinyConfig(t, "vqa", worldDir, straightDir, over...)
			resStraight := run(t, context.Background(), straight, Options{})

			cfg := tinyConfig(t, "vqa", worldDir, resumedDir, over...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := run(t, ctx, cfg, Options{OnBatch: func(s State) {
				if s.Global == tc.stopAt {
					cancel()
				}
			}})
			if !first.Interrupted || first.State.Global != tc.stopAt {
				t.Fatalf("first half: interrupted %v at %d, want a stop at %d", first.Interrupted, first.State.Global, tc.stopAt)
			}
			if tc.accum > 1 && !first.State.Pending {
				t.Errorf("the stop at batch %d should leave accumulated gradients pending", tc.stopAt)
			}
			cfg2 := tinyConfig(t, "vqa", worldDir, resumedDir, over...)
			resumed := run(t, context.Background(), cfg2, Options{Resume: true})
			if resumed.Interrupted || resumed.State.Global != resStraight.State.Global {
				t.Fatalf("resumed run ended at %+v, straight at %+v", resumed.State, resStraight.State)
			}
			sameCheckpoint(t, resStraight.Checkpoint, resumed.Checkpoint)
			if resumed.Val["SoftAcc"] != resStraight.Val["SoftAcc"] {
				t.Errorf("val SoftAcc %v vs %v", resumed.Val["SoftAcc"], resStraight.Val["SoftAcc"])
			}
		})
	}
}

// The kill-and-resume test re-executes the test binary as a training child
// (childEnv names its output directory), kills it with SIGKILL once it has
// written a mid-run checkpoint, resumes in process and compares with a
// straight run.
// Both compared runs stop after killStop batches (mid-epoch, with a
// -latest checkpoint).
const (
	childEnv = "VLBERT_TRAIN_CHILD_OUT"
	killStop = 6
)

func childConfig(t testing.TB, world, out string) *config.Config {
	return tinyConfig(t, "vqa", world, out, "TRAIN.END_EPOCH=2")
}

// runChild trains slowly, checkpointing every batch, until killed.
func runChild(out string) int {
	cfg := childConfig(&fatalTB{}, os.Getenv("VLBERT_TRAIN_CHILD_WORLD"), out)
	_, err := Run(context.Background(), cfg, Options{CfgPath: cfgName, CheckpointEvery: 1,
		OnBatch: func(State) { time.Sleep(300 * time.Millisecond) }})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}

func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	straightDir, dir := t.TempDir(), t.TempDir()
	straight := run(t, context.Background(), childConfig(t, worldDir, straightDir), Options{StopAfter: killStop})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a stuck child cannot hang the test
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, "VLBERT_TRAIN_CHILD_WORLD="+worldDir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	prefix := childConfig(t, worldDir, dir).ModelPrefixPath("", cfgName)
	deadline := time.Now().Add(60 * time.Second)
	killedAt := -1
	for time.Now().Before(deadline) {
		if s, err := readState(latestCheckpoint(prefix)); err == nil && s.Global >= 2 {
			killedAt = s.Global
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if killedAt < 0 {
		t.Fatalf("the child wrote no checkpoint in time; stderr: %s", stderr.String())
	}
	if killedAt >= straight.State.Global {
		t.Fatalf("the child finished (%d batches) before it was killed", killedAt)
	}
	resumed := run(t, context.Background(), childConfig(t, worldDir, dir), Options{Resume: true, StopAfter: killStop})
	if resumed.State.Global != straight.State.Global || straight.State.Global != killStop {
		t.Fatalf("resumed run ended at %+v, straight at %+v", resumed.State, straight.State)
	}
	sameCheckpoint(t, straight.Checkpoint, resumed.Checkpoint)
	t.Logf("child killed after a checkpoint at batch %d; resumed to %d bit-identically", killedAt, resumed.State.Global)
}

// fatalTB lets the child build its config with the test helpers.
type fatalTB struct{ testing.TB }

func (fatalTB) Helper() {}
func (fatalTB) Fatal(args ...any) {
	panic(args)
}

// TestFP16ConfigTrainsInFloat32: the original's e2e and large configs set
// TRAIN.FP16 (apex O2 on GPUs); they run as they are, in float32, and say so.
func TestFP16ConfigTrainsInFloat32(t *testing.T) {
	var log strings.Builder
	cfg := tinyConfig(t, "vqa", worldDir, t.TempDir(), "TRAIN.FP16=true", "TRAIN.FP16_LOSS_SCALE=dynamic", "TRAIN.END_EPOCH=1")
	res := run(t, context.Background(), cfg, Options{StopAfter: 1, Log: &log})
	if res.Checkpoint == "" || res.State.Global != 1 {
		t.Fatalf("no step taken: %+v", res.State)
	}
	if !strings.Contains(log.String(), "TRAIN.FP16 is true: training in float32") {
		t.Errorf("the log does not say that FP16 trains in float32:\n%s", log.String())
	}
}
