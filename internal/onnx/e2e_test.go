package onnx

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
)

// The e2e graphs (ResNet C4, RoIAlign and the res5 head inside) against vlbert's
// visual network (internal/visual) feeding its model, as vlbert's e2e inference
// does. The network is ResNet-101's widths with one bottleneck per stage (the
// features must be 2048 wide) and the dilated 14x14 head, on small images.

var e2eNet = visual.Config{Blocks: [3]int{1, 1, 1}, HeadBlocks: 1, Width: 64, StrideIn1x1: true, C5Dilated: true,
	RoIAlign: visual.DefaultRoIAlign}

func e2eSpec(spec Spec) Spec {
	ra := e2eNet.RoIAlign
	spec.E2E = &VisualNet{Blocks: e2eNet.Blocks, HeadBlocks: e2eNet.HeadBlocks, Width: e2eNet.Width, StrideIn1x1: e2eNet.StrideIn1x1,
		C5Dilated: e2eNet.C5Dilated, PooledH: ra.PooledH, PooledW: ra.PooledW, SpatialScale: ra.SpatialScale, SamplingRatio: ra.SamplingRatio}
	return spec
}

// e2eNetwork is a random visual network with non-trivial frozen BN statistics,
// and its tensors under the checkpoint's image_feature_extractor. keys added to w.
func e2eNetwork(seed uint64, w Weights) *visual.Network {
	net := visual.NewNetwork(e2eNet)
	net.InitRandom(seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	for _, p := range net.Params.Params {
		switch {
		case strings.HasSuffix(p.Name, ".running_var"):
			for i := range p.Data {
				p.Data[i] = 0.5 + rng.Float32()
			}
		case strings.HasSuffix(p.Name, ".running_mean"), strings.HasSuffix(p.Name, ".bias"):
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64() * 0.1)
			}
		}
		w[visualPrefix+p.Name] = Weight{Shape: p.Shape, Data: p.Data}
	}
	return net
}

// e2eCase is one batch: images, boxes (x1,y1,x2,y2 inside the image) with padding
// rows, and the RoIs of the valid boxes for vlbert's network.
type e2eCase struct {
	B, R, H, W int
	nBoxes     []int
	images     []float32
	coords     []float32 // [B*R*4], padding rows pad
	imInfo     []float32
	rois       []float32 // [valid*5]: batch index, x1, y1, x2, y2
}

func newE2ECase(rng *rand.Rand, B, R, H, W int, nBoxes []int, pad float32) *e2eCase {
	c := &e2eCase{B: B, R: R, H: H, W: W, nBoxes: nBoxes, images: make([]float32, B*3*H*W), coords: make([]float32, B*R*4), imInfo: make([]float32, B*4)}
	for i := range c.images {
		c.images[i] = float32(rng.NormFloat64() * 50)
	}
	for b := 0; b < B; b++ {
		w, h := float32(W-4-rng.IntN(8)), float32(H-4-rng.IntN(8)) // the image inside the padded batch
		copy(c.imInfo[b*4:], []float32{w, h, 1, 1})
		for j := 0; j < R; j++ {
			box := c.coords[(b*R+j)*4 : (b*R+j+1)*4]
			if j >= nBoxes[b] {
				for i := range box {
					box[i] = pad
				}
				continue
			}
			x1, y1 := rng.Float32()*w/2, rng.Float32()*h/2
			copy(box, []float32{x1, y1, min(w-1, x1+2+rng.Float32()*w/2), min(h-1, y1+2+rng.Float32()*h/2)})
			if j == 0 {
				copy(box, []float32{0, 0, w - 1, h - 1})
			}
			c.rois = append(c.rois, float32(b), box[0], box[1], box[2], box[3])
		}
	}
	return c
}

// modelBoxes puts the RoI features of the valid boxes after their coordinates, as
// vlbert's e2e inference hands them to the model.
func (c *e2eCase) modelBoxes(feats []float32, pad float32) model.Boxes {
	const stride = 4 + DefaultFeatureDim
	data := make([]float32, c.B*c.R*stride)
	k := 0
	for b := 0; b < c.B; b++ {
		for j := 0; j < c.R; j++ {
			row := data[(b*c.R+j)*stride : (b*c.R+j+1)*stride]
			if j >= c.nBoxes[b] {
				for i := range row {
					row[i] = pad
				}
				continue
			}
			copy(row, c.coords[(b*c.R+j)*4:(b*c.R+j+1)*4])
			copy(row[4:], feats[k*DefaultFeatureDim:(k+1)*DefaultFeatureDim])
			k++
		}
	}
	return model.Boxes{B: c.B, NB: c.R, Data: data, ImInfo: c.imInfo, InfoW: 4}
}

