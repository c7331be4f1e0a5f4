package visual

import (
	"fmt"
	"slices"
	"strings"
)

// Param is one named parameter tensor. Name is the original state_dict key
// (without "module."), e.g. "backbone.layer1.0.conv1.weight".
type Param struct {
	Name      string
	Shape     []int
	Data      []float32 // view into ParamSet.Data
	Grad      []float32 // view into ParamSet.Grad; nil when frozen or before AllocGrads
	Trainable bool
}

// ParamSet owns the parameters of the visual network in one flat arena, in
// registration order, with named views. BatchNorm's num_batches_tracked is not
// a float tensor here: each BN keeps it as an int64 counter (Network.BatchCounters),
// advanced only by training-mode BN; LoadStateDict skips it.
type ParamSet struct {
	Params []*Param
	Data   []float32
	Grad   []float32 // trainable parameters only, in order; nil before AllocGrads
	index  map[string]*Param
}

func newParamSet() *ParamSet { return &ParamSet{index: map[string]*Param{}} }

// add registers a parameter; Data views are set by finish.
func (ps *ParamSet) add(name string, trainable bool, shape ...int) *Param {
	if _, dup := ps.index[name]; dup {
		panic("visual: duplicate parameter " + name)
	}
	p := &Param{Name: name, Shape: shape, Trainable: trainable}
	ps.Params = append(ps.Params, p)
	ps.index[name] = p
	return p
}

// finish allocates the arena and points every Param at its slice.
func (ps *ParamSet) finish() {
	n := 0
	for _, p := range ps.Params {
		n += numel(p.Shape)
	}
	ps.Data = make([]float32, n)
	off := 0
	for _, p := range ps.Params {
		k := numel(p.Shape)
		p.Data = ps.Data[off : off+k : off+k]
		off += k
	}
}

// AllocGrads allocates (once) the gradient arena for the trainable parameters and
// points their Grad views at it. Frozen parameters keep a nil Grad.
func (ps *ParamSet) AllocGrads() {
	if ps.Grad != nil {
		return
	}
	n := 0
	for _, p := range ps.Params {
		if p.Trainable {
			n += len(p.Data)
		}
	}
	ps.Grad = make([]float32, n)
	off := 0
	for _, p := range ps.Params {
		if p.Trainable {
			p.Grad = ps.Grad[off : off+len(p.Data) : off+len(p.Data)]
			off += len(p.Data)
		}
	}
}

// ZeroGrad clears the gradient arena.
func (ps *ParamSet) ZeroGrad() { clear(ps.Grad) }

// Get returns the parameter with the given name, or nil.
func (ps *ParamSet) Get(name string) *Param { return ps.index[name] }

// NumTrainable is the number of trainable scalars.
func (ps *ParamSet) NumTrainable() int {
	n := 0
	for _, p := range ps.Params {
		if p.Trainable {
			n += len(p.Data)
		}
	}
	return n
}

// Set copies data into the named parameter after checking its shape.
func (ps *ParamSet) Set(name string, shape []int, data []float32) error {
	p := ps.index[name]
	if p == nil {
		return fmt.Errorf("visual: unknown parameter %q", name)
	}
	if !slices.Equal(shape, p.Shape) || len(data) != len(p.Data) {
		return fmt.Errorf("visual: parameter %q has shape %v, checkpoint has %v (%d values)", name, p.Shape, shape, len(data))
	}
	copy(p.Data, data)
	return nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// grow returns buf resized to n elements, reusing its storage when large enough.
func grow(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]float32, n)
}

// bnParams are the four tensors of one BatchNorm2d, plus its training-mode
// counter and batch statistics (Config.TrainBN).
type bnParams struct {
	Weight, Bias, RunningMean, RunningVar *Param
	NumBatchesTracked                     *int64
	batch                                 *BNBatch
}

// addBN registers one BatchNorm2d. Its weight and bias are trainable only when
// trainable is set (IMAGE_FROZEN_BN false and the stage not frozen); the
// running statistics never are (buffers).
func addBN(ps *ParamSet, prefix string, C int, trainable bool) bnParams {
	return bnParams{
		Weight:            ps.add(prefix+".weight", trainable, C),
		Bias:              ps.add(prefix+".bias", trainable, C),
		RunningMean:       ps.add(prefix+".running_mean", false, C),
		RunningVar:        ps.add(prefix+".running_var", false, C),
		NumBatchesTracked: new(int64),
		batch:             &BNBatch{},
	}
}

func (b bnParams) train() TrainBN {
	return TrainBN{Weight: b.Weight.Data, Bias: b.Bias.Data, RunningMean: b.RunningMean.Data, RunningVar: b.RunningVar.Data, NumBatchesTracked: b.NumBatchesTracked}
}

func (b bnParams) frozen() FrozenBN {
	return FrozenBN{Weight: b.Weight.Data, Bias: b.Bias.Data, RunningMean: b.RunningMean.Data, RunningVar: b.RunningVar.Data}
}

// Bind moves the parameters into storage owned elsewhere (the e2e trainer puts
// them in the model's flat arena, so that one optimizer, one gradient clip and
// one checkpoint cover the CNN too). arena(p) returns p's value and gradient
// slices (each len(p.Data)); the current values are copied in. Frozen
// parameters get no gradient view whatever arena returns. After Bind the
// ParamSet's own Data and Grad are the views' owners' business: Data is nil,
// Grad an empty non-nil slice (so Backward runs), AllocGrads and ZeroGrad do
// nothing; the owner zeroes gradients.
func (ps *ParamSet) Bind(arena func(p *Param) (data, grad []float32)) {
	for _, p := range ps.Params {
		d, g := arena(p)
		if len(d) != len(p.Data) || (p.Trainable && len(g) != len(p.Data)) {
			panic(fmt.Sprintf("visual: Bind: %s got %d values and %d gradients, want %d", p.Name, len(d), len(g), len(p.Data)))
		}
		copy(d, p.Data)
		p.Data = d[:len(d):len(d)]
		p.Grad = nil
		if p.Trainable {
			p.Grad = g[:len(g):len(g)]
		}
	}
	ps.Data = nil
	ps.Grad = []float32{}
}

// Buffer reports whether the parameter is a BatchNorm running statistic (a
// registered buffer in PyTorch, not a module parameter).
func (p *Param) Buffer() bool {
	return strings.HasSuffix(p.Name, ".running_mean") || strings.HasSuffix(p.Name, ".running_var")
}
