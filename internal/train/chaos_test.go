package train

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/weights"
)

// The chaos test re-executes the test binary as a training child that
// checkpoints after every batch (TRAIN.AUTO_RESUME: it continues from what
// the previous child left), and kills it with SIGKILL at seeded random
// moments, many inside checkpoint writes. After every kill, every checkpoint
// in the directory must read completely; at the end an in-process resume
// must finish bit-identical to an uninterrupted run, with one metrics.jsonl
// record per batch and no temporary file left.
const (
	chaosEnv     = "VLBERT_TRAIN_CHAOS_OUT"
	chaosBatches = 8
)

func chaosConfig(t testing.TB, world, out string) *config.Config {
	return tinyConfig(t, "vqa", world, out, "TRAIN.END_EPOCH=3", "TRAIN.AUTO_RESUME=true", "LOG_FREQUENT=1")
}

func runChaosChild(out string) int {
	cfg := chaosConfig(&fatalTB{}, os.Getenv("VLBERT_TRAIN_CHILD_WORLD"), out)
	_, err := Run(context.Background(), cfg, Options{CfgPath: cfgName, CheckpointEvery: 1, StopAfter: chaosBatches})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}

func TestChaosKills(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary several times")
	}
	seed := uint64(20261208)
	if s := os.Getenv("VLBERT_CHAOS_SEED"); s != "" { // other schedules: VLBERT_CHAOS_SEED=n go test -run Chaos
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = n
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	straightDir, dir := t.TempDir(), t.TempDir()
	straight := run(t, context.Background(), chaosConfig(t, worldDir, straightDir), Options{StopAfter: chaosBatches})
	outDir := chaosConfig(t, worldDir, dir).OutputDir("", cfgName)

	kills, finished, temps := 0, false, 0
	start := time.Now()
	for kills < 6 && !finished && time.Since(start) < 40*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), chaosEnv+"="+dir, "VLBERT_TRAIN_CHILD_WORLD="+worldDir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Startup takes a few hundred ms; a batch and its checkpoint tens.
		delay := time.Duration(150+rng.IntN(700)) * time.Millisecond
		select {
		case err := <-exited:
			if err != nil {
				cancel()
				t.Fatalf("child failed: %v\n%s", err, stderr.String())
			}
			finished = true
		case <-time.After(delay):
			cmd.Process.Kill()
			<-exited
			kills++
		}
		cancel()
		temps += checkEveryCheckpoint(t, outDir, kills)
	}
	t.Logf("seed %d: %d kills (finished on its own: %v, %d temporary files of cut writes seen) in %v", seed, kills, finished, temps, time.Since(start).Round(time.Millisecond))

	resumed := run(t, context.Background(), chaosConfig(t, worldDir, dir), Options{StopAfter: chaosBatches})
	if resumed.State.Global != chaosBatches {
		t.Fatalf("resumed run ended at %+v", resumed.State)
	}
	sameCheckpoint(t, straight.Checkpoint, resumed.Checkpoint)
	_, order := metricsLog(t, resumed.OutputDir)
	_, want := metricsLog(t, straight.OutputDir)
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("metrics.jsonl records after the kills:\n%v\nuninterrupted:\n%v", order, want)
	}
	entries, _ := os.ReadDir(outDir)
	for _, e := range entries {
		if isStaleTemp(e.Name()) {
			t.Errorf("temporary file %s left after the resumed run", e.Name())
		}
	}
}

// checkEveryCheckpoint reads every published checkpoint in dir completely
// and returns the number of temporary files (writes cut by the kill).
func checkEveryCheckpoint(t *testing.T, dir string, kill int) (temps int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0 // the child was killed before it made the directory
	}
	for _, e := range entries {
		if isStaleTemp(e.Name()) {
			temps++
		}
		if !strings.HasSuffix(e.Name(), ckptExt) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		_, meta, err := weights.ReadSafetensors(path)
		if err == nil {
			_, err = stateOf(meta, path)
		}
		if err != nil {
			t.Errorf("after kill %d: %s does not load: %v", kill, e.Name(), err)
		}
	}
	return temps
}
