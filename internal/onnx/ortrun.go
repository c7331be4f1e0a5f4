package onnx

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// This file runs exported models with ONNX Runtime for Node through the repository's
// examples/onnxruntime/run.js: the independent check that vlbert's tests (this
// package's and cmd/vlbert's demo test) share. Nothing in vlbert itself needs it.

// ORTTensor is one named input or output of a run: float32 or int64 values,
// row-major, with their dimensions.
type ORTTensor struct {
	Name string
	Dims []int
	F32  []float32
	I64  []int64
}

// ORTResult is the outputs of one run, or ONNX Runtime's error for it.
type ORTResult struct {
	Outputs map[string]ORTTensor
	Err     string
	MS      float64 // median wall time of the run (repeat > 1)
	MinMS   float64 // fastest
}

// ErrToolMissing marks errors of FindORT that mean node or onnxruntime-node is not
// installed (tests skip on it unless RequireTools).
var ErrToolMissing = errors.New("ONNX tool missing")

// toolMissing is FindORT's error: the message says which tool and how to install it.
type toolMissing string

func (e toolMissing) Error() string        { return string(e) }
func (e toolMissing) Is(target error) bool { return target == ErrToolMissing }

// RequireTools reports whether VLBERT_REQUIRE_ONNX_TOOLS is set: CI, where .ci/run
// installed the tools, so a missing tool is a failure rather than a skip.
func RequireTools() bool { return os.Getenv("VLBERT_REQUIRE_ONNX_TOOLS") != "" }

// FindORT returns a node_modules directory holding onnxruntime-node:
// $VLBERT_ORT_NODE_MODULES, else repoRoot/.cache/onnxruntime/node_modules (where
// .ci/run installs it). The error wraps ErrToolMissing and says which tool is missing.
func FindORT(repoRoot string) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", toolMissing("ONNX Runtime check skipped: no node on PATH (.ci/run installs nodejs and npm's onnxruntime-node)")
	}
	dir := os.Getenv("VLBERT_ORT_NODE_MODULES")
	if dir == "" {
		abs, err := filepath.Abs(filepath.Join(repoRoot, ".cache", "onnxruntime", "node_modules"))
		if err != nil {
			return "", err
		}
		dir = abs
	}
	cmd := exec.Command("node", "-e", "require('onnxruntime-node')")
	cmd.Env = append(os.Environ(), "NODE_PATH="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", toolMissing(fmt.Sprintf("ONNX Runtime check skipped: onnxruntime-node does not load from %s (%v: %s); install it with .ci/run or set VLBERT_ORT_NODE_MODULES",
			dir, err, firstErrorLine(string(out))))
	}
	return dir, nil
}

// firstErrorLine is the first line of node's output that names an error.
func firstErrorLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "Error") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(s)
}

// RunWithORT runs model once per input set with repoRoot/examples/onnxruntime/run.js
// (node, with nodePath from FindORT as NODE_PATH), exchanging tensors through files
// in workDir. repeat > 1 times each run. A run ONNX Runtime rejects has its Err set;
// the error return is for the runner itself failing.
func RunWithORT(repoRoot, nodePath, model, workDir string, runs [][]ORTTensor, repeat int) ([]ORTResult, error) {
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
			s := inSpec{Name: in.Name, Dims: in.Dims, File: "in" + strconv.Itoa(i) + "_" + in.Name + ".bin"}
			var raw []byte
			if in.I64 != nil {
				s.Type, raw = "int64", int64Bytes(in.I64)
			} else {
				s.Type, raw = "float32", float32Bytes(in.F32)
			}
			if err := os.WriteFile(filepath.Join(workDir, s.File), raw, 0o644); err != nil {
				return nil, err
			}
			specs = append(specs, s)
		}
		req.Runs = append(req.Runs, specs)
	}
	js, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(workDir, "request.json"), js, 0o644); err != nil {
		return nil, err
	}
	script, err := filepath.Abs(filepath.Join(repoRoot, "examples", "onnxruntime", "run.js"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", script, model, workDir, strconv.Itoa(repeat))
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("onnxruntime runner: %v\n%s", err, out)
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
	if js, err = os.ReadFile(filepath.Join(workDir, "response.json")); err != nil {
		return nil, fmt.Errorf("onnxruntime runner: %w", err)
	}
	if err := json.Unmarshal(js, &resp); err != nil {
		return nil, fmt.Errorf("onnxruntime runner: response.json: %w", err)
	}
	res := make([]ORTResult, len(resp.Runs))
	for i, r := range resp.Runs {
		res[i] = ORTResult{Err: r.Error, Outputs: map[string]ORTTensor{}}
		if i < len(resp.MS) && resp.MS[i] != nil {
			res[i].MS = *resp.MS[i]
		}
		if i < len(resp.MinMS) && resp.MinMS[i] != nil {
			res[i].MinMS = *resp.MinMS[i]
		}
		for _, o := range r.Outputs {
			raw, err := os.ReadFile(filepath.Join(workDir, o.File))
			if err != nil {
				return nil, fmt.Errorf("onnxruntime runner: %w", err)
			}
			ot := ORTTensor{Name: o.Name, Dims: o.Dims}
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
	return res, nil
}
