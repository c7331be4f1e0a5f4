package onnx

import (
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"testing"
)

// The checks against independent ONNX tools run when the tools are installed (CI
// installs them in .ci/run): Debian's python3-onnx for the checker, and Node with
// npm's onnxruntime-node for running the models. Elsewhere they skip, saying which
// tool is missing.

const repoRoot = "../.."

// checkModel runs onnx.checker.check_model(full_check=True) (which includes strict
// shape inference) on the model file.
func checkModel(t *testing.T, path string) {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import onnx").Run(); err != nil {
		missingTool(t, "ONNX checker unavailable (%s -c 'import onnx': %v); .ci/run installs Debian's python3-onnx", py, err)
	}
	out, err := exec.Command(py, "-c", "import sys, onnx; onnx.checker.check_model(sys.argv[1], full_check=True)", path).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx checker rejects %s: %v\n%s", filepath.Base(path), err, out)
	}
}

// ortNodePath finds a node_modules directory holding onnxruntime-node (FindORT),
// skipping or failing the test (missingTool) when the tools are not installed.
func ortNodePath(t *testing.T) string {
	t.Helper()
	dir, err := FindORT(repoRoot)
	if errors.Is(err, ErrToolMissing) {
		missingTool(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// missingTool skips the test, saying which tool is missing, or fails it when
// VLBERT_REQUIRE_ONNX_TOOLS is set (CI, where .ci/run installed the tools).
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if RequireTools() {
		t.Fatalf("VLBERT_REQUIRE_ONNX_TOOLS is set but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// ortTensor and ortRun are the runner's tensors and results (ortrun.go).
type (
	ortTensor = ORTTensor
	ortRun    = ORTResult
)

// runORT runs the model once per input set with examples/onnxruntime/run.js.
func runORT(t *testing.T, model string, runs [][]ortTensor, repeat int) []ortRun {
	t.Helper()
	res, err := RunWithORT(repoRoot, ortNodePath(t), model, t.TempDir(), runs, repeat)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// compareTol checks |got − want| <= atol + rtol·|want| element by element (the
// golden tolerance of vlbert's parity tests) and logs the largest difference.
func compareTol(t *testing.T, what string, got, want []float32, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	maxAbs, bad, worst := 0.0, 0, 0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
			d = math.Inf(1)
		}
		if d > maxAbs {
			maxAbs, worst = d, i
		}
		if d > atol+rtol*math.Abs(float64(want[i])) {
			bad++
		}
	}
	t.Logf("%s: n=%d max |diff| %.3g", what, len(got), maxAbs)
	if bad > 0 {
		t.Errorf("%s: %d of %d values outside %g + %g|ref|; worst [%d] got %g want %g", what, bad, len(got), atol, rtol, worst, got[worst], want[worst])
	}
}
