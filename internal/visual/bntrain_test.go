package visual

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

type bnGolden struct {
	Shape          []int
	W              []float32 `json:"weight"`
	B              []float32 `json:"bias"`
	RM             []float32 `json:"running_mean"`
	RV             []float32 `json:"running_var"`
	X, Dout, Y, Dx []float32
	DWeight        []float32 `json:"dweight"`
	DBias          []float32 `json:"dbias"`
	RMAfter        []float32 `json:"running_mean_after"`
	RVAfter        []float32 `json:"running_var_after"`
	NBTAfter       int64     `json:"num_batches_tracked_after"`
	YEvalAfter     []float32 `json:"y_eval_after"`
}

// TestTrainBNMatchesPyTorch: forward, input/weight/bias gradients, running
// statistics (unbiased variance, momentum 0.1), num_batches_tracked and the
// eval-mode output afterwards equal nn.BatchNorm2d's (testdata/gen_bntrain.py).
func TestTrainBNMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/bntrain.json")
	if err != nil {
		t.Fatal(err)
	}
	var g bnGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	N, C, HW := g.Shape[0], g.Shape[1], g.Shape[2]*g.Shape[3]
	var nbt int64
	bn := TrainBN{Weight: g.W, Bias: g.B, RunningMean: append([]float32(nil), g.RM...), RunningVar: append([]float32(nil), g.RV...), NumBatchesTracked: &nbt}
	var st BNBatch
	y := make([]float32, len(g.X))
	bn.Forward(y, g.X, &st, N, C, HW)
	if d := maxAbsDiff32(y, g.Y); d > 1e-5 {
		t.Errorf("forward: max abs diff %g", d)
	}
	if d := maxAbsDiff32(bn.RunningMean, g.RMAfter); d > 1e-6 {
		t.Errorf("running_mean: max abs diff %g (%v vs %v)", d, bn.RunningMean, g.RMAfter)
	}
	if d := maxAbsDiff32(bn.RunningVar, g.RVAfter); d > 1e-6 {
		t.Errorf("running_var: max abs diff %g (%v vs %v)", d, bn.RunningVar, g.RVAfter)
	}
	if nbt != g.NBTAfter {
		t.Errorf("num_batches_tracked %d, PyTorch %d", nbt, g.NBTAfter)
	}
	dx := make([]float32, len(g.X))
	dw, db := make([]float32, C), make([]float32, C)
	bn.Backward(dx, dw, db, g.Dout, g.X, &st, N, C, HW)
	if d := maxAbsDiff32(dx, g.Dx); d > 1e-5 {
		t.Errorf("dx: max abs diff %g", d)
	}
	if d := maxAbsDiff32(dw, g.DWeight); d > 1e-5 {
		t.Errorf("dweight: max abs diff %g", d)
	}
	if d := maxAbsDiff32(db, g.DBias); d > 1e-5 {
		t.Errorf("dbias: max abs diff %g", d)
	}
	// Eval mode after the step: the frozen path with the updated statistics.
	s, b := make([]float32, C), make([]float32, C)
	bn.Frozen().ScaleShift(s, b)
	ye := make([]float32, len(g.X))
	BatchNormForward(ye, g.X, s, b, N, C, HW)
	if d := maxAbsDiff32(ye, g.YEvalAfter); d > 1e-5 {
		t.Errorf("eval after step: max abs diff %g", d)
	}
}

