package train

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/dist"
	"github.com/vlbert/vlbert/internal/logging"
)

// runLogger writes the per-batch and validation logs.
type runLogger struct {
	tb       *logging.EventWriter   // nil off rank 0
	metrics  *logging.MetricsWriter // nil off rank 0
	progress *logging.Progress
	comm     dist.Comm
}

func (l *runLogger) batch(tr *Trainer, epoch, nbatch int, s StepResult, mt *Metrics, ph logging.Phases) error {
	all, err := mt.reduced(l.comm) // collective: every rank logs
	if err != nil {
		return err
	}
	if l.tb == nil {
		return nil
	}
	groups := tr.Opt.Groups()
	initial, lrs := make([]float64, len(groups)), make([]float64, len(groups))
	for i, g := range groups {
		initial[i], lrs[i] = g.InitialLR, g.LR
	}
	list := all.List()
	scalars := logging.TrainStepScalars(initial, lrs, s.Loss, list)
	if s.Updated && tr.Cfg.Train.ClipGradNorm > 0 {
		scalars = append(scalars, logging.Scalar{Tag: "grad-para/Total-Norm", Value: float32(s.GradNorm)})
	}
	step := int64(tr.State.Global - 1)
	if err := l.tb.AddScalars(step, scalars...); err != nil {
		return err
	}
	rec := logging.Record{Step: step, Epoch: epoch, Time: float64(time.Now().UnixNano()) / 1e9, Metrics: map[string]float64{}}
	for _, sc := range scalars {
		rec.Metrics[sc.Tag] = float64(sc.Value)
	}
	rec.Metrics["Train-Loss"] = s.Loss
	if err := l.metrics.Write(rec); err != nil {
		return err
	}
	l.progress.Batch(epoch, nbatch, ph, list)
	return nil
}

func (l *runLogger) val(step int64, epoch int, val map[string]float64, names []string) error {
	if l.tb == nil {
		return nil
	}
	rec := logging.Record{Step: step, Epoch: epoch, Time: float64(time.Now().UnixNano()) / 1e9, Metrics: map[string]float64{}}
	var scalars []logging.Scalar
	for _, n := range names {
		scalars = append(scalars, logging.Scalar{Tag: logging.ValTag(n), Value: float32(val[n])})
		rec.Metrics[logging.ValTag(n)] = val[n]
	}
	if err := l.tb.AddScalars(step, scalars...); err != nil {
		return err
	}
	if err := l.tb.Flush(); err != nil {
		return err
	}
	return l.metrics.Write(rec)
}

func formatMetrics(prefix string, m map[string]float64, names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString("\t")
		}
		fmt.Fprintf(&b, "%s-%s=%f", prefix, n, m[n])
	}
	return b.String()
}

// openLog tees messages to opts.Log and {outDir}/{cfg name}_{time}.log.
func openLog(outDir string, opts Options) (io.Writer, func(), error) {
	w := opts.Log
	if w == nil {
		w = io.Discard
	}
	name := strings.TrimSuffix(filepath.Base(opts.CfgPath), filepath.Ext(opts.CfgPath))
	if name == "" || name == "." {
		name = "train"
	}
	path := filepath.Join(outDir, fmt.Sprintf("%s_%s.log", name, time.Now().UTC().Format("2006-01-02-15-04")))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	return io.MultiWriter(w, f), func() { f.Close() }, nil
}

// saveConfigCopy writes the resolved config next to the checkpoints, as the
// original copies the YAML into the output directory.
func saveConfigCopy(cfg *config.Config, outDir, cfgPath string) error {
	b, err := cfg.Marshal()
	if err != nil {
		return fmt.Errorf("train: config: %w", err)
	}
	name := filepath.Base(cfgPath)
	if cfgPath == "" {
		name = "config.yaml"
	}
	return os.WriteFile(filepath.Join(outDir, name), b, 0o644)
}

// newEventWriter opens a new TensorBoard event file. Its name holds the
// time in seconds, so a run resumed within the second of the previous one
// waits for the next second rather than fail.
func newEventWriter(dir string) (*logging.EventWriter, error) {
	for try := 0; ; try++ {
		w, err := logging.NewEventWriter(dir)
		if err == nil || !errors.Is(err, fs.ErrExist) || try == 2 {
			return w, err
		}
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	}
}
