package visual

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/kernels"
	"github.com/vlbert/vlbert/internal/quant"
)

// Workspace holds scratch buffers that the layers of one network share during a
// pass (layers run one after another). The zero value is ready to use; buffers
// grow to the largest size seen and are then reused, so steady-state passes do
// not allocate.
type Workspace struct {
	col, a, b, c []float32
	tmp          []float32 // batched convolution output (convFused)
	dyc, colc    []float32 // batched convolution backward (convBackward)
	wflip        []float32 // flipped kernel of an input gradient (convBackward)
	rows, yrows  []float32 // int8 convolutions (convInt8)
	// int8 holds the int8 convolutions by weight (QuantizeInt8), nil for float32.
	int8 map[*Param]*quant.Linear
}

func (ws *Workspace) colFor(cv Conv2D, H, W int) []float32 {
	n := cv.ColSize(H, W)
	if n == 0 {
		return nil
	}
	ws.col = grow(ws.col, n)
	return ws.col
}

// Bottleneck is the ResNet bottleneck block of the original resnet.py:
//
//	out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + residual)
//
// with conv1 1x1 (Inplanes→Planes), conv2 3x3 (Planes→Planes, padding = dilation),
// conv3 1x1 (Planes→4·Planes), residual = x or bn(conv1x1(x)) when the block has a
// downsample branch. With stride_in_1x1 (Caffe style) the stride sits in conv1,
// otherwise in conv2. BN is frozen (the fused fast path) unless bnTraining is
// set (IMAGE_FROZEN_BN false, training): then each conv output is kept and
// normalised with its batch statistics (TrainBN). The block keeps its input (by reference) and
// its activations for Backward; the caller must not modify the input in between.
type Bottleneck struct {
	Conv1, Conv2, Conv3, Down Conv2D
	HasDown                   bool
	W1, W2, W3, WDown         *Param
	BN1, BN2, BN3, BNDown     bnParams
	Trainable                 bool
	// bnTraining selects training-mode BatchNorm for the next Forward/Backward
	// (set by Network; false = the frozen fused path).
	bnTraining bool

	// Forward state, read by Backward.
	x               []float32
	n, h, w, h1, w1 int
	oh, ow          int
	y1, y2, out     []float32
	s1, b1, s2, b2  []float32
	s3, b3, sd, bd  []float32
	// Training-mode BN: the convolutions' outputs before BN.
	z1, z2, z3, zd []float32
}

// newBottleneck registers the block's parameters under prefix (e.g.
// "backbone.layer2.0") with the original key names conv1/bn1/.../downsample.0/1.
func newBottleneck(ps *ParamSet, prefix string, inplanes, planes, stride, dilation int, strideIn1x1, downsample, trainable, trainBN bool) *Bottleneck {
	s1, s2 := 1, stride
	if strideIn1x1 {
		s1, s2 = stride, 1
	}
	out := planes * 4
	b := &Bottleneck{
		Conv1:     Conv2D{C: inplanes, K: planes, KH: 1, KW: 1, Stride: s1, Pad: 0, Dilation: 1},
		Conv2:     Conv2D{C: planes, K: planes, KH: 3, KW: 3, Stride: s2, Pad: dilation, Dilation: dilation},
		Conv3:     Conv2D{C: planes, K: out, KH: 1, KW: 1, Stride: 1, Pad: 0, Dilation: 1},
		HasDown:   downsample,
		Trainable: trainable,
	}
	b.W1 = ps.add(prefix+".conv1.weight", trainable, planes, inplanes, 1, 1)
	b.BN1 = addBN(ps, prefix+".bn1", planes, trainable && trainBN)
	b.W2 = ps.add(prefix+".conv2.weight", trainable, planes, planes, 3, 3)
	b.BN2 = addBN(ps, prefix+".bn2", planes, trainable && trainBN)
	b.W3 = ps.add(prefix+".conv3.weight", trainable, out, planes, 1, 1)
	b.BN3 = addBN(ps, prefix+".bn3", out, trainable && trainBN)
	if downsample {
		b.Down = Conv2D{C: inplanes, K: out, KH: 1, KW: 1, Stride: stride, Pad: 0, Dilation: 1}
		b.WDown = ps.add(prefix+".downsample.0.weight", trainable, out, inplanes, 1, 1)
		b.BNDown = addBN(ps, prefix+".downsample.1", out, trainable && trainBN)
	} else if inplanes != out || stride != 1 {
		panic(fmt.Sprintf("visual: bottleneck %s without downsample maps %d->%d channels with stride %d", prefix, inplanes, out, stride))
	}
	return b
}

