package model

import "github.com/vlbert/vlbert/internal/kernels"

// NETWORK.MLM_LOSS_NORM_IN_BATCH_FIRST and MVRC_LOSS_NORM_IN_BATCH_FIRST (the
// pretraining modules' forward): instead of the mean over every labelled row of
// the batch, each sample's labelled rows are averaged first and those averages
// are averaged over the samples that have any,
//
//	loss = Σ_b Σ_{i ∈ b} loss_i / (n_b + 1e-4) / (#{b : n_b > 0} + 1e-4),
//
// so every row i gets the weight 1 / ((n_b + 1e-4)·(#{b : n_b > 0} + 1e-4)).
// The multitask module normalizes the captions' rows and the text-only rows
// separately (mlm_loss_wvc, mlm_loss_aux).

// normWeights fills w[i] for the n rows of one loss group: sample[i] is row i's
// sample (samples numbered from 0 to nSamples-1 within the group), labelled[i]
// whether it counts.
func normWeights(w []float32, sample []int32, labelled []bool, nSamples int, counts []int32) {
	clear(counts[:nSamples])
	for i, ok := range labelled {
		if ok {
			counts[sample[i]]++
		}
	}
	has := 0
	for _, c := range counts[:nSamples] {
		if c > 0 {
			has++
		}
	}
	for i, ok := range labelled {
		w[i] = 0
		if ok {
			w[i] = float32(1 / ((float64(counts[sample[i]]) + 1e-4) * (float64(has) + 1e-4)))
		}
	}
}

// weightedCEForward is Σ_i w[i]·CE(logits_i, labels_i) over n rows (ignored rows,
// label -1, add nothing); probs is filled as by kernels.CrossEntropyForward.
func weightedCEForward(probs, logits []float32, labels []int32, w []float32, n, V int) float32 {
	var sum float64
	for i := 0; i < n; i++ {
		l, _ := kernels.CrossEntropyForward(probs[i*V:(i+1)*V], logits[i*V:(i+1)*V], labels[i:i+1], 1, V)
		sum += float64(w[i]) * float64(l)
	}
	return float32(sum)
}

// weightedCEBackward overwrites dlogits [n*V] with dloss·∂(weightedCEForward)/∂logits.
func weightedCEBackward(dlogits, probs []float32, labels []int32, w []float32, n, V int, dloss float32) {
	for i := 0; i < n; i++ {
		kernels.CrossEntropyBackward(dlogits[i*V:(i+1)*V], probs[i*V:(i+1)*V], labels[i:i+1], 1, V, dloss*w[i])
	}
}

// weightedSoftCEForward is weightedCEForward for soft labels (MVRC).
func weightedSoftCEForward(probs, logits, targets, w []float32, n, V int) float32 {
	var sum float64
	for i := 0; i < n; i++ {
		l, _ := kernels.SoftCrossEntropyForward(probs[i*V:(i+1)*V], logits[i*V:(i+1)*V], targets[i*V:(i+1)*V], 1, V)
		sum += float64(w[i]) * float64(l)
	}
	return float32(sum)
}

// weightedSoftCEBackward is weightedCEBackward for soft labels.
func weightedSoftCEBackward(dlogits, probs, targets, w []float32, n, V int, dloss float32) {
	for i := 0; i < n; i++ {
		kernels.SoftCrossEntropyBackward(dlogits[i*V:(i+1)*V], probs[i*V:(i+1)*V], targets[i*V:(i+1)*V], 1, V, dloss*w[i])
	}
}

// mlmNormWeights returns the MLM_LOSS_NORM_IN_BATCH_FIRST weights of the rows
// rows[i] (flat text positions b·Lm+t) with labels[i]; the first nW rows are the
// captions' (samples 0..B-1), the rest the text-only rows'.
func (m *Pretrain) mlmNormWeights(rows, labels []int32, nW, B, BA, Lm int) []float32 {
	n := len(rows)
	w := m.acts.alloc(n)
	sample := m.ints.alloc(n)
	labelled := m.boolBuf(2, n)
	for i, r := range rows {
		sample[i] = r / int32(Lm)
		if i >= nW {
			sample[i] -= int32(B)
		}
		labelled[i] = labels[i] >= 0
	}
	counts := m.ints.alloc(max(B, BA))
	normWeights(w[:nW], sample[:nW], labelled[:nW], B, counts)
	normWeights(w[nW:], sample[nW:], labelled[nW:], BA, counts)
	return w
}

// mvrcNormWeights returns the MVRC_LOSS_NORM_IN_BATCH_FIRST weights of the B·lo
// RoI rows (valid: soft labels summing to 1 within 0.1).
func (m *Pretrain) mvrcNormWeights(labels []float32, B, lo, R int) []float32 {
	n := B * lo
	w := m.acts.alloc(n)
	sample := m.ints.alloc(n)
	labelled := m.boolBuf(2, n)
	for i := 0; i < n; i++ {
		sample[i] = int32(i / lo)
		var s float64
		for _, v := range labels[i*R : (i+1)*R] {
			s += float64(v)
		}
		labelled[i] = s-1 < 0.1 && 1-s < 0.1
	}
	normWeights(w, sample, labelled, B, m.ints.alloc(B))
	return w
}
