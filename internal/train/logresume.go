package train

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/logging"
	"github.com/vlbert/vlbert/internal/weights"
)

// Logs continue across a resume as if the run had not stopped:
//   - metrics.jsonl is cut back to the checkpoint's position before the
//     resumed run appends (no gaps, no duplicates);
//   - the new TensorBoard file starts with a SessionLog START at the resume
//     step, so TensorBoard drops what the interrupted run logged after the
//     checkpoint (PyTorch's SummaryWriter(purge_step=...));
//   - the epoch's running averages (the Train-* values of the speedometer,
//     TensorBoard and metrics.jsonl) are saved in every checkpoint and
//     restored, so the first resumed line continues them. In a data-parallel
//     job they restart at the resumed batch, and the log says so.

// metaRunning is the checkpoint metadata key of the running averages: JSON
// {"names": [...], "sum": {...}, "num": {...}} of rank 0's Metrics.
const metaRunning = "trainer.running_metrics"

type runningMetrics struct {
	Sum map[string]float64 `json:"sum"`
	Num map[string]float64 `json:"num"`
}

// runningOf snapshots m (nil when m is nil or empty).
func runningOf(m *Metrics) *runningMetrics {
	if m == nil || len(m.num) == 0 {
		return nil
	}
	r := &runningMetrics{Sum: map[string]float64{}, Num: map[string]float64{}}
	for k, v := range m.sum {
		r.Sum[k] = v
	}
	for k, v := range m.num {
		r.Num[k] = v
	}
	return r
}

// resumedLogs prepares the logs of a resumed run (rank 0, before the
// writers open): it cuts metrics.jsonl back to the checkpoint and reads the
// running averages to restore.
func (r *trainRun) resumedLogs() error {
	tr := r.tr
	if tr.resumedFrom == "" {
		// A fresh start: records of an earlier run here that left no
		// checkpoint (killed before its first) would be logged again.
		if r.rank0 {
			n, err := logging.TruncateMetrics(filepath.Join(r.outDir, "metrics.jsonl"), func(logging.Record) bool { return false })
			if err != nil {
				return err
			}
			if n > 0 {
				r.purgeAll = true
				fmt.Fprintf(r.log, "metrics.jsonl: removed %d records of an earlier run here that left no checkpoint; this run starts from scratch\n", n)
			}
		}
		return nil
	}
	st := tr.State
	perEpoch := r.perEpoch
	keep := func(rec logging.Record) bool {
		if isValRecord(rec) {
			if rec.Epoch != st.Epoch {
				return rec.Epoch < st.Epoch
			}
			// Mid-epoch validations (ValEvery) log at the global batch; the
			// epoch-end one at epoch+1, and only once the epoch's batches are done.
			if st.Batch >= perEpoch && rec.Step == int64(rec.Epoch+1) {
				return false
			}
			return rec.Step <= int64(st.Global)
		}
		return rec.Step < int64(st.Global) // a batch logs at global-1
	}
	if r.rank0 {
		path := filepath.Join(r.outDir, "metrics.jsonl")
		n, err := logging.TruncateMetrics(path, keep)
		if err != nil {
			return err
		}
		if n > 0 {
			fmt.Fprintf(r.log, "metrics.jsonl: removed %d records logged after %s (global batch %d); the resumed run logs them again\n", n, tr.resumedFrom, st.Global)
		}
	}
	if st.Batch == 0 || st.Batch >= perEpoch {
		return nil // a fresh epoch: nothing running
	}
	if r.parallel {
		fmt.Fprintf(r.log, "running averages (Train-*) restart at the resumed batch (a data-parallel job keeps them per rank)\n")
		return nil
	}
	meta, err := weights.ReadSafetensorsMetadata(tr.resumedFrom)
	if err != nil || meta[metaRunning] == "" {
		fmt.Fprintf(r.log, "running averages (Train-*) restart at the resumed batch (%s does not store them)\n", tr.resumedFrom)
		return nil
	}
	var rm runningMetrics
	if err := json.Unmarshal([]byte(meta[metaRunning]), &rm); err != nil {
		return fmt.Errorf("train: resume: %s: %s: %w", tr.resumedFrom, metaRunning, err)
	}
	r.restoreRunning = &rm
	fmt.Fprintf(r.log, "running averages (Train-*) continue from %s\n", tr.resumedFrom)
	return nil
}

func isValRecord(rec logging.Record) bool {
	for k := range rec.Metrics {
		if strings.HasPrefix(k, "Val-") {
			return true
		}
	}
	return false
}

// purgeTensorBoard marks the resume step in the new event file.
func (r *trainRun) purgeTensorBoard() error {
	if r.tr.resumedFrom == "" && !r.purgeAll || r.lg.tb == nil {
		return nil
	}
	return r.lg.tb.AddSessionStart(int64(r.tr.State.Global))
}

// syncLogs makes the logs durable before a checkpoint is written: a
// checkpoint at global batch g promises that every step before g is logged,
// so a resume from it (which logs from g on) leaves no gap.
func (r *trainRun) syncLogs() error {
	if r.lg == nil || r.lg.metrics == nil {
		return nil
	}
	if err := r.lg.metrics.Sync(); err != nil {
		return err
	}
	return r.lg.tb.Flush()
}

// resetEpochMetrics starts an epoch's running averages: empty, or, for the
// epoch a run resumes in, those saved in the checkpoint.
func (r *trainRun) resetEpochMetrics() {
	r.metrics.Reset()
	if rm := r.restoreRunning; rm != nil {
		r.restoreRunning = nil
		for k, v := range rm.Sum {
			r.metrics.sum[k] = v
		}
		for k, v := range rm.Num {
			r.metrics.num[k] = v
		}
	}
}
