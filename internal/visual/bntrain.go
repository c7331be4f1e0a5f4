package visual

import (
	"fmt"
	"math"
	"strings"
)

// BNMomentum is PyTorch's BatchNorm2d default momentum, the weight of the new
// batch in the running statistics.
const BNMomentum = 0.1

// TrainBN is one BatchNorm2d in training mode (IMAGE_FROZEN_BN false in the
// original: common/backbone/resnet/resnet.py builds nn.BatchNorm2d, and the
// module's train() leaves it in training mode). The forward normalises with the
// statistics of the batch over (N, H, W), per channel, and moves the running
// statistics towards them; the running mean/var and NumBatchesTracked are the
// state_dict's running_mean, running_var and num_batches_tracked. In eval mode
// the layer is FrozenBN (the running statistics).
type TrainBN struct {
	Weight, Bias, RunningMean, RunningVar []float32
	// NumBatchesTracked counts training forwards (PyTorch's buffer; read only
	// when momentum is None, which the original never sets).
	NumBatchesTracked *int64
}

// BNBatch is what the training forward keeps for the backward: the batch mean
// and 1/sqrt(var+eps) per channel (the biased variance, as PyTorch normalises).
type BNBatch struct {
	Mean, InvStd []float32
}

// Frozen is the eval-mode view of the same tensors.
func (bn TrainBN) Frozen() FrozenBN {
	return FrozenBN{Weight: bn.Weight, Bias: bn.Bias, RunningMean: bn.RunningMean, RunningVar: bn.RunningVar}
}

func (bn TrainBN) check(C int) {
	if len(bn.Weight) != C || len(bn.Bias) != C || len(bn.RunningMean) != C || len(bn.RunningVar) != C {
		panic(fmt.Sprintf("visual: batch norm tensors have lengths %d/%d/%d/%d, want %d", len(bn.Weight), len(bn.Bias), len(bn.RunningMean), len(bn.RunningVar), C))
	}
}

// Forward normalises inp [N, C, HW] with its batch statistics into out (may
// alias inp), fills st (grown as needed) for Backward, and updates the running
// statistics as PyTorch does: running = (1−momentum)·running + momentum·batch,
// with the UNBIASED batch variance (M/(M−1), M = N·HW). Sums are in float64.
func (bn TrainBN) Forward(out, inp []float32, st *BNBatch, N, C, HW int) {
	bn.check(C)
	checkLen("bn inp", len(inp), N*C*HW)
	checkLen("bn out", len(out), N*C*HW)
	M := N * HW
	if M < 2 {
		// PyTorch: "Expected more than 1 value per channel when training".
		panic(fmt.Sprintf("visual: training batch norm needs more than 1 value per channel, got %d", M))
	}
	st.Mean = grow(st.Mean, C)
	st.InvStd = grow(st.InvStd, C)
	for c := 0; c < C; c++ {
		var sum float64
		for n := 0; n < N; n++ {
			for _, v := range inp[(n*C+c)*HW : (n*C+c+1)*HW] {
				sum += float64(v)
			}
		}
		mean := sum / float64(M)
		var ss float64
		for n := 0; n < N; n++ {
			for _, v := range inp[(n*C+c)*HW : (n*C+c+1)*HW] {
				d := float64(v) - mean
				ss += d * d
			}
		}
		varB := ss / float64(M)
		inv := 1 / math.Sqrt(varB+BNEps)
		st.Mean[c], st.InvStd[c] = float32(mean), float32(inv)
		s := float64(bn.Weight[c]) * inv
		b := float64(bn.Bias[c]) - mean*s
		for n := 0; n < N; n++ {
			src, dst := inp[(n*C+c)*HW:(n*C+c+1)*HW], out[(n*C+c)*HW:(n*C+c+1)*HW]
			for i, v := range src {
				dst[i] = float32(float64(v)*s + b)
			}
		}
		bn.RunningMean[c] = float32((1-BNMomentum)*float64(bn.RunningMean[c]) + BNMomentum*mean)
		bn.RunningVar[c] = float32((1-BNMomentum)*float64(bn.RunningVar[c]) + BNMomentum*ss/float64(M-1))
	}
	if bn.NumBatchesTracked != nil {
		*bn.NumBatchesTracked++
	}
}

// Backward is the gradient of Forward with respect to its input and to
// weight/bias, given the forward's input inp and statistics st:
//
//	x̂ = (x − mean)·invstd, dβ = Σ dy, dγ = Σ dy·x̂,
//	dx = γ·invstd·(dy − dβ/M − x̂·dγ/M)   (sums over N, H, W; M = N·HW)
//
// dinp [N, C, HW] is OVERWRITTEN (may alias dout); dweight and dbias [C] are
// ADDED to (nil when the parameters are frozen: stages in
// IMAGE_FROZEN_BACKBONE_STAGES keep batch statistics but get no gradient).
func (bn TrainBN) Backward(dinp, dweight, dbias, dout, inp []float32, st *BNBatch, N, C, HW int) {
	bn.check(C)
	checkLen("bn dout", len(dout), N*C*HW)
	checkLen("bn dinp", len(dinp), N*C*HW)
	checkLen("bn inp", len(inp), N*C*HW)
	checkLen("bn mean", len(st.Mean), C)
	M := float64(N * HW)
	for c := 0; c < C; c++ {
		mean, inv := float64(st.Mean[c]), float64(st.InvStd[c])
		var db, dg float64
		for n := 0; n < N; n++ {
			x, dy := inp[(n*C+c)*HW:(n*C+c+1)*HW], dout[(n*C+c)*HW:(n*C+c+1)*HW]
			for i, g := range dy {
				db += float64(g)
				dg += float64(g) * (float64(x[i]) - mean) * inv
			}
		}
		if dweight != nil {
			dweight[c] += float32(dg)
			dbias[c] += float32(db)
		}
		k := float64(bn.Weight[c]) * inv
		for n := 0; n < N; n++ {
			x, dy, dx := inp[(n*C+c)*HW:(n*C+c+1)*HW], dout[(n*C+c)*HW:(n*C+c+1)*HW], dinp[(n*C+c)*HW:(n*C+c+1)*HW]
			for i, g := range dy {
				xh := (float64(x[i]) - mean) * inv
				dx[i] = float32(k * (float64(g) - db/M - xh*dg/M))
			}
		}
	}
}

// BatchCounters returns every BatchNorm's num_batches_tracked counter by its
// state_dict key (e.g. "backbone.bn1.num_batches_tracked"), in parameter
// order of the BN weights. Training-mode BN (Config.TrainBN) advances them;
// frozen BN leaves them as loaded.
func (n *Network) BatchCounters() map[string]*int64 {
	out := map[string]*int64{}
	add := func(b bnParams) {
		out[strings.TrimSuffix(b.Weight.Name, ".weight")+".num_batches_tracked"] = b.NumBatchesTracked
	}
	add(n.BN1)
	for _, blocks := range append(n.Layers[:], n.Head) {
		for _, blk := range blocks {
			add(blk.BN1)
			add(blk.BN2)
			add(blk.BN3)
			if blk.HasDown {
				add(blk.BNDown)
			}
		}
	}
	return out
}
