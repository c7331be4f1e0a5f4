package logging

import (
	"fmt"
	"path/filepath"
)

// TensorBoardDir is where the original writes event files: <logDir> in
// non-distributed mode (rank < 0), <logDir>/rank<r> in distributed mode.
// The original's default logDir is <output dir>/tensorboard_logs.
func TensorBoardDir(logDir string, rank int) string {
	if rank < 0 {
		return logDir
	}
	return filepath.Join(logDir, fmt.Sprintf("rank%d", rank))
}

// TrainStepScalars lists the scalars the original trainer writes after
// every batch, in its order: Initial-LR/Group_i and LR/Group_i for each
// parameter group, Train-Loss (the loss divided by the accumulation steps),
// then Train-<metric> for each training metric. grad-para/Total-Norm is
// written separately, on updates with clipping.
func TrainStepScalars(initialLRs, lrs []float64, loss float64, metrics []Metric) []Scalar {
	if len(initialLRs) != len(lrs) {
		panic("logging: initialLRs and lrs differ in length")
	}
	out := make([]Scalar, 0, 2*len(lrs)+1+len(metrics))
	for i := range lrs {
		out = append(out, Scalar{InitialLRTag(i), float32(initialLRs[i])}, Scalar{LRTag(i), float32(lrs[i])})
	}
	out = append(out, Scalar{TagTrainLoss, float32(loss)})
	for _, m := range metrics {
		out = append(out, Scalar{TrainTag(m.Name), float32(m.Value)})
	}
	return out
}
