package serve

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the server's Prometheus registry: the conventional HTTP metrics
// (http_requests_total, http_request_duration_seconds, labelled by handler,
// method and code, as promhttp's instrumentation names them), vlbert's
// admission gauges and counters, and the Go runtime and process collectors.
// Each Server has its own registry, so tests can run several servers.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inference prometheus.Gauge       // requests holding an inference slot
	reading   prometheus.Gauge       // requests whose body is being read and checked
	rejected  *prometheus.CounterVec // 429 answers by reason
	batchSize prometheus.Histogram   // requests per batched forward
	queued    prometheus.Histogram   // per request: arrival to the start of its batch's forward
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by handler, method and status code.",
		}, []string{"handler", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency by handler, method and status code.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"handler", "method", "code"}),
		inference: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vlbert_inference_in_flight", Help: "Inference requests holding a slot (running or waiting for a model replica).",
		}),
		reading: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vlbert_body_reads_in_flight", Help: "Inference requests whose body is being read and validated.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vlbert_rejected_total", Help: "Inference requests answered 429, by reason (inference_full: every inference slot busy; reads_full: too many bodies being read).",
		}, []string{"reason"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vlbert_batch_size", Help: "Requests answered by one batched forward (VQA, with batching on).",
			Buckets: []float64{1, 2, 3, 4, 6, 8, 12, 16, 24, 32},
		}),
		queued: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vlbert_batch_queue_seconds", Help: "Time a batched request waited (batching window and a free model replica) before its forward began.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.inference, m.reading, m.rejected, m.batchSize, m.queued,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Both reasons appear from the start, so a dashboard sees 0 rather than nothing.
	m.rejected.WithLabelValues(rejectInferenceFull)
	m.rejected.WithLabelValues(rejectReadsFull)
	return m
}

const (
	rejectInferenceFull = "inference_full"
	rejectReadsFull     = "reads_full"
)

func (m *metrics) observe(handler, method string, code int, d time.Duration) {
	c := strconv.Itoa(code)
	m.requests.WithLabelValues(handler, method, c).Inc()
	m.duration.WithLabelValues(handler, method, c).Observe(d.Seconds())
}

// observeBatch records one batched forward (infer.Batching.Observe).
func (m *metrics) observeBatch(queued []time.Duration) {
	m.batchSize.Observe(float64(len(queued)))
	for _, q := range queued {
		m.queued.Observe(q.Seconds())
	}
}

// handler serves the registry in the Prometheus exposition format (text, or
// protobuf when the scraper asks for it).
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
