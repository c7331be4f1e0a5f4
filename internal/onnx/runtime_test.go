package onnx

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// ortNodePath finds a node_modules directory holding onnxruntime-node:
// $VLBERT_ORT_NODE_MODULES, else .cache/onnxruntime/node_modules in the repository
// (where .ci/run installs it).
func ortNodePath(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		missingTool(t, "ONNX Runtime check skipped: no node on PATH (.ci/run installs nodejs and npm's onnxruntime-node)")
	}
	dir := os.Getenv("VLBERT_ORT_NODE_MODULES")
	if dir == "" {
		abs, err := filepath.Abs(filepath.Join(repoRoot, ".cache", "onnxruntime", "node_modules"))
		if err != nil {
			t.Fatal(err)
		}
		dir = abs
	}
	cmd := exec.Command("node", "-e", "require('onnxruntime-node')")
	cmd.Env = append(os.Environ(), "NODE_PATH="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		missingTool(t, "ONNX Runtime check skipped: onnxruntime-node does not load from %s (%v: %s); install it with .ci/run or set VLBERT_ORT_NODE_MODULES",
			dir, err, firstLine(string(out)))
	}
	return dir
}

// missingTool skips the test, saying which tool is missing, or fails it when
// VLBERT_REQUIRE_ONNX_TOOLS is set (CI, where .ci/run installed the tools).
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("VLBERT_REQUIRE_ONNX_TOOLS") != "" {
		t.Fatalf("VLBERT_REQUIRE_ONNX_TOOLS is set but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// firstLine is the first line of node's output that names an error.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "Error") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(s)
}

// ortTensor is one named input or output of a run.
type ortTensor struct {
	Name string
	Dims []int
	F32  []float32
	I64  []int64
}

// ortRun is the outputs of one run, or ONNX Runtime's error.
type ortRun struct {
	Outputs map[string]ortTensor
	Err     string
	MS      float64 // median wall time of the run (repeat > 1)
	MinMS   float64 // fastest
}

// runORT runs the model once per input set with examples/onnxruntime/run.js.
func runORT(t *testing.T, model string, runs [][]ortTensor, repeat int) []ortRun {
	t.Helper()
	nodePath := ortNodePath(t)
	dir := t.TempDir()
	type inSpec struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Dims []int  `json:"dims"`
		File string `json:"file"`
	}
	var req struct {
		Runs [][]inSpec `json:"runs"`
	}
	for i, run := range runs {
		var specs []inSpec
		for _, in := range run {
			s := inSpec{Name: in.Name, Dims: in.Dims, File: inputFile(i, in.Name)}
			var raw []byte
			if in.I64 != nil {
				s.Type, raw = "int64", int64Bytes(in.I64)
			} else {
				s.Type, raw = "float32", float32Bytes(in.F32)
			}
			if err := os.WriteFile(filepath.Join(dir, s.File), raw, 0o644); err != nil {
				t.Fatal(err)
			}
			specs = append(specs, s)
		}
		req.Runs = append(req.Runs, specs)
	}
	js, _ := json.Marshal(req)
	if err := os.WriteFile(filepath.Join(dir, "request.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join(repoRoot, "examples", "onnxruntime", "run.js"))
	cmd := exec.Command("node", script, model, dir, itoa(repeat))
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("onnxruntime runner: %v\n%s", err, out)
	}
	var resp struct {
		Runs []struct {
			Outputs []struct {
				Name string `json:"name"`
				Dims []int  `json:"dims"`
				Type string `json:"type"`
				File string `json:"file"`
			} `json:"outputs"`
			Error string `json:"error"`
		} `json:"runs"`
		MS    []*float64 `json:"ms"`
		MinMS []*float64 `json:"min_ms"`
	}
	js, err := os.ReadFile(filepath.Join(dir, "response.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &resp); err != nil {
		t.Fatal(err)
	}
	res := make([]ortRun, len(resp.Runs))
	for i, r := range resp.Runs {
		res[i] = ortRun{Err: r.Error, Outputs: map[string]ortTensor{}}
		if i < len(resp.MS) && resp.MS[i] != nil {
			res[i].MS = *resp.MS[i]
		}
		if i < len(resp.MinMS) && resp.MinMS[i] != nil {
			res[i].MinMS = *resp.MinMS[i]
		}
		for _, o := range r.Outputs {
			raw, err := os.ReadFile(filepath.Join(dir, o.File))
			if err != nil {
				t.Fatal(err)
			}
			ot := ortTensor{Name: o.Name, Dims: o.Dims}
			if o.Type == "int64" {
				ot.I64 = make([]int64, len(raw)/8)
				for k := range ot.I64 {
					ot.I64[k] = int64(binary.LittleEndian.Uint64(raw[8*k:]))
				}
			} else {
				ot.F32 = make([]float32, len(raw)/4)
				for k := range ot.F32 {
					ot.F32[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
				}
			}
			res[i].Outputs[o.Name] = ot
		}
	}
	return res
}

func inputFile(run int, name string) string { return "in" + itoa(run) + "_" + name + ".bin" }

func itoa(i int) string { return strconv.Itoa(i) }

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