func TestE2EVQAParity(t *testing.T) {
	c, spec := smallConfig(model.TaskVQA)
	m, err := model.NewVQA(c)
	if err != nil {
		t.Fatal(err)
	}
	randomize(m.Base(), 21)
	w := weightsOf(m.Base())
	net := e2eNetwork(22, w)
	path := exportTo(t, e2eSpec(spec), w, Options{})
	checkModel(t, path)
	rng := rand.New(rand.NewPCG(23, 23))
	var runs [][]ortTensor
	var want [][]float32
	for _, s := range []struct {
		B, R, H, W int
		n          []int
	}{{1, 2, 32, 48, []int{2}}, {2, 3, 48, 32, []int{1, 3}}} {
		cs := newE2ECase(rng, s.B, s.R, s.H, s.W, s.n, -2)
		feats := net.Forward(cs.images, s.B, s.H, s.W, cs.rois, len(cs.rois)/5, nil)
		q := tokens(rng, s.B, 5, []int{4, 5}[:s.B], false, spec.Vocab)
		out, err := m.Forward(&model.VQABatch{Boxes: cs.modelBoxes(feats, -2), LQ: 5, Question: to32(q)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, append([]float32(nil), out.Logits...))
		runs = append(runs, []ortTensor{{Name: "image", Dims: []int{s.B, 3, s.H, s.W}, F32: cs.images},
			{Name: "boxes", Dims: []int{s.B, s.R, 4}, F32: cs.coords},
			{Name: "im_info", Dims: []int{s.B, 4}, F32: cs.imInfo}, {Name: "question", Dims: []int{s.B, 5}, I64: q}})
	}
	res := runORT(t, path, runs, 1)
	for i, r := range res {
		if r.Err != "" {
			t.Fatalf("case %d: onnxruntime: %s", i, r.Err)
		}
		compareTol(t, fmt.Sprintf("e2e VQA case %d label_logits", i), r.Outputs["label_logits"].F32, want[i], tolAbs, tolRel)
	}
}

func TestE2ERefCOCOParity(t *testing.T) {
	c, spec := smallConfig(model.TaskRefCOCO)
	m, err := model.NewRefCOCO(c)
	if err != nil {
		t.Fatal(err)
	}
	randomize(m.Base(), 31)
	w := weightsOf(m.Base())
	net := e2eNetwork(32, w)
	path := exportTo(t, e2eSpec(spec), w, Options{})
	checkModel(t, path)
	rng := rand.New(rand.NewPCG(33, 33))
	cs := newE2ECase(rng, 2, 3, 48, 32, []int{3, 2}, -2)
	feats := net.Forward(cs.images, cs.B, cs.H, cs.W, cs.rois, len(cs.rois)/5, nil)
	e := tokens(rng, cs.B, 6, []int{6, 3}, false, spec.Vocab)
	out, err := m.Forward(&model.RefCOCOBatch{Boxes: cs.modelBoxes(feats, -2), LE: 6, Expression: to32(e)})
	if err != nil {
		t.Fatal(err)
	}
	res := runORT(t, path, [][]ortTensor{{{Name: "image", Dims: []int{cs.B, 3, cs.H, cs.W}, F32: cs.images},
		{Name: "boxes", Dims: []int{cs.B, cs.R, 4}, F32: cs.coords},
		{Name: "im_info", Dims: []int{cs.B, 4}, F32: cs.imInfo}, {Name: "expression", Dims: []int{cs.B, 6}, I64: e}}}, 1)
	if res[0].Err != "" {
		t.Fatal(res[0].Err)
	}
	compareTol(t, "e2e RefCOCO label_logits", res[0].Outputs["label_logits"].F32, out.Logits, tolAbs, tolRel)
	compareTol(t, "e2e RefCOCO pred_boxes", res[0].Outputs["pred_boxes"].F32, out.PredBoxes, tolAbs, tolRel)
}

// TestE2EVCRParity: VCR's boxes carry score and class columns, and each box's
// instance mask gates the RoI head's output (segms).
func TestE2EVCRParity(t *testing.T) {
	c, spec := smallConfig(model.TaskVCR)
	m, err := model.NewVCR(c)
	if err != nil {
		t.Fatal(err)
	}
	randomize(m.Base(), 41)
	w := weightsOf(m.Base())
	net := e2eNetwork(42, w)
	path := exportTo(t, e2eSpec(spec), w, Options{})
	checkModel(t, path)
	rng := rand.New(rand.NewPCG(43, 43))
	cs := newE2ECase(rng, 2, 3, 32, 48, []int{2, 3}, -1)
	const P = 14 * 14
	masks := make([]float32, cs.B*cs.R*P) // [B,R,14,14] for ONNX
	var goMasks []float32                 // valid boxes only, for vlbert
	boxes6 := make([]float32, 0, cs.B*cs.R*6)
	for b := 0; b < cs.B; b++ {
		for j := 0; j < cs.R; j++ {
			mk := masks[(b*cs.R+j)*P : (b*cs.R+j+1)*P]
			box := cs.coords[(b*cs.R+j)*4 : (b*cs.R+j+1)*4]
			if j < cs.nBoxes[b] {
				for i := range mk {
					mk[i] = float32(rng.IntN(2))
				}
				goMasks = append(goMasks, mk...)
				boxes6 = append(boxes6, box[0], box[1], box[2], box[3], rng.Float32(), float32(rng.IntN(81)))
			} else {
				boxes6 = append(boxes6, -1, -1, -1, -1, -1, -1)
			}
		}
	}
	feats := net.Forward(cs.images, cs.B, cs.H, cs.W, cs.rois, len(cs.rois)/5, goMasks)
	const lq, la = 4, 3
	q := tokens(rng, cs.B, lq, []int{4, 2}, false, spec.Vocab)
	a := tokens(rng, cs.B*vcrChoices, la, []int{1, 2, 3, 3, 2, 1, 3, 2}, false, spec.Vocab)
	tags := func(n int) []int32 {
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(rng.IntN(3)) - 1
		}
		return out
	}
	qt, at := tags(cs.B*lq), tags(cs.B*vcrChoices*la)
	out, err := m.Forward(&model.VCRBatch{Boxes: cs.modelBoxes(feats, -1), LQ: lq, LA: la, Question: to32(q), QTags: qt, Answers: to32(a), ATags: at})
	if err != nil {
		t.Fatal(err)
	}
	res := runORT(t, path, [][]ortTensor{{{Name: "image", Dims: []int{cs.B, 3, cs.H, cs.W}, F32: cs.images},
		{Name: "boxes", Dims: []int{cs.B, cs.R, 6}, F32: boxes6}, {Name: "masks", Dims: []int{cs.B, cs.R, 14, 14}, F32: masks},
		{Name: "im_info", Dims: []int{cs.B, 4}, F32: cs.imInfo},
		{Name: "question", Dims: []int{cs.B, lq, 2}, I64: pairs(q, qt)},
		{Name: "answer_choices", Dims: []int{cs.B, vcrChoices, la, 2}, I64: pairs(a, at)}}}, 1)
	if res[0].Err != "" {
		t.Fatal(res[0].Err)
	}
	compareTol(t, "e2e VCR label_logits", res[0].Outputs["label_logits"].F32, out.Logits, tolAbs, tolRel)
}