// TestTrainBNGradFiniteDifference checks Backward against central differences
// of L = Σ out·dout in float64-rounded inputs, for the input, weight and bias.
func TestTrainBNGradFiniteDifference(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 0))
	N, C, HW := 2, 3, 5
	x := randSlice(rng, N*C*HW, 1.5)
	dout := randSlice(rng, N*C*HW, 1)
	w, b := randSlice(rng, C, 1), randSlice(rng, C, 1)
	loss := func(x, w, b []float32) float64 {
		bn := TrainBN{Weight: w, Bias: b, RunningMean: make([]float32, C), RunningVar: make([]float32, C)}
		var st BNBatch
		y := make([]float32, len(x))
		bn.Forward(y, x, &st, N, C, HW)
		var l float64
		for i := range y {
			l += float64(y[i]) * float64(dout[i])
		}
		return l
	}
	bn := TrainBN{Weight: w, Bias: b, RunningMean: make([]float32, C), RunningVar: make([]float32, C)}
	var st BNBatch
	y := make([]float32, len(x))
	bn.Forward(y, x, &st, N, C, HW)
	dx := make([]float32, len(x))
	dw, db := make([]float32, C), make([]float32, C)
	bn.Backward(dx, dw, db, dout, x, &st, N, C, HW)
	to32 := func(v []float64) []float32 {
		o := make([]float32, len(v))
		for i := range v {
			o[i] = float32(v[i])
		}
		return o
	}
	const h = 1e-2
	checkGrad(t, "dx", dx, fdGrad(to64(x), func(v []float64) float64 { return loss(to32(v), w, b) }, h, 0), 2e-3, 2e-2)
	checkGrad(t, "dweight", dw, fdGrad(to64(w), func(v []float64) float64 { return loss(x, to32(v), b) }, h, 0), 2e-3, 2e-2)
	checkGrad(t, "dbias", db, fdGrad(to64(b), func(v []float64) float64 { return loss(x, w, to32(v)) }, h, 0), 2e-3, 2e-2)
	// The input gradient of a batch-normalised output sums to zero per channel.
	for c := 0; c < C; c++ {
		var s float64
		for n := 0; n < N; n++ {
			for _, v := range dx[(n*C+c)*HW : (n*C+c+1)*HW] {
				s += float64(v)
			}
		}
		if math.Abs(s) > 1e-4 {
			t.Errorf("channel %d: Σ dx = %g, want 0", c, s)
		}
	}
}

// TestTrainBNRejectsSingleValue: one value per channel has no batch variance;
// PyTorch raises, so does Forward (a panic naming the cause).
func TestTrainBNRejectsSingleValue(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for one value per channel")
		}
	}()
	bn := TrainBN{Weight: []float32{1}, Bias: []float32{0}, RunningMean: []float32{0}, RunningVar: []float32{1}}
	bn.Forward(make([]float32, 1), []float32{3}, &BNBatch{}, 1, 1, 1)
}

