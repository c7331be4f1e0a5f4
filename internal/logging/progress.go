package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// IsTerminal reports whether f is a character device (a terminal), where a
// redrawn progress bar makes sense.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Phases are the per-batch times the original trainer measures.
type Phases struct {
	Data, Transfer, Forward, Backward, Optimizer, Metric time.Duration
}

func (p *Phases) add(q Phases) {
	p.Data += q.Data
	p.Transfer += q.Transfer
	p.Forward += q.Forward
	p.Backward += q.Backward
	p.Optimizer += q.Optimizer
	p.Metric += q.Metric
}

// Metric is one displayed training metric (name without the Train- prefix).
type Metric struct {
	Name  string
	Value float64
}

// Progress reports training progress. Every Every batches of an epoch it
// writes the original Speedometer's line
//
//	Epoch[e] Batch [b]\tSpeed: 12.34 samples/s ETA: 0 d  1 h  2 m\tData: 0.001 Tran: 0.000 F: 0.100 B: 0.200 O: 0.010 M: 0.000\tTrain-Loss=0.500000,\t
//
// (times are per-batch averages in seconds), and at the first batch of each
// epoch the "Speed: -" line. With Terminal set it also keeps a one-line bar
// with samples/s, ETA and the metrics, redrawn with \r at most every
// RedrawEvery, with the periodic lines printed above it.
type Progress struct {
	W               io.Writer
	Terminal        bool
	Every           int           // LOG_FREQUENT
	BatchSize       int           // samples per batch over all ranks (the original: len(GPUS) × Σ BATCH_IMAGES)
	BatchesPerEpoch int           // len(train_loader)
	Epochs          int           // END_EPOCH − BEGIN_EPOCH
	Rank            int           // < 0: not distributed, no Rank[r] prefix
	RedrawEvery     time.Duration // terminal bar throttle (default 100 ms)

	mu         sync.Mutex
	now        func() time.Time
	init       bool
	epochCount int // the Speedometer's own epoch counter, for the ETA
	lastBatch  int
	tic        time.Time
	sums       Phases
	epochStart time.Time
	epochDone  int // batches done this epoch, for the bar
	lastDraw   time.Time
	barShown   bool
}

// NewProgress returns a Progress writing to w; terminal selects the bar.
func NewProgress(w io.Writer, terminal bool, every, batchSize, batchesPerEpoch, epochs int) *Progress {
	return &Progress{W: w, Terminal: terminal, Every: max(1, every), BatchSize: batchSize,
		BatchesPerEpoch: batchesPerEpoch, Epochs: epochs, Rank: -1}
}

func (p *Progress) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// Batch records batch nbatch (0-based within the epoch) of epoch, its phase
// times and the current training metrics, and writes whatever is due.
func (p *Progress) Batch(epoch, nbatch int, t Phases, metrics []Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock()
	if p.lastBatch > nbatch {
		p.init = false // a new epoch started
	}
	p.lastBatch = nbatch
	p.sums.add(t)
	every := max(1, p.Every)
	if !p.init {
		p.init = true
		p.epochCount++
		p.epochStart = now
		p.epochDone = 0
		p.line(fmt.Sprintf("Epoch[%d] Batch [%d]\tSpeed: - samples/sec ETA: - d - h - m", epoch, 0), metrics)
		p.tic = now
	} else if nbatch%every == 0 {
		elapsed := now.Sub(p.tic).Seconds()
		speed := float64(every*p.BatchSize) / max(elapsed, 1e-9)
		n := float64(every)
		eta := int(p.remainingSamples(nbatch) / speed / 60)
		etaM := eta % 60
		etaH := ((eta - etaM) / 60) % 24
		etaD := (eta - etaM - etaH*60) / (24 * 60)
		s := fmt.Sprintf("Epoch[%d] Batch [%d]\tSpeed: %.2f samples/s ETA: %d d %2d h %2d m\tData: %.3f Tran: %.3f F: %.3f B: %.3f O: %.3f M: %.3f",
			epoch, nbatch, speed, etaD, etaH, etaM,
			p.sums.Data.Seconds()/n, p.sums.Transfer.Seconds()/n, p.sums.Forward.Seconds()/n,
			p.sums.Backward.Seconds()/n, p.sums.Optimizer.Seconds()/n, p.sums.Metric.Seconds()/n)
		p.line(s, metrics)
		p.tic = now
		p.sums = Phases{}
	}
	p.epochDone = nbatch + 1
	if p.Terminal && (now.Sub(p.lastDraw) >= p.redrawEvery() || p.epochDone == p.BatchesPerEpoch) {
		p.drawBar(epoch, now, metrics)
	}
}

func (p *Progress) redrawEvery() time.Duration {
	if p.RedrawEvery > 0 {
		return p.RedrawEvery
	}
	return 100 * time.Millisecond
}

// remainingSamples is the Speedometer's ETA numerator.
func (p *Progress) remainingSamples(nbatch int) float64 {
	batches := (p.Epochs-p.epochCount)*p.BatchesPerEpoch + p.BatchesPerEpoch - nbatch
	return float64(max(0, batches) * p.BatchSize)
}

// line writes one Speedometer line with the metrics appended.
func (p *Progress) line(s string, metrics []Metric) {
	if len(metrics) > 0 {
		var b strings.Builder
		b.WriteString(s)
		b.WriteString("\tTrain-")
		for _, m := range metrics {
			fmt.Fprintf(&b, "%s=%f,\t", m.Name, m.Value)
		}
		s = b.String()
	}
	if p.Rank >= 0 {
		s = fmt.Sprintf("Rank[%3d]", p.Rank) + s
	}
	if p.Terminal && p.barShown {
		io.WriteString(p.W, "\r\x1b[K")
		p.barShown = false
	}
	io.WriteString(p.W, s+"\n")
}

// drawBar redraws the one-line bar: epoch, bar, batch count, samples/s over
// the epoch so far, ETA of the whole run, metrics.
func (p *Progress) drawBar(epoch int, now time.Time, metrics []Metric) {
	p.lastDraw = now
	const width = 24
	frac := 0.0
	if p.BatchesPerEpoch > 0 {
		frac = min(1, float64(p.epochDone)/float64(p.BatchesPerEpoch))
	}
	fill := int(frac * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\r\x1b[Kepoch %d [%s] %d/%d", epoch, bar, p.epochDone, p.BatchesPerEpoch)
	if el := now.Sub(p.epochStart).Seconds(); el > 0 && p.epochDone > 1 {
		// The first batch's time is not measured (as in the Speedometer).
		speed := float64((p.epochDone-1)*p.BatchSize) / el
		fmt.Fprintf(&b, " %.1f samples/s", speed)
		left := (p.Epochs-p.epochCount)*p.BatchesPerEpoch + p.BatchesPerEpoch - p.epochDone
		if speed > 0 {
			fmt.Fprintf(&b, " ETA %s", formatETA(time.Duration(float64(max(0, left)*p.BatchSize)/speed*float64(time.Second))))
		}
	}
	for _, m := range metrics {
		fmt.Fprintf(&b, " %s=%.4g", m.Name, m.Value)
	}
	io.WriteString(p.W, b.String())
	p.barShown = true
}

func formatETA(d time.Duration) string {
	d = d.Round(time.Second)
	h := int(d.Hours())
	m := int(d.Minutes()) % 60
	s := int(d.Seconds()) % 60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm", h, m)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}

// Done ends the bar's line (on a terminal) so later output starts clean.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Terminal && p.barShown {
		io.WriteString(p.W, "\n")
		p.barShown = false
	}
}
