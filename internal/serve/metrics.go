package serve

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBuckets are the histogram bounds in seconds.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// metrics counts requests per endpoint and status and keeps a latency histogram
// per endpoint, written in the Prometheus text format.
type metrics struct {
	mu       sync.Mutex
	counts   map[[2]string]uint64 // (endpoint, code)
	hist     map[string]*histogram
	inFlight atomic.Int64
	rejected atomic.Uint64
}

type histogram struct {
	buckets []uint64 // cumulative at write time; stored per bucket here
	count   uint64
	sum     float64
}

func newMetrics() *metrics {
	return &metrics{counts: map[[2]string]uint64{}, hist: map[string]*histogram{}}
}

func (m *metrics) observe(endpoint string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[[2]string{endpoint, fmt.Sprint(code)}]++
	h := m.hist[endpoint]
	if h == nil {
		h = &histogram{buckets: make([]uint64, len(latencyBuckets))}
		m.hist[endpoint] = h
	}
	s := d.Seconds()
	for i, b := range latencyBuckets {
		if s <= b {
			h.buckets[i]++
			break
		}
	}
	h.count++
	h.sum += s
}

func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP vlbert_requests_total Requests by endpoint and HTTP status.")
	fmt.Fprintln(w, "# TYPE vlbert_requests_total counter")
	keys := make([][2]string, 0, len(m.counts))
	for k := range m.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "vlbert_requests_total{endpoint=%q,code=%q} %d\n", k[0], k[1], m.counts[k])
	}
	fmt.Fprintln(w, "# HELP vlbert_request_duration_seconds Request latency by endpoint.")
	fmt.Fprintln(w, "# TYPE vlbert_request_duration_seconds histogram")
	eps := make([]string, 0, len(m.hist))
	for e := range m.hist {
		eps = append(eps, e)
	}
	sort.Strings(eps)
	for _, e := range eps {
		h := m.hist[e]
		var cum uint64
		for i, b := range latencyBuckets {
			cum += h.buckets[i]
			fmt.Fprintf(w, "vlbert_request_duration_seconds_bucket{endpoint=%q,le=\"%g\"} %d\n", e, b, cum)
		}
		fmt.Fprintf(w, "vlbert_request_duration_seconds_bucket{endpoint=%q,le=\"+Inf\"} %d\n", e, h.count)
		fmt.Fprintf(w, "vlbert_request_duration_seconds_sum{endpoint=%q} %g\n", e, h.sum)
		fmt.Fprintf(w, "vlbert_request_duration_seconds_count{endpoint=%q} %d\n", e, h.count)
	}
	fmt.Fprintln(w, "# HELP vlbert_in_flight Inference requests being served now.")
	fmt.Fprintln(w, "# TYPE vlbert_in_flight gauge")
	fmt.Fprintf(w, "vlbert_in_flight %d\n", m.inFlight.Load())
	fmt.Fprintln(w, "# HELP vlbert_rejected_total Inference requests answered 429 because the server was full.")
	fmt.Fprintln(w, "# TYPE vlbert_rejected_total counter")
	fmt.Fprintf(w, "vlbert_rejected_total %d\n", m.rejected.Load())
}