// TestBottleneckTrainBNMatchesPyTorch: a Bottleneck with training-mode BN
// (testdata/gen_bntrain_block.py: the original's block, nn.BatchNorm2d in
// train()) gives PyTorch's output, input gradient, gradients of every conv and
// BN weight/bias, and running statistics after the step.
func TestBottleneckTrainBNMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/bntrain_block.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Shape             []int
		Init, Grad, After map[string][]float32
		X, Dout, Out, Dx  []float32
		NumBatchesTracked int64 `json:"num_batches_tracked"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	N, C, P, H, W, D := g.Shape[0], g.Shape[1], g.Shape[2], g.Shape[3], g.Shape[4], g.Shape[5]
	ps := newParamSet()
	b := newBottleneck(ps, "b", C, P, 1, D, true, true, true, true)
	ps.finish()
	for _, p := range ps.Params {
		v, ok := g.Init[strings.TrimPrefix(p.Name, "b.")]
		if !ok {
			t.Fatalf("golden lacks %s", p.Name)
		}
		copy(p.Data, v)
		isBNAffine := strings.Contains(p.Name, "bn") || strings.HasPrefix(p.Name, "b.downsample.1")
		if want := !p.Buffer(); p.Trainable != want && isBNAffine {
			t.Errorf("%s: trainable %v, want %v", p.Name, p.Trainable, want)
		}
	}
	ps.AllocGrads()
	b.bnTraining = true
	var ws Workspace
	out, _, _ := b.Forward(&ws, g.X, N, H, W)
	if d := maxAbsDiff32(out, g.Out); d > 1e-4 {
		t.Errorf("forward: max abs diff %g", d)
	}
	for name, want := range g.After {
		if d := maxAbsDiff32(ps.Get("b."+name).Data, want); d > 1e-5 {
			t.Errorf("%s after the step: max abs diff %g", name, d)
		}
	}
	if got := *b.BN1.NumBatchesTracked; got != g.NumBatchesTracked {
		t.Errorf("num_batches_tracked %d, PyTorch %d", got, g.NumBatchesTracked)
	}
	dx := make([]float32, len(g.X))
	b.Backward(&ws, dx, g.Dout)
	if d := maxAbsDiff32(dx, g.Dx); d > 1e-4 {
		t.Errorf("dx: max abs diff %g", d)
	}
	for name, want := range g.Grad {
		p := ps.Get("b." + name)
		if p.Grad == nil {
			t.Errorf("%s has no gradient", name)
			continue
		}
		if d := maxAbsDiff32(p.Grad, want); d > 1e-4*(1+maxAbs(want)) {
			t.Errorf("grad %s: max abs diff %g", name, d)
		}
	}
}

func maxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

// TestNetworkTrainBNBackwardFD: the whole network with training-mode BN
// (stem, backbone, RoIAlign, head, masks) against central differences of its
// own forward, for every trainable tensor kind (conv and BN weight/bias);
// frozen stages' BN still normalise with batch statistics but get no gradient.
// TestNetworkTrainBNBackwardFD: the whole network with training-mode BN
// (stem, backbone, RoIAlign, head with the R RoIs as the batch, masks) equals
// a float64 reference with batch statistics, and its gradients of every
// trainable tensor (conv and BN weight/bias) match central differences of that
// reference; frozen stages' BN normalise with batch statistics too but have
// no gradient.
func TestNetworkTrainBNBackwardFD(t *testing.T) {
	bnRef64Train = true
	defer func() { bnRef64Train = false }()
	rng := rand.New(rand.NewPCG(18, 5))
	N, H, W := 2, 32, 40
	rois := []float32{0, 0, 0, 39, 31, 1, 20.5, 12.25, 38, 30, 0, 4, 3, 30, 25}
	R := 3
	for _, frozen := range [][]int{nil, {1, 2}} {
		cfg := tinyConfig(frozen...)
		cfg.Blocks = [3]int{2, 1, 1}
		cfg.RoIAlign.PooledH, cfg.RoIAlign.PooledW = 5, 5
		cfg.TrainBN = true
		n := NewNetwork(cfg)
		randomizeParams(rng, n.Params)
		n.Params.AllocGrads()
		img := randSlice(rng, N*3*H*W, 1)
		masks := make([]float32, R*25)
		for i := range masks {
			masks[i] = float32(rng.IntN(2))
		}
		feats := n.Forward(img, N, H, W, rois, R, masks)
		w64, img64 := to64(n.Params.Data), to64(img)
		if d := maxAbsDiff64(feats, network64(n, w64, img64, N, H, W, rois, R, masks)); d > 1e-4 {
			t.Fatalf("frozen %v: forward differs from the float64 batch-statistics reference by %g", frozen, d)
		}
		gOut := randSlice(rng, len(feats), 1)
		n.Backward(gOut)
		full := make([]float32, len(n.Params.Data))
		off := 0
		for _, p := range n.Params.Params {
			stem12 := strings.HasPrefix(p.Name, "backbone.bn1") || strings.HasPrefix(p.Name, "backbone.layer1.")
			isBN := strings.Contains(p.Name, "bn") || strings.Contains(p.Name, ".downsample.1.")
			if (p.Grad != nil) != p.Trainable || (isBN && !p.Buffer() && p.Trainable == (frozen != nil && stem12)) {
				t.Fatalf("frozen %v: %s trainable %v, gradient view %v", frozen, p.Name, p.Trainable, p.Grad != nil)
			}
			if p.Grad != nil {
				copy(full[off:], p.Grad)
			}
			off += len(p.Data)
		}
		num := fdGrad(w64, func(v []float64) float64 {
			return dot64(network64(n, v, img64, N, H, W, rois, R, masks), to64(gOut))
		}, 1e-6, 60)
		off = 0
		for _, p := range n.Params.Params {
			if !p.Trainable {
				for i := off; i < off+len(p.Data); i++ {
					num[i] = math.NaN()
				}
			}
			off += len(p.Data)
		}
		// The evenly spread probes rarely land in the small BN tensors: probe
		// the first coordinate of every trainable BN weight and bias too.
		off = 0
		for _, p := range n.Params.Params {
			if p.Trainable && (strings.Contains(p.Name, "bn") || strings.Contains(p.Name, ".downsample.1.")) {
				old := w64[off]
				w64[off] = old + 1e-6
				fp := dot64(network64(n, w64, img64, N, H, W, rois, R, masks), to64(gOut))
				w64[off] = old - 1e-6
				fm := dot64(network64(n, w64, img64, N, H, W, rois, R, masks), to64(gOut))
				w64[off] = old
				num[off] = (fp - fm) / 2e-6
			}
			off += len(p.Data)
		}
		checkGrad(t, fmt.Sprintf("frozen %v: network dweights", frozen), full, num, 1e-4, 1e-3)
	}
}
