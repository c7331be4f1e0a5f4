package onnx

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/parallel"
)

// TestMeasureOnnxRuntime times vlbert's forward and ONNX Runtime's (CPU, through
// examples/onnxruntime/run.js) on the same BERT-base VQA model (random weights) and
// batch, in alternating rounds, float32 and int8, with the same thread count. It is
// a measurement, not a check: it runs only with VLBERT_ONNX_BENCH=1 and logs, per
// configuration, the fastest and the median of each round's repetitions, the
// per-round ratios and the machine's load.
//
//	VLBERT_ONNX_BENCH=1 [VLBERT_ONNX_BENCH_ROUNDS=3] [VLBERT_ONNX_BENCH_THREADS=2] \
//	    go test ./internal/onnx -run MeasureOnnxRuntime -v -timeout 60m
func TestMeasureOnnxRuntime(t *testing.T) {
	if os.Getenv("VLBERT_ONNX_BENCH") == "" {
		t.Skip("a measurement of several minutes: set VLBERT_ONNX_BENCH=1 to run it")
	}
	const B, textLen, regions, reps = 8, 64, 36, 3
	envInt := func(k string, def int) int {
		if n, err := strconv.Atoi(os.Getenv(k)); err == nil && n > 0 {
			return n
		}
		return def
	}
	rounds, threads := envInt("VLBERT_ONNX_BENCH_ROUNDS", 3), envInt("VLBERT_ONNX_BENCH_THREADS", 2)
	defer parallel.SetThreads(parallel.SetThreads(threads))
	t.Setenv("ORT_THREADS", strconv.Itoa(threads))

	c := model.BaseConfig(model.TaskVQA)
	m, err := model.NewVQA(c)
	if err != nil {
		t.Fatal(err)
	}
	m.InitWeights(1)
	spec := specOf(c)
	p32 := exportTo(t, spec, weightsOf(m.Base()), Options{})
	p8 := exportTo(t, spec, weightsOf(m.Base()), Options{Int8: true})

	rng := rand.New(rand.NewPCG(1, 1))
	s := shape{B: B, T: textLen - 4, R: regions + 1}
	for b := 0; b < B; b++ {
		s.nBoxes, s.nText = append(s.nBoxes, regions+1), append(s.nText, textLen-4)
	}
	boxes, info := boxesFor(rng, s, -2)
	q := tokens(rng, s.B, s.T, s.nText, false, spec.Vocab)
	bt := &model.VQABatch{Boxes: model.Boxes{B: B, NB: s.R, Data: boxes, ImInfo: info, InfoW: 4}, LQ: s.T, Question: to32(q)}
	feed := [][]ortTensor{{{Name: "boxes", Dims: []int{B, s.R, 4 + DefaultFeatureDim}, F32: boxes},
		{Name: "im_info", Dims: []int{B, 4}, F32: info}, {Name: "question", Dims: []int{B, s.T}, I64: q}}}

	// Each returns (fastest, median) ms of reps runs.
	goMS := func(int8, allRows bool) (float64, float64) {
		m.Inference, m.AllRows = true, allRows
		if int8 {
			if err := m.QuantizeInt8(); err != nil {
				t.Fatal(err)
			}
			defer m.DropInt8()
		}
		var ts []float64
		for r := 0; r < reps; r++ {
			t0 := time.Now()
			if _, err := m.Forward(bt); err != nil {
				t.Fatal(err)
			}
			ts = append(ts, float64(time.Since(t0).Microseconds())/1000)
		}
		slices.Sort(ts)
		return ts[0], ts[len(ts)/2]
	}
	ortMS := func(path string) (float64, float64) {
		r := runORT(t, path, feed, reps+1) // + ONNX Runtime's first, slower run
		if r[0].Err != "" {
			t.Fatal(r[0].Err)
		}
		return r[0].MinMS, r[0].MS
	}
	load := func() string {
		out, _ := exec.Command("uptime").Output()
		return strings.TrimSpace(string(out))
	}
	t.Logf("batch %d, text %d, regions %d (+ image box), L = %d; %d threads each; before: %s", B, textLen, regions, textLen+regions+2, threads, load())
	names := []string{"vlbert fp32 (answers-only last layer)", "vlbert fp32 all rows", "ONNX Runtime fp32", "vlbert int8", "ONNX Runtime int8"}
	fastest, median := make([][]float64, len(names)), make([][]float64, len(names))
	for r := 0; r < rounds; r++ {
		var row []string
		for i, f := range []func() (float64, float64){
			func() (float64, float64) { return goMS(false, false) }, func() (float64, float64) { return goMS(false, true) },
			func() (float64, float64) { return ortMS(p32) }, func() (float64, float64) { return goMS(true, false) },
			func() (float64, float64) { return ortMS(p8) }} {
			lo, med := f()
			fastest[i], median[i] = append(fastest[i], lo), append(median[i], med)
			row = append(row, fmt.Sprintf("%.0f/%.0f", lo, med))
		}
		t.Logf("round %d ms/batch fastest/median: %s", r, strings.Join(row, " "))
	}
	stats := func(v []float64) (lo, med, hi float64) {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[0], v[len(v)/2], v[len(v)-1]
	}
	for i, n := range names {
		lo, med, hi := stats(fastest[i])
		t.Logf("%-38s fastest of %d per round, ms/batch: min %.0f median %.0f max %.0f (%.1f sequences/s at the median)", n, reps, lo, med, hi, float64(B)*1000/med)
	}
	for _, p := range [][2]int{{2, 1}, {2, 0}, {4, 3}} {
		var rf, rm []float64
		for r := 0; r < rounds; r++ {
			rf = append(rf, fastest[p[0]][r]/fastest[p[1]][r])
			rm = append(rm, median[p[0]][r]/median[p[1]][r])
		}
		a, b, c := stats(rf)
		d, e, f := stats(rm)
		t.Logf("time %s / %s per round (>1: vlbert faster): fastest-of-%d min %.2f median %.2f max %.2f; median-of-%d min %.2f median %.2f max %.2f",
			names[p[0]], names[p[1]], reps, a, b, c, reps, d, e, f)
	}
	t.Logf("after: %s", load())
}