// TestRoiAlignGolden: ONNX RoiAlign with output_half_pixel, 14x14, 1/16, one
// sample per bin, run by ONNX Runtime, reproduces the original's legacy RoIAlign
// (maskrcnn-benchmark ROIAlign, aligned=False) on its golden case.
func TestRoiAlignGolden(t *testing.T) {
	feat, rois, want := readNpy(t, "op_roialign_in_features"), readNpy(t, "op_roialign_in_rois"), readNpy(t, "op_roialign_out")
	R := rois.Shape[0]
	boxes, idx := make([]float32, 0, 4*R), make([]int64, R)
	for r := 0; r < R; r++ {
		idx[r] = int64(rois.F32[r*5])
		boxes = append(boxes, rois.F32[r*5+1:r*5+5]...)
	}
	b := newBuilder(nil)
	e := &exporter{b: b}
	e.input("x", Float, []Dim{{Param: "n"}, {Param: "c"}, {Param: "h"}, {Param: "w"}}, "")
	e.input("rois", Float, []Dim{{Param: "r"}, {Value: 4}}, "")
	e.input("batch_indices", Int64, []Dim{{Param: "r"}}, "")
	ra := visual.DefaultRoIAlign
	y := b.op("RoiAlign", []string{"x", "rois", "batch_indices"},
		&Attribute{Name: "coordinate_transformation_mode", Type: attrString, S: "output_half_pixel"},
		&Attribute{Name: "mode", Type: attrString, S: "avg"},
		aInt("output_height", int64(ra.PooledH)), aInt("output_width", int64(ra.PooledW)),
		aInt("sampling_ratio", int64(ra.SamplingRatio)), aFloat("spatial_scale", ra.SpatialScale))
	e.output(y, "y", []Dim{{Param: "r"}, {Param: "c"}, {Value: 14}, {Value: 14}}, "")
	b.g.Name = "roialign"
	m := &Model{IRVersion: IRVersion, Opsets: []OpsetID{{Version: 17}}, Graph: b.g}
	path := filepath.Join(t.TempDir(), "roialign.onnx")
	if err := Write(path, m, InlineLimit); err != nil {
		t.Fatal(err)
	}
	checkModel(t, path)
	res := runORT(t, path, [][]ortTensor{{{Name: "x", Dims: feat.Shape, F32: feat.F32},
		{Name: "rois", Dims: []int{R, 4}, F32: boxes}, {Name: "batch_indices", Dims: []int{R}, I64: idx}}}, 1)
	if res[0].Err != "" {
		t.Fatal(res[0].Err)
	}
	compareTol(t, "RoiAlign vs the original's ROIAlign", res[0].Outputs["y"].F32, want.F32, 5e-5, 1e-5)
}

