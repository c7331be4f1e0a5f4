package detect

import (
	"math"

	"github.com/vlbert/vlbert/internal/gemm"
	"github.com/vlbert/vlbert/internal/parallel"
)

// HeadOutput is the per-RoI output of the Fast R-CNN head for R RoIs.
type HeadOutput struct {
	R        int
	Pool5    []float32 // [R, F] pool5_flat
	ClsScore []float32 // [R, NumClasses] cls_score (logits)
	ClsProb  []float32 // [R, NumClasses] cls_prob
	BboxPred []float32 // [R, 4·NumClasses] bbox_pred
	PredCls  []int     // [R] predicted_cls (ArgMax of cls_score)
	AttrProb []float32 // [R, NumAttributes] attr_prob
}

// Head runs ROIPooling, res5 and the output layers for rois (scaled image
// pixels) on the res4 map feat [C4, FH, FW]. RoIs go through res5 in chunks
// of HeadChunk. The returned slices are freshly allocated.
func (n *Network) Head(feat []float32, FH, FW int, rois []Box) HeadOutput {
	R, F := len(rois), n.FeatureDim()
	P, C4 := n.Cfg.PooledSize, n.Cfg.StageOut(2)
	pool5 := make([]float32, R*F)
	ws := &n.ws
	chunk := max(n.HeadChunk, 1)
	for lo := 0; lo < R; lo += chunk {
		hi := min(lo+chunk, R)
		m := hi - lo
		ws.pooled = grow(ws.pooled, m*C4*P*P)
		RoIPool(ws.pooled, feat, C4, FH, FW, rois[lo:hi], P, 1/float32(n.Cfg.FeatStride), true)
		x, h, w := ws.pooled, P, P
		cur := 0
		for i := range n.stages[3] {
			b := &n.stages[3][i]
			oh, ow := b.b2b.cv.OutSize(b.branch2a.cv.OutSize(h, w))
			ws.headAct[cur] = grow(ws.headAct[cur], m*b.b2c.cv.K*oh*ow)
			h, w = b.forwardCN(ws, ws.headAct[cur], x, m, h, w)
			x, cur = ws.headAct[cur], 1-cur
		}
		avgPoolCaffe(pool5[lo*F:hi*F], x, m, F, h*w)
	}
	return n.heads(pool5, R)
}

// avgPoolCaffe is pool5 (global AVE pooling) of the channel-major res5
// output inp [F, R, HW] into out [R, F]: each plane summed in row-major order
// in float32, then divided by its size, as Caffe's PoolingLayer does.
func avgPoolCaffe(out, inp []float32, R, F, HW int) {
	parallel.For(F, 64, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			for r := 0; r < R; r++ {
				var s float32
				for _, v := range inp[(c*R+r)*HW : (c*R+r+1)*HW] {
					s += v
				}
				out[r*F+c] = s / float32(HW)
			}
		}
	})
}

// heads runs cls_score, cls_prob, bbox_pred, predicted_cls, cls_embedding,
// fc_attr (+ReLU), attr_score and attr_prob on pool5 [R, F].
func (n *Network) heads(pool5 []float32, R int) HeadOutput {
	cfg := n.Cfg
	F, NC, NA, E, AH := n.FeatureDim(), cfg.NumClasses, cfg.NumAttributes, cfg.EmbedDim, cfg.AttrHidden
	o := HeadOutput{R: R, Pool5: pool5}
	o.ClsScore = linear(pool5, n.clsW, n.clsB, R, F, NC)
	o.BboxPred = linear(pool5, n.bboxW, n.bboxB, R, F, 4*NC)
	o.ClsProb = softmaxRows(o.ClsScore, R, NC)
	o.PredCls = make([]int, R)
	concat := make([]float32, R*(F+E))
	for r := 0; r < R; r++ {
		o.PredCls[r] = argmaxCaffe(o.ClsScore[r*NC : (r+1)*NC])
		// concat_pool5: pool5_flat first, then cls_embedding_flat.
		copy(concat[r*(F+E):], pool5[r*F:(r+1)*F])
		copy(concat[r*(F+E)+F:], n.embed[o.PredCls[r]*E:(o.PredCls[r]+1)*E])
	}
	hidden := linear(concat, n.attrW, n.attrB, R, F+E, AH)
	for i, v := range hidden {
		hidden[i] = max(v, 0)
	}
	attrScore := linear(hidden, n.attrSW, n.attrSB, R, AH, NA)
	o.AttrProb = softmaxRows(attrScore, R, NA)
	return o
}

// linear is Caffe's InnerProduct: out [R, K] = x [R, F] · wᵀ (w [K, F]) + b.
func linear(x, w, b []float32, R, F, K int) []float32 {
	out := make([]float32, R*K)
	if R == 0 {
		return out
	}
	gemm.SgemmBias(false, true, R, K, F, 1, x, F, w, F, 0, out, K, b)
	return out
}

// softmaxRows is Caffe's Softmax over the last axis of x [R, K]: subtract
// the row maximum, exponentiate, divide by the sum (float32).
func softmaxRows(x []float32, R, K int) []float32 {
	out := make([]float32, R*K)
	parallel.For(R, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row, dst := x[r*K:(r+1)*K], out[r*K:(r+1)*K]
			m := row[0]
			for _, v := range row {
				m = max(m, v)
			}
			var s float32
			for i, v := range row {
				e := float32(math.Exp(float64(v - m)))
				dst[i] = e
				s += e
			}
			for i := range dst {
				dst[i] /= s
			}
		}
	})
	return out
}

// argmaxCaffe is Caffe's ArgMaxLayer with top_k 1: it partial-sorts
// (value, index) pairs with std::greater, so among equal maxima the highest
// index wins.
func argmaxCaffe(row []float32) int {
	best := 0
	for i, v := range row {
		if v >= row[best] {
			best = i
		}
	}
	return best
}
