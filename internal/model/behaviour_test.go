package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/vlbert/vlbert/internal/parallel"
)

func tinyVQA(t testing.TB) (*VQA, *VQABatch) {
	m, err := NewVQA(tinyConfig(TaskVQA))
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(m, 1)
	rng := rand.New(rand.NewPCG(2, 2))
	bt := &VQABatch{Boxes: randomBoxes(rng, []int{3, 2}, 4), LQ: 5,
		Question: []int32{7, 8, 9, 0, 0, 11, 0, 12, 0, 0}, Label: []float32{0, 0.3, 1, 0, 0, 0.6, 0, 0, 0.9, 0}}
	return m, bt
}

func TestDropoutDeterminism(t *testing.T) {
	m, bt := tinyVQA(t)
	logits := func(train bool, step uint64) []float32 {
		m.Train, m.Step = train, step
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(o.Logits)
	}
	eval := logits(false, 0)
	if !slices.Equal(eval, logits(false, 5)) {
		t.Error("eval output depends on the step")
	}
	a, b, c := logits(true, 1), logits(true, 1), logits(true, 2)
	if !slices.Equal(a, b) {
		t.Error("same seed and step gave different dropout masks")
	}
	if slices.Equal(a, c) || slices.Equal(a, eval) {
		t.Error("dropout masks do not change with the step, or dropout is off in training")
	}
}

func TestForwardDataErrors(t *testing.T) {
	m, bt := tinyVQA(t)
	empty := *bt
	empty.Boxes.Data = slices.Clone(bt.Boxes.Data)
	for i := 0; i < len(empty.Boxes.Data); i += boxStride {
		empty.Boxes.Data[i] = -2
	}
	if _, err := m.Forward(&empty); err == nil || !strings.Contains(err.Error(), "no valid box") {
		t.Errorf("no boxes: err = %v", err)
	}
	long := *bt
	long.LQ = 40
	long.Question = make([]int32, 2*40)
	for i := range long.Question {
		long.Question[i] = 9
	}
	if _, err := m.Forward(&long); err == nil || !strings.Contains(err.Error(), "max_position_embeddings") {
		t.Errorf("long sequence: err = %v", err)
	}
	bad := *bt
	bad.Boxes.ImInfo = []float32{0, 0, 1, 1, 300, 200, 1, 1}
	if _, err := m.Forward(&bad); err == nil || !strings.Contains(err.Error(), "im_info") {
		t.Errorf("zero image size: err = %v", err)
	}
	// The model still works after errors.
	if _, err := m.Forward(bt); err != nil {
		t.Fatal(err)
	}
}

// TestShapeChangesReuseArena runs a large batch, then a small one, then the large one
// again: results must not depend on what the arena held before.
func TestShapeChangesReuseArena(t *testing.T) {
	m, bt := tinyVQA(t)
	o, _ := m.Forward(bt)
	want := slices.Clone(o.Logits)
	rng := rand.New(rand.NewPCG(9, 9))
	small := &VQABatch{Boxes: randomBoxes(rng, []int{1}, 1), LQ: 1, Question: []int32{5}, Label: make([]float32, 5)}
	if _, err := m.Forward(small); err != nil {
		t.Fatal(err)
	}
	m.Backward(1)
	o, _ = m.Forward(bt)
	if !slices.Equal(o.Logits, want) {
		t.Error("logits changed after running another batch shape")
	}
}

// arenaPrint identifies the arenas' storage (first and last chunk, chunk counts); it
// changes if a pass had to grow one.
func arenaPrint(mod Module) [9]uintptr {
	m := mod.Base()
	var p [9]uintptr
	if len(m.acts.chunks) > 0 && len(m.grads.chunks) > 0 && len(m.ints.chunks) > 0 {
		p[0] = uintptr(unsafe.Pointer(&m.acts.chunks[0][0]))
		p[1] = uintptr(unsafe.Pointer(&m.grads.chunks[0][0]))
		p[2] = uintptr(unsafe.Pointer(&m.ints.chunks[0][0]))
		p[3] = uintptr(unsafe.Pointer(&m.acts.chunks[len(m.acts.chunks)-1][0]))
		p[4] = uintptr(unsafe.Pointer(&m.grads.chunks[len(m.grads.chunks)-1][0]))
		p[5] = uintptr(unsafe.Pointer(&m.ints.chunks[len(m.ints.chunks)-1][0]))
		p[6], p[7], p[8] = uintptr(len(m.acts.chunks)), uintptr(len(m.grads.chunks)), uintptr(len(m.ints.chunks))
	}
	return p
}

