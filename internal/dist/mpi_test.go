package dist

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run internal/mpitest under Open MPI's mpirun with two ranks. Without
// mpirun they skip, or fail when the CI environment variable is set (CI installs
// openmpi-bin and libopenmpi-dev).

var helper struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// mpiHelper returns the mpirun path and the built helper program.
func mpiHelper(t *testing.T) (mpirun, prog string) {
	t.Helper()
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("mpirun not found; CI must install the Debian packages openmpi-bin and libopenmpi-dev")
		}
		t.Skip("mpirun not found (apt-get install openmpi-bin libopenmpi-dev); skipping the MPI tests")
	}
	helper.once.Do(func() {
		dir, err := os.MkdirTemp("", "vlbert-dist-")
		if err != nil {
			helper.err = err
			return
		}
		helper.path = filepath.Join(dir, "mpitest")
		cmd := exec.Command("go", "build", "-o", helper.path, "./internal/mpitest")
		helper.out, helper.err = cmd.CombinedOutput()
	})
	if helper.err != nil {
		t.Fatalf("building the helper: %v\n%s", helper.err, helper.out)
	}
	return mpirun, helper.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if helper.path != "" {
		os.RemoveAll(filepath.Dir(helper.path))
	}
	os.Exit(code)
}

// mpiRun runs the helper on np ranks (np == 0: without mpirun) and returns its
// combined output, exit status and duration; it fails the test after limit.
func mpiRun(t *testing.T, np int, limit time.Duration, env []string, args ...string) (string, int, time.Duration) {
	t.Helper()
	mpirun, prog := mpiHelper(t)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var cmd *exec.Cmd
	if np == 0 {
		cmd = exec.CommandContext(ctx, prog, args...)
	} else {
		mpiArgs := []string{"--allow-run-as-root", "--oversubscribe", "-np", strconv.Itoa(np)}
		for _, kv := range env {
			mpiArgs = append(mpiArgs, "-x", kv[:strings.IndexByte(kv, '=')])
		}
		cmd = exec.CommandContext(ctx, mpirun, append(append(mpiArgs, prog), args...)...)
	}
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	took := time.Since(t0)
	if ctx.Err() != nil {
		t.Fatalf("mpirun %v did not finish within %v:\n%s", args, limit, out.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	return out.String(), code, took
}

func TestMPICollectives(t *testing.T) {
	out, code, _ := mpiRun(t, 2, 60*time.Second, nil, "-mode", "check")
	if code != 0 || !strings.Contains(out, "OK rank 0 of 2") || !strings.Contains(out, "OK rank 1 of 2") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// A nil dereference must stay a Go panic after MPI_Init.
func TestMPIKeepsGoSignals(t *testing.T) {
	out, code, _ := mpiRun(t, 2, 60*time.Second, nil, "-mode", "nil")
	if code != 0 || strings.Count(out, "mpitest: OK") != 2 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// A rank SIGKILLed between collectives ends the whole job with a non-zero status.
func TestMPIKilledRank(t *testing.T) {
	out, code, took := mpiRun(t, 2, 60*time.Second, nil, "-mode", "kill")
	if code == 0 || strings.Contains(out, "mpitest: OK") {
		t.Fatalf("job with a killed rank exited %d after %v:\n%s", code, took, out)
	}
	t.Logf("exit %d after %v", code, took.Round(time.Millisecond))
}

// A rank that stops taking part: the waiting rank's watchdog ends the job, naming the
// operation.
func TestMPIHungRank(t *testing.T) {
	out, code, took := mpiRun(t, 2, 60*time.Second, []string{"VLBERT_DIST_TIMEOUT=1s"}, "-mode", "hang")
	if code == 0 || !strings.Contains(out, "MPI_Allreduce") || !strings.Contains(out, "did not finish within 1s") {
		t.Fatalf("job with a hung rank exited %d after %v:\n%s", code, took, out)
	}
	t.Logf("exit %d after %v", code, took.Round(time.Millisecond))
}

// Ranks that issue different numbers of collectives (one is in MPI_Finalize, the
// other in MPI_Allreduce) must not hang.
func TestMPIUnevenCollectives(t *testing.T) {
	out, code, took := mpiRun(t, 2, 60*time.Second, []string{"VLBERT_DIST_TIMEOUT=1s"}, "-mode", "uneven")
	if code == 0 || !strings.Contains(out, "did not finish within 1s") {
		t.Fatalf("job with uneven collectives exited %d after %v:\n%s", code, took, out)
	}
	t.Logf("exit %d after %v", code, took.Round(time.Millisecond))
}

// Two ranks with batch b train the tiny MLP to the same weights as one process with
// batch 2b on the same samples.
func TestMPIDataParallelSGD(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one.bin"), filepath.Join(dir, "two.bin")
	const steps = 20
	if out, code, _ := mpiRun(t, 0, 60*time.Second, nil, "-mode", "sgd", "-batch", "8", "-steps", strconv.Itoa(steps), "-out", one); code != 0 {
		t.Fatalf("single process: exit %d:\n%s", code, out)
	}
	if out, code, _ := mpiRun(t, 2, 60*time.Second, nil, "-mode", "sgd", "-batch", "4", "-steps", strconv.Itoa(steps), "-out", two); code != 0 {
		t.Fatalf("two ranks: exit %d:\n%s", code, out)
	}
	w1, l1 := readSGD(t, one, steps)
	w2, l2 := readSGD(t, two, steps)
	for i := range w1 {
		if d := math.Abs(float64(w1[i] - w2[i])); d > 1e-5*(1+math.Abs(float64(w1[i]))) {
			t.Errorf("weight %d: one process %v, two ranks %v", i, w1[i], w2[i])
		}
	}
	for i := range l1 {
		if d := math.Abs(l1[i] - l2[i]); d > 1e-5 {
			t.Errorf("loss at step %d: one process %v, two ranks %v", i, l1[i], l2[i])
		}
	}
	if !(l1[steps-1] < 0.8*l1[0]) {
		t.Errorf("loss did not go down: %v", l1)
	}
}

func readSGD(t *testing.T, path string, steps int) ([]float32, []float64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const nParams = 5*7 + 7 + 3*7 + 3
	if len(b) != 4*nParams+8*steps {
		t.Fatalf("%s: %d bytes, want %d", path, len(b), 4*nParams+8*steps)
	}
	w := make([]float32, nParams)
	l := make([]float64, steps)
	r := bytes.NewReader(b)
	binary.Read(r, binary.LittleEndian, w)
	binary.Read(r, binary.LittleEndian, l)
	return w, l
}

// TestMPIBandwidth measures the gradient all-reduce; it runs only when
// VLBERT_DIST_BENCH_FLOATS is set (e.g. 115000000 for VL-BERT-base):
//
//	VLBERT_DIST_BENCH_FLOATS=115000000 go test -run MPIBandwidth -v ./internal/dist
func TestMPIBandwidth(t *testing.T) {
	n := os.Getenv("VLBERT_DIST_BENCH_FLOATS")
	if n == "" {
		t.Skip("set VLBERT_DIST_BENCH_FLOATS to measure")
	}
	out, code, _ := mpiRun(t, 2, 10*time.Minute, nil, "-mode", "bench", "-floats", n, "-runs", "7")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	t.Log("\n" + out)
}
