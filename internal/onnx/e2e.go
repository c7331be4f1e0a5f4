package onnx

import (
	"fmt"
	"math"
)

// VisualNet is the shape of the e2e visual network (internal/visual.Config): the
// Caffe-style ResNet C4 backbone, the legacy RoIAlign and the res5 RoI head.
type VisualNet struct {
	Blocks        [3]int // bottlenecks of layer1..layer3 ({3, 4, 23} for ResNet-101)
	HeadBlocks    int    // bottlenecks of the res5 head (3)
	Width         int    // stem channels (64); the features are 32·Width wide
	StrideIn1x1   bool   // IMAGE_STRIDE_IN_1x1
	C5Dilated     bool   // IMAGE_C5_DILATED: head stride 1, dilation 2
	PooledH       int    // RoIAlign output (14)
	PooledW       int
	SpatialScale  float32 // 1/16
	SamplingRatio int     // samples per bin side (1)
}

// visualPrefix is where FastRCNN's CNN keys live in a checkpoint.
const visualPrefix = "image_feature_extractor."

// cnnFeatures is FastRCNN's e2e path (common/fast_rcnn.py, forward): the backbone on
// the images, the legacy RoIAlign (aligned=False: ONNX RoiAlign with
// output_half_pixel) of every box slot, the res5 head, VCR's mask gating
// (segms), and the average pool: [B,Lo,32·Width] features for boxes [B,Lo,4].
// masks is "" or [B,Lo,PH',PW'] (the head's output size).
func (e *exporter) cnnFeatures(image, boxes, masks, lo string) string {
	b, v := e.b, e.spec.E2E
	b.scope = "backbone"
	x := e.convBN(image, "backbone.conv1", "backbone.bn1", v.Width, 3, 7, 2, 3, 1, true)
	x = b.op("MaxPool", []string{x}, aInts("kernel_shape", 3, 3), aInts("strides", 2, 2), aInts("pads", 1, 1, 1, 1))
	inplanes := v.Width
	for i := 0; i < 3; i++ {
		planes, stride := v.Width<<i, 1
		if i > 0 {
			stride = 2
		}
		for j := 0; j < v.Blocks[i]; j++ {
			p := fmt.Sprintf("backbone.layer%d.%d", i+1, j)
			if j == 0 {
				x = e.bottleneck(x, p, inplanes, planes, stride, 1, v.StrideIn1x1, true)
			} else {
				x = e.bottleneck(x, p, inplanes, planes, 1, 1, false, false)
			}
			inplanes = planes * 4
		}
	}

	b.scope = "roi_head"
	rois := b.op("Reshape", []string{boxes, b.i64(-1, 4)})
	batch := b.unsqueeze(b.arange(b.dimScalar(boxes, 0)), 1) // [B,1]
	zeros := b.bin("Mul", b.cast(b.op("ReduceSum", []string{boxes, b.i64(2)}, aInt("keepdims", 0)), Int64), b.s64(0))
	batchIdx := b.op("Reshape", []string{b.bin("Add", batch, zeros), b.i64(-1)})
	x = b.op("RoiAlign", []string{x, rois, batchIdx},
		&Attribute{Name: "coordinate_transformation_mode", Type: attrString, S: "output_half_pixel"},
		&Attribute{Name: "mode", Type: attrString, S: "avg"},
		aInt("output_height", int64(v.PooledH)), aInt("output_width", int64(v.PooledW)),
		aInt("sampling_ratio", int64(v.SamplingRatio)), aFloat("spatial_scale", v.SpatialScale))
	stride, dilation := 2, 1
	if v.C5Dilated {
		stride, dilation = 1, 2
	}
	planes := v.Width * 8
	for j := 0; j < v.HeadBlocks; j++ {
		p := fmt.Sprintf("roi_head_feature_extractor.%d", j)
		if j == 0 {
			x = e.bottleneck(x, p, inplanes, planes, stride, dilation, v.StrideIn1x1, true)
		} else {
			x = e.bottleneck(x, p, inplanes, planes, 1, dilation, false, false)
		}
		inplanes = planes * 4
	}
	if masks != "" {
		m := b.op("Reshape", []string{b.slice(masks, 1, 0, lo), b.i64(-1, 1, 0, 0)}) // [B·Lo,1,PH,PW]
		x = b.bin("Mul", x, m)
	}
	x = b.op("GlobalAveragePool", []string{x})
	feat := b.op("Reshape", []string{x, b.op("Concat", []string{b.i64(-1), lo, b.i64(int64(32 * v.Width))}, aInt("axis", 0))})
	b.scope = "visual"
	return feat
}

// bottleneck is the original resnet.py Bottleneck with frozen BN:
// relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + residual), the stride in
// conv1 (Caffe style) or conv2, conv2's padding its dilation.
func (e *exporter) bottleneck(x, p string, inplanes, planes, stride, dilation int, strideIn1x1, down bool) string {
	s1, s2 := 1, stride
	if strideIn1x1 {
		s1, s2 = stride, 1
	}
	y := e.convBN(x, p+".conv1", p+".bn1", planes, inplanes, 1, s1, 0, 1, true)
	y = e.convBN(y, p+".conv2", p+".bn2", planes, planes, 3, s2, dilation, dilation, true)
	y = e.convBN(y, p+".conv3", p+".bn3", planes*4, planes, 1, 1, 0, 1, false)
	res := x
	if down {
		res = e.convBN(x, p+".downsample.0", p+".downsample.1", planes*4, inplanes, 1, stride, 0, 1, false)
	}
	return e.b.op("Relu", []string{e.b.bin("Add", y, res)})
}

// convBN is a bias-free convolution followed by frozen BatchNorm as the affine
// x·scale + shift (scale = γ/√(var+1e-5), shift = β − mean·scale, computed in
// float64 as internal/visual does), and ReLU when relu is set.
func (e *exporter) convBN(x, conv, bn string, cout, cin, k, stride, pad, dilation int, relu bool) string {
	b := e.b
	w := b.weight(visualPrefix+conv+".weight", cout, cin, k, k)
	y := b.op("Conv", []string{x, w}, aInts("kernel_shape", int64(k), int64(k)), aInts("strides", int64(stride), int64(stride)),
		aInts("pads", int64(pad), int64(pad), int64(pad), int64(pad)), aInts("dilations", int64(dilation), int64(dilation)))
	scale, shift := e.bnAffine(visualPrefix+bn, cout)
	y = b.bin("Add", b.bin("Mul", y, scale), shift)
	if relu {
		y = b.op("Relu", []string{y})
	}
	return y
}

func (e *exporter) bnAffine(prefix string, c int) (scale, shift string) {
	b := e.b
	var ws [4]Weight
	for i, s := range []string{".weight", ".bias", ".running_mean", ".running_var"} {
		w, ok := b.lookup(prefix+s, []int{c})
		if !ok {
			return prefix + s, prefix + s
		}
		b.used[prefix+s] = true
		ws[i] = w
	}
	sc, sh := make([]float32, c), make([]float32, c)
	for i := 0; i < c; i++ {
		s := float64(ws[0].Data[i]) / math.Sqrt(float64(ws[3].Data[i])+1e-5)
		sc[i] = float32(s)
		sh[i] = float32(float64(ws[1].Data[i]) - float64(ws[2].Data[i])*s)
	}
	dims := []int64{int64(c), 1, 1}
	return b.initializer(prefix+".scale", Float, dims, float32Bytes(sc)), b.initializer(prefix+".shift", Float, dims, float32Bytes(sh))
}