// TestSteadyStateAllocations checks that after warm-up the model's own buffers are
// reused (the arenas' chunks settle and never move) and logs the
// allocations per step that remain (those of the kernels and GEMM worker pool).
func TestSteadyStateAllocations(t *testing.T) {
	defer parallel.SetThreads(parallel.SetThreads(1))
	m, bt := tinyVQA(t)
	m.Train = true
	step := func() {
		m.Step++
		if _, err := m.Forward(bt); err != nil {
			t.Fatal(err)
		}
		m.Backward(1)
	}
	step()
	step()
	before := arenaPrint(m)
	n := testing.AllocsPerRun(5, step)
	if after := arenaPrint(m); before != after || before[0] == 0 {
		t.Errorf("VQA arenas moved in steady state: %v -> %v", before, after)
	}
	t.Logf("VQA forward+backward: %v allocations per step (kernels)", n)

	p, err := NewPretrainMultitask(tinyConfig(TaskPretrainMultitask))
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(p, 2)
	pb := pretrainBatch(rand.New(rand.NewPCG(4, 4)), true)
	pstep := func() {
		if _, err := p.Forward(pb); err != nil {
			t.Fatal(err)
		}
		p.Backward(1)
	}
	pstep()
	pstep()
	before = arenaPrint(p)
	n = testing.AllocsPerRun(5, pstep)
	if after := arenaPrint(p); before != after || before[0] == 0 {
		t.Errorf("pretraining arenas moved in steady state: %v -> %v", before, after)
	}
	t.Logf("pretraining forward+backward: %v allocations per step (kernels)", n)
}

func TestRefCOCOForward(t *testing.T) {
	m, err := NewRefCOCO(tinyConfig(TaskRefCOCO))
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(m, 3)
	rng := rand.New(rand.NewPCG(6, 6))
	bx := randomBoxes(rng, []int{3, 2}, 5)
	bx.ImInfo[2], bx.ImInfo[3] = 2, 4 // resize ratios of sample 0
	bt := &RefCOCOBatch{Boxes: bx, LE: 3, Expression: []int32{7, 8, 0, 9, 0, 0}}
	o, err := m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	NB := bx.NB
	for b := range 2 {
		best := 0
		for j := 0; j < NB; j++ {
			if j >= o.Lo && o.Logits[b*NB+j] != -10000 {
				t.Errorf("trimmed slot %d,%d has logit %g", b, j, o.Logits[b*NB+j])
			}
			if o.Logits[b*NB+j] > o.Logits[b*NB+best] {
				best = j
			}
		}
		box := bx.Data[(b*NB+best)*boxStride:]
		sx, sy := bx.ImInfo[b*4+2], bx.ImInfo[b*4+3]
		want := []float32{box[0] / sx, box[1] / sy, box[2] / sx, box[3] / sy}
		if !slices.Equal(o.PredBoxes[b*4:b*4+4], want) {
			t.Errorf("sample %d: pred box %v, want %v", b, o.PredBoxes[b*4:b*4+4], want)
		}
	}
	// Text: [CLS] 7 8 [SEP] / [CLS] 9 [SEP].
	co := m.CoreOutputs()
	if co.Lt != 5 || co.L != 4+3+1 {
		t.Errorf("Lt %d L %d, want 5 and 8", co.Lt, co.L)
	}
}