// TestBottleneckGolden: the graph's Bottleneck (Caffe-style stride in conv1,
// frozen BN, downsample), run by ONNX Runtime, reproduces the original
// resnet.py Bottleneck on its golden cases (dilated res5 head block, stride 2).
func TestBottleneckGolden(t *testing.T) {
	keys := []string{"conv1.weight", "conv2.weight", "conv3.weight", "downsample.0.weight"}
	for _, bn := range []string{"bn1", "bn2", "bn3", "downsample.1"} {
		for _, s := range []string{"weight", "bias", "running_mean", "running_var"} {
			keys = append(keys, bn+"."+s)
		}
	}
	for _, tc := range []struct {
		name             string
		stride, dilation int
	}{{"dilated", 1, 2}, {"stride2", 2, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			w := Weights{}
			for _, k := range keys {
				a := readNpy(t, "op_bottleneck_"+tc.name+"_w__"+strings.ReplaceAll(k, ".", "_"))
				w[visualPrefix+"blk."+k] = Weight{Shape: a.Shape, Data: a.F32}
			}
			in, want := readNpy(t, "op_bottleneck_"+tc.name+"_in"), readNpy(t, "op_bottleneck_"+tc.name+"_out")
			b := newBuilder(w)
			e := &exporter{b: b}
			e.input("x", Float, []Dim{{Param: "n"}, {Value: 32}, {Param: "h"}, {Param: "w"}}, "")
			y := e.bottleneck("x", "blk", 32, 16, tc.stride, tc.dilation, true, true)
			e.output(y, "y", []Dim{{Param: "n"}, {Value: 64}, {Param: "oh"}, {Param: "ow"}}, "")
			if b.err != nil {
				t.Fatal(b.err)
			}
			b.g.Name = "bottleneck"
			path := filepath.Join(t.TempDir(), "bottleneck.onnx")
			if err := Write(path, &Model{IRVersion: IRVersion, Opsets: []OpsetID{{Version: 17}}, Graph: b.g}, InlineLimit); err != nil {
				t.Fatal(err)
			}
			checkModel(t, path)
			res := runORT(t, path, [][]ortTensor{{{Name: "x", Dims: in.Shape, F32: in.F32}}}, 1)
			if res[0].Err != "" {
				t.Fatal(res[0].Err)
			}
			if got := res[0].Outputs["y"].Dims; fmt.Sprint(got) != fmt.Sprint(want.Shape) {
				t.Fatalf("output dims %v, golden %v", got, want.Shape)
			}
			compareTol(t, "Bottleneck vs the original's", res[0].Outputs["y"].F32, want.F32, 1e-5, 1e-5)
		})
	}
}
