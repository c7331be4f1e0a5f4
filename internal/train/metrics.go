package train

import (
	"math"

	"github.com/vlbert/vlbert/internal/dist"

	"github.com/vlbert/vlbert/internal/logging"
)

// Metrics accumulates the original EvalMetric pairs (sum, count) by name; a
// value is sum/count, NaN with no count, as the original's get().
type Metrics struct {
	names []string
	sum   map[string]float64
	num   map[string]float64
}

// NewMetrics returns empty accumulators for names, kept in that order.
func NewMetrics(names []string) *Metrics {
	return &Metrics{names: names, sum: map[string]float64{}, num: map[string]float64{}}
}

// Add adds sum over n instances to name.
func (m *Metrics) Add(name string, sum, n float64) {
	m.sum[name] += sum
	m.num[name] += n
}

// Reset clears every accumulator.
func (m *Metrics) Reset() { clear(m.sum); clear(m.num) }

// Get returns the value of name.
func (m *Metrics) Get(name string) float64 {
	if m.num[name] == 0 {
		return math.NaN()
	}
	return m.sum[name] / m.num[name]
}

// List returns every metric in order.
func (m *Metrics) List() []logging.Metric {
	out := make([]logging.Metric, len(m.names))
	for i, n := range m.names {
		out[i] = logging.Metric{Name: n, Value: m.Get(n)}
	}
	return out
}

// Map returns every metric by name.
func (m *Metrics) Map() map[string]float64 {
	out := make(map[string]float64, len(m.names))
	for _, n := range m.names {
		out[n] = m.Get(n)
	}
	return out
}

// argmax returns the index of the largest of x (the first on ties).
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// lossLoggerNames appends the display names of the config's loss loggers.
func lossLoggerNames(names []string, loggers []lossLogger) []string {
	for _, l := range loggers {
		names = append(names, l.display)
	}
	return names
}

type lossLogger struct{ output, display string }

func nan() float64 { return math.NaN() }

// reduced returns the metrics summed over comm's ranks (the original
// all-reduces (sum, count) when a metric is read); m itself is unchanged.
func (m *Metrics) reduced(c dist.Comm) (*Metrics, error) {
	if c == nil || c.Size() == 1 {
		return m, nil
	}
	v := make([]float64, 2*len(m.names))
	for i, n := range m.names {
		v[2*i], v[2*i+1] = m.sum[n], m.num[n]
	}
	if err := c.AllReduceSumF64(v); err != nil {
		return nil, err
	}
	out := NewMetrics(m.names)
	for i, n := range m.names {
		out.sum[n], out.num[n] = v[2*i], v[2*i+1]
	}
	return out, nil
}
