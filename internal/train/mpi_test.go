package train

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMPIDataParallelEquivalence trains the real VQA trainer
// (internal/mpitrain: train.Run with dist.Init's Comm) as a 2-process MPI job
// with a batch of b per rank, and as one process with a batch of 2b on the
// same samples: with shuffling, flipping and every dropout site off
// (train.Options.NoDropout: dropout masks are drawn per batch position, so two
// batchings of the same samples would draw different masks), an epoch of 2b
// questions is one step, rank r taking the contiguous half r, and the loss is
// a batch mean, so averaging the ranks' gradients is the 2b-batch gradient.
// The final weights after several steps, with gradient clipping on, must
// agree over every tensor. SGD keeps the update linear in the gradient
// (AdamW's first step turns float32 noise in near-zero gradients into full
// ±lr steps). Without mpirun the test skips (fails with CI set).
func TestMPIDataParallelEquivalence(t *testing.T) {
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("mpirun not found; CI must install the Debian packages openmpi-bin and libopenmpi-dev")
		}
		t.Skip("mpirun not found (apt-get install openmpi-bin libopenmpi-dev); skipping the MPI test")
	}
	tmp := t.TempDir()
	prog := filepath.Join(tmp, "mpitrain")
	if out, err := exec.Command("go", "build", "-o", prog, "./internal/mpitrain").CombinedOutput(); err != nil {
		t.Fatalf("building the helper: %v\n%s", err, out)
	}
	cfgPath, err := filepath.Abs("../../configs/synth/vqa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const (
		n      = 72 // training questions of the synthetic world: one step per epoch
		epochs = 4
	)
	job := func(name string, np, batch int) string {
		out := filepath.Join(tmp, name)
		result := out + ".result"
		args := []string{"-cfg", cfgPath, "-world", worldDir, "-out", out, "-result", result,
			"-batch", strconv.Itoa(batch), "-epochs", strconv.Itoa(epochs), "-set", "TRAIN.CLIP_GRAD_NORM=1", "-set", "TRAIN.LR=0.02"}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, prog, args...)
		if np > 1 {
			cmd = exec.CommandContext(ctx, mpirun, append([]string{"--allow-run-as-root", "--oversubscribe", "-np", strconv.Itoa(np), prog}, args...)...)
		}
		cmd.Dir = tmp
		cmd.WaitDelay = 5 * time.Second
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s job: %v\n%s", name, err, out)
		}
		t.Logf("%d rank(s) x batch %d: %v", np, batch, time.Since(t0).Round(time.Millisecond))
		ckpt, err := os.ReadFile(result)
		if err != nil || len(ckpt) == 0 {
			t.Fatalf("%s job wrote no checkpoint path: %v", name, err)
		}
		return string(ckpt)
	}
	singlePath, doublePath := job("single", 1, n), job("mpi", 2, n/2)
	single, singleState := ckptTensors(t, singlePath)
	double, doubleState := ckptTensors(t, doublePath)
	if singleState.Global != epochs || doubleState.Global != epochs {
		t.Fatalf("batches: single %d, 2 ranks %d, want %d", singleState.Global, doubleState.Global, epochs)
	}
	first := func(final string) string {
		return filepath.Join(filepath.Dir(final), "vl-bert_synth_vqa-0000.safetensors")
	}
	single1, _ := ckptTensors(t, first(singlePath))
	var maxDiff, maxAbs, moved float64
	params := 0
	for k, x := range double {
		if strings.HasPrefix(k, "optimizer.") {
			continue
		}
		y, y1 := single[k], single1[k]
		if y == nil || y1 == nil || len(y.F32) != len(x.F32) || len(y1.F32) != len(x.F32) {
			t.Fatalf("tensor %s missing or reshaped", k)
		}
		params++
		maxDiff = max(maxDiff, maxAbsDiff(x.F32, y.F32))
		moved = max(moved, maxAbsDiff(y.F32, y1.F32))
		for _, v := range x.F32 {
			maxAbs = max(maxAbs, math.Abs(float64(v)))
		}
	}
	t.Logf("after %d steps, %d parameter tensors: max |2 ranks - 1 rank| = %.3g (max |w| %.3g); change over steps 2-%d %.3g",
		epochs, params, maxDiff, maxAbs, epochs, moved)
	if params < 30 {
		t.Fatalf("only %d parameter tensors compared", params)
	}
	if maxDiff > 1e-5*max(maxAbs, 1) {
		t.Errorf("after %d steps: 2 ranks x batch %d differ from 1 rank x batch %d by %.3g", epochs, n/2, n, maxDiff)
	}
	if moved < 1e-3 {
		t.Errorf("weights barely moved after step 1 (%.3g): the steps did not happen", moved)
	}
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i, v := range a {
		d = max(d, math.Abs(float64(v)-float64(b[i])))
	}
	return d
}