// OutSize returns the output height and width for an H x W input.
func (b *Bottleneck) OutSize(H, W int) (OH, OW int) {
	H1, W1 := b.Conv1.OutSize(H, W)
	return b.Conv2.OutSize(H1, W1)
}

// convBN runs conv → frozen BN (→ + residual) (→ ReLU when relu is set) as one
// fused convolution (convFused), with the BN affine cached in scale/shift.
// residual may be nil.
func convBN(ws *Workspace, out, x []float32, w *Param, cv Conv2D, bn bnParams, scale, shift *[]float32, residual []float32, relu bool, N, H, W int) {
	if ql := ws.int8[w]; ql != nil {
		convInt8(ws, out, x, ql, residual, relu, cv, N, H, W)
		return
	}
	*scale, *shift = grow(*scale, cv.K), grow(*shift, cv.K)
	bn.frozen().ScaleShift(*scale, *shift)
	convFused(ws, out, x, w.Data, *scale, *shift, residual, relu, cv, N, H, W)
}

// convTrainBN runs conv → training-mode BN (→ + residual) (→ ReLU): the
// convolution alone into z (kept for Backward), then BN with the batch
// statistics into out.
func convTrainBN(ws *Workspace, out []float32, z *[]float32, x []float32, w *Param, cv Conv2D, bn bnParams, ones, zeros *[]float32, residual []float32, relu bool, N, H, W int) {
	OH, OW := cv.OutSize(H, W)
	*z = grow(*z, N*cv.K*OH*OW)
	*ones, *zeros = grow(*ones, cv.K), grow(*zeros, cv.K)
	for i := range *ones {
		(*ones)[i], (*zeros)[i] = 1, 0
	}
	convFused(ws, *z, x, w.Data, *ones, *zeros, nil, false, cv, N, H, W)
	bn.train().Forward(out, *z, bn.batch, N, cv.K, OH*OW)
	for i := range residual {
		out[i] += residual[i]
	}
	if relu {
		for i, v := range out {
			out[i] = max(v, 0)
		}
	}
}

// bnBackward is the gradient through one BN of the block: frozen (dinp =
// dout·scale) or training mode (TrainBN.Backward, with weight/bias gradients
// when the block trains). dinp may alias dout.
func (b *Bottleneck) bnBackward(dinp, dout, z, scale []float32, bn bnParams, N, C, HW int) {
	if !b.bnTraining {
		BatchNormBackward(dinp, dout, scale, N, C, HW)
		return
	}
	var dw, db []float32
	if b.Trainable {
		dw, db = bn.Weight.Grad, bn.Bias.Grad
	}
	bn.train().Backward(dinp, dw, db, dout, z, bn.batch, N, C, HW)
}

// Forward runs the block on x [N, Inplanes, H, W] and returns its output
// [N, 4·Planes, OH, OW], which the block owns (valid until the next Forward).
func (b *Bottleneck) Forward(ws *Workspace, x []float32, N, H, W int) (out []float32, OH, OW int) {
	checkLen("bottleneck input", len(x), N*b.Conv1.C*H*W)
	b.x, b.n, b.h, b.w = x, N, H, W
	b.h1, b.w1 = b.Conv1.OutSize(H, W)
	b.oh, b.ow = b.Conv2.OutSize(b.h1, b.w1)
	P, K := b.Conv1.K, b.Conv3.K

	// conv → BN with the frozen affine in the GEMM epilogue, or training-mode
	// BN on the kept convolution output (s/b then hold ones/zeros).
	cbn := func(out []float32, z *[]float32, x, residual []float32, w *Param, cv Conv2D, bn bnParams, s, sh *[]float32, relu bool, H, W int) {
		if b.bnTraining {
			convTrainBN(ws, out, z, x, w, cv, bn, s, sh, residual, relu, N, H, W)
			return
		}
		convBN(ws, out, x, w, cv, bn, s, sh, residual, relu, N, H, W)
	}
	b.y1 = grow(b.y1, N*P*b.h1*b.w1)
	cbn(b.y1, &b.z1, x, nil, b.W1, b.Conv1, b.BN1, &b.s1, &b.b1, true, H, W)

	b.y2 = grow(b.y2, N*P*b.oh*b.ow)
	cbn(b.y2, &b.z2, b.y1, nil, b.W2, b.Conv2, b.BN2, &b.s2, &b.b2, true, b.h1, b.w1)

	residual := x
	if b.HasDown {
		if dh, dw := b.Down.OutSize(H, W); dh != b.oh || dw != b.ow {
			panic(fmt.Sprintf("visual: bottleneck downsample gives %dx%d, main path %dx%d", dh, dw, b.oh, b.ow))
		}
		ws.a = grow(ws.a, N*K*b.oh*b.ow)
		cbn(ws.a, &b.zd, x, nil, b.WDown, b.Down, b.BNDown, &b.sd, &b.bd, false, H, W)
		residual = ws.a
	}
	// conv3 → bn3 → + residual → ReLU in one pass.
	b.out = grow(b.out, N*K*b.oh*b.ow)
	cbn(b.out, &b.z3, b.y2, residual[:N*K*b.oh*b.ow], b.W3, b.Conv3, b.BN3, &b.s3, &b.b3, true, b.oh, b.ow)
	return b.out, b.oh, b.ow
}