// TestThreadInvariance: outputs and gradients do not depend on the worker count.
func TestThreadInvariance(t *testing.T) {
	run := func(threads int) ([]float32, []float32) {
		defer parallel.SetThreads(parallel.SetThreads(threads))
		m, err := NewPretrain(smallConfig(TaskPretrain))
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(m, 4)
		m.Train, m.Seed, m.Step = true, 3, 7
		bt := ptGoldenBatch(t)
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		m.Backward(1)
		return slices.Clone(o.MLMRowLogits), slices.Clone(m.Params.Grad)
	}
	l1, g1 := run(1)
	l4, g4 := run(4)
	if !slices.Equal(l1, l4) || !slices.Equal(g1, g4) {
		t.Error("results differ between 1 and 4 threads")
	}
}

// TestBoxTrimming: the batch is trimmed to the largest valid-box count before
// FastRCNN, as the original does, even when padding is not at the end.
func TestBoxTrimming(t *testing.T) {
	m, _ := tinyVQA(t)
	rng := rand.New(rand.NewPCG(3, 1))
	bx := randomBoxes(rng, []int{3, 1}, 3)
	for k := 0; k < boxStride; k++ { // sample 0: box 1 becomes padding, box 2 stays valid
		bx.Data[1*boxStride+k] = -2
	}
	bt := &VQABatch{Boxes: bx, LQ: 1, Question: []int32{5, 6}}
	o, err := m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	if o.Lo != 2 || m.vis.rows != 2 || !slices.Equal(o.ObjMask, []bool{true, false, true, false}) {
		t.Errorf("lo %d rows %d mask %v, want 2, 2, [true false true false]", o.Lo, m.vis.rows, o.ObjMask)
	}
}

// TestSparseMLMMatchesAll: scoring only the predicted positions gives the losses and
// every parameter gradient of scoring all positions (multitask, with aux rows), and a
// batch with no predicted position gives a zero MLM loss without failing.
func TestSparseMLMMatchesAll(t *testing.T) {
	m, err := NewPretrainMultitask(smallConfig(TaskPretrainMultitask))
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(m, 5)
	bt := ptGoldenBatch(t)
	bt.BA, bt.LA = 2, 9
	bt.AuxText, bt.AuxMLMLabels = make([]int32, 18), make([]int32, 18)
	for i := range bt.AuxText {
		bt.AuxText[i], bt.AuxMLMLabels[i] = int32(200+i), -1
	}
	bt.AuxText[2], bt.AuxMLMLabels[2] = MaskID, 300
	bt.AuxText[13], bt.AuxMLMLabels[13] = MaskID, 17
	run := func(all bool) (*PretrainOutput, []float32) {
		m.AllMLMLogits = all
		m.ZeroGrad()
		o, err := m.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		m.Backward(1)
		return o, slices.Clone(m.Params.Grad)
	}
	full, gFull := run(true)
	lossFull, auxFull := full.MLMLoss, full.MLMAuxLoss
	sparse, gSparse := run(false)
	if d := math.Abs(float64(sparse.MLMLoss - lossFull)); d > 1e-6 || math.Abs(float64(sparse.MLMAuxLoss-auxFull)) > 1e-6 {
		t.Errorf("losses %g/%g, all positions %g/%g", sparse.MLMLoss, sparse.MLMAuxLoss, lossFull, auxFull)
	}
	if len(sparse.MLMRows) == 0 || sparse.MLMRowsWVC == len(sparse.MLMRows) {
		t.Fatalf("predicted rows %v (%d image-caption): want both kinds", sparse.MLMRows, sparse.MLMRowsWVC)
	}
	for _, q := range m.Params.List {
		for i := q.Offset; i < q.Offset+q.Size; i++ {
			if d := math.Abs(float64(gSparse[i] - gFull[i])); d > 1e-6+1e-4*math.Abs(float64(gFull[i])) {
				t.Fatalf("%s[%d]: gradient %g, all positions %g", q.Name, i-q.Offset, gSparse[i], gFull[i])
			}
		}
	}
	for i := range bt.MLMLabels {
		bt.MLMLabels[i] = -1
	}
	for i := range bt.AuxMLMLabels {
		bt.AuxMLMLabels[i] = -1
	}
	none, _ := run(false)
	if none.MLMLoss != 0 || none.MLMAuxLoss != 0 || len(none.MLMRows) != 0 {
		t.Errorf("no predicted position: losses %g/%g, rows %v", none.MLMLoss, none.MLMAuxLoss, none.MLMRows)
	}
}
