package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLossNormInBatchFirst states MLM/MVRC_LOSS_NORM_IN_BATCH_FIRST against the
// pretraining module's formula, Σ_b Σ_{i∈b} loss_i/(n_b+1e-4) / (#{b: n_b>0}+1e-4),
// computed from the per-row scores of a forward, for the sparse and the full MLM
// decoder, and checks its gradient by central differences.
func TestLossNormInBatchFirst(t *testing.T) {
	for _, task := range []Task{TaskPretrain, TaskPretrainMultitask} {
		for _, all := range []bool{false, true} {
			c := tinyConfig(task)
			c.MLMLossNormInBatchFirst, c.MVRCLossNormInBatchFirst = true, true
			mod, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := AsPretrain(mod)
			randomizeParams(m, 11)
			m.AllMLMLogits = true
			bt := pretrainBatch(rand.New(rand.NewPCG(4, 4)), task == TaskPretrainMultitask)
			// Unequal counts per sample, so that the per-sample mean differs from
			// the batch mean: two MLM labels and two MVRC RoIs in sample 0.
			bt.MLMLabels[2] = 55
			bt.MVRCLabels[(0*bt.Boxes.NB+2)*c.RegionClasses+3] = 1
			o, err := m.Forward(bt)
			if err != nil {
				t.Fatal(err)
			}
			W, R := c.VocabSize, c.RegionClasses
			norm := func(rows [][]float64) float64 { // rows[b] = losses of b's labelled rows
				var sum float64
				has := 0
				for _, r := range rows {
					if len(r) > 0 {
						has++
					}
					for _, l := range r {
						sum += l / (float64(len(r)) + 1e-4)
					}
				}
				return sum / (float64(has) + 1e-4)
			}
			ce := func(z []float32, k int) float64 {
				mx := math.Inf(-1)
				for _, v := range z {
					mx = math.Max(mx, float64(v))
				}
				var s float64
				for _, v := range z {
					s += math.Exp(float64(v) - mx)
				}
				return mx + math.Log(s) - float64(z[k])
			}
			mlmRows := func(logits []float32, labels []int32, n, L int) [][]float64 {
				rows := make([][]float64, n)
				for b := 0; b < n; b++ {
					for t := 0; t < L; t++ {
						if l := labels[b*L+t]; l >= 0 {
							rows[b] = append(rows[b], ce(logits[(b*o.Lm+t)*W:(b*o.Lm+t+1)*W], int(l)))
						}
					}
				}
				return rows
			}
			wantMLM := norm(mlmRows(o.MLMLogits, bt.MLMLabels, 2, bt.LT))
			NB := bt.Boxes.NB
			mvrc := make([][]float64, 2)
			for b := 0; b < 2; b++ {
				for j := 0; j < NB; j++ {
					lab := bt.MVRCLabels[(b*NB+j)*R : (b*NB+j+1)*R]
					var s, l float64
					z := o.MVRCLogits[(b*NB+j)*R : (b*NB+j+1)*R]
					for k, v := range lab {
						s += float64(v)
						if v != 0 {
							l += float64(v) * ce(z, k)
						}
					}
					if math.Abs(s-1) < 0.1 {
						mvrc[b] = append(mvrc[b], l)
					}
				}
			}
			wantMVRC := norm(mvrc)
			if math.Abs(float64(o.MLMLoss)-wantMLM) > 1e-5*math.Max(1, wantMLM) || math.Abs(float64(o.MVRCLoss)-wantMVRC) > 1e-5*math.Max(1, wantMVRC) {
				t.Errorf("%v: MLM %g want %g, MVRC %g want %g", task, o.MLMLoss, wantMLM, o.MVRCLoss, wantMVRC)
			}
			if task == TaskPretrainMultitask {
				if want := norm(mlmRows(o.MLMAuxLogits, bt.AuxMLMLabels, bt.BA, bt.LA)); math.Abs(float64(o.MLMAuxLoss)-want) > 1e-5*math.Max(1, want) {
					t.Errorf("aux MLM %g, want %g", o.MLMAuxLoss, want)
				}
			}
			m.AllMLMLogits = all
			m.Train, m.Seed, m.Step = true, 9, 1
			gradCheck(t, m, func() float64 {
				o, err := m.Forward(bt)
				if err != nil {
					t.Fatal(err)
				}
				return float64(o.Total)
			}, func() { m.Backward(1) }, 6)
		}
	}
}