// Backward takes dout [N, 4·Planes, OH, OW] (the gradient of the last Forward's
// output), ACCUMULATES the weight gradients of a trainable block (into the Grad
// views, when allocated) and OVERWRITES dinp [N, Inplanes, H, W] with the input
// gradient; dinp may be nil when the input needs no gradient. dinp must not
// alias dout or the workspace.
func (b *Bottleneck) Backward(ws *Workspace, dinp, dout []float32) {
	N := b.n
	checkLen("bottleneck dout", len(dout), len(b.out))
	if dinp != nil {
		checkLen("bottleneck dinp", len(dinp), len(b.x))
	}
	grad := func(p *Param) []float32 {
		if !b.Trainable {
			return nil
		}
		return p.Grad
	}
	if dinp == nil && (!b.Trainable || b.W1.Grad == nil) {
		return // nothing to compute
	}
	// g = d(pre-ReLU sum), shared by the residual and the main path.
	ws.a = grow(ws.a, len(b.out))
	g := ws.a
	kernels.ReLUBackward(g, b.out, dout)

	// Residual branch.
	if b.HasDown {
		ws.b = grow(ws.b, len(g))
		b.bnBackward(ws.b, g, b.zd, b.sd, b.BNDown, N, b.Down.K, b.oh*b.ow)
		convBackward(ws, dinp, grad(b.WDown), ws.b, b.x, b.WDown.Data, b.Down, N, b.h, b.w)
	} else if dinp != nil {
		copy(dinp, g)
	}

	// Main path, the forward in reverse.
	b.bnBackward(g, g, b.z3, b.s3, b.BN3, N, b.Conv3.K, b.oh*b.ow)
	ws.b = grow(ws.b, len(b.y2))
	dy2 := ws.b
	convBackward(ws, dy2, grad(b.W3), g, b.y2, b.W3.Data, b.Conv3, N, b.oh, b.ow)
	b.reluBNBackward(dy2, b.y2, b.z2, b.s2, b.BN2, N, b.Conv2.K, b.oh*b.ow)
	ws.c = grow(ws.c, len(b.y1))
	dy1 := ws.c
	convBackward(ws, dy1, grad(b.W2), dy2, b.y1, b.W2.Data, b.Conv2, N, b.h1, b.w1)
	b.reluBNBackward(dy1, b.y1, b.z1, b.s1, b.BN1, N, b.Conv1.K, b.h1*b.w1)
	var dx []float32
	if dinp != nil {
		ws.b = grow(ws.b, len(b.x))
		dx = ws.b
	}
	convBackward(ws, dx, grad(b.W1), dy1, b.x, b.W1.Data, b.Conv1, N, b.h, b.w)
	for i, v := range dx {
		dinp[i] += v
	}
}

// reluBNBackward is ReLU then BN backward, in place on d: one fused pass for
// frozen BN, two for training-mode BN.
func (b *Bottleneck) reluBNBackward(d, y, z, scale []float32, bn bnParams, N, C, HW int) {
	if !b.bnTraining {
		reluBNBackward(d, y, d, scale, N, C, HW)
		return
	}
	kernels.ReLUBackward(d, y, d)
	b.bnBackward(d, d, z, scale, bn, N, C, HW)
}
