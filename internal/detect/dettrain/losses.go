package dettrain

import "math"

// The losses of train.prototxt. Each returns the loss and OVERWRITES the
// gradient of its input for a unit loss weight times lossWeight.

// softmaxLoss is Caffe's SoftmaxWithLoss as bottom-up-attention's fork
// computes it (caffe/src/caffe/layers/softmax_loss_layer.cpp): x [N, K]
// logits, labels [N, L] with L labels per instance (−1 ignored when
// ignore); an instance's loss is the mean of −log p over its valid labels,
// and the sum over instances is divided by the number of instances with a
// valid label (VALID normalization, at least 1). rpn_loss_cls (normalize:
// true), loss_cls (one label each, none ignored: the mean) and loss_attr
// (16 labels, ignore −1) are all this loss. dx may be nil.
//
//	dx[n, k] = lossWeight · (p[n, k] − Σ_l [label_l = k]/L_n) / count
func softmaxLoss(dx, x []float32, labels []int, N, K, L int, lossWeight float32) float32 {
	p := make([]float64, K)
	var loss float64
	count := 0
	valid := make([]int, N)
	for n := 0; n < N; n++ {
		for _, l := range labels[n*L : (n+1)*L] {
			if l >= 0 {
				valid[n]++
			}
		}
		if valid[n] > 0 {
			count++
		}
	}
	norm := float64(max(count, 1))
	for n := 0; n < N; n++ {
		row := x[n*K : (n+1)*K]
		var d []float32
		if dx != nil {
			d = dx[n*K : (n+1)*K]
			clear(d)
		}
		if valid[n] == 0 {
			continue
		}
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var s float64
		for k, v := range row {
			p[k] = math.Exp(float64(v - m))
			s += p[k]
		}
		for k := range p {
			p[k] /= s
		}
		inv := 1 / float64(valid[n])
		for _, l := range labels[n*L : (n+1)*L] {
			if l >= 0 {
				loss -= math.Log(math.Max(p[l], 1.1754943508222875e-38)) * inv
			}
		}
		if d != nil {
			for k := range d {
				d[k] = float32(p[k] / norm * float64(lossWeight))
			}
			for _, l := range labels[n*L : (n+1)*L] {
				if l >= 0 {
					d[l] -= float32(inv / norm * float64(lossWeight))
				}
			}
		}
	}
	return float32(loss / norm * float64(lossWeight))
}

// smoothL1Loss is py-faster-rcnn's SmoothL1Loss layer
// (caffe/src/caffe/layers/smooth_l1_loss_layer.cpp) with inside and outside
// weights: d = inside·(x − t), f(d) = 0.5·σ²·d² if |d| < 1/σ² else |d| − 0.5/σ²,
// loss = Σ outside·f(d) / num, num the blob's first axis (1 for the RPN,
// the RoI count for the head). dx may be nil.
//
//	dx = lossWeight · outside · inside · f'(d) / num
func smoothL1Loss(dx, x, t, inside, outside []float32, sigma float64, num int, lossWeight float32) float32 {
	s2 := sigma * sigma
	var loss float64
	for i := range x {
		d := float64(inside[i]) * float64(x[i]-t[i])
		var f, g float64
		if math.Abs(d) < 1/s2 {
			f, g = 0.5*d*d*s2, d*s2
		} else {
			f, g = math.Abs(d)-0.5/s2, math.Copysign(1, d)
		}
		loss += float64(outside[i]) * f
		if dx != nil {
			dx[i] = float32(float64(lossWeight) * float64(outside[i]) * float64(inside[i]) * g / float64(num))
		}
	}
	return float32(loss / float64(num) * float64(lossWeight))
}
