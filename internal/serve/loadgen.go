package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// LoadOptions is a bounded load run: Clients goroutines POST Body to URL back to
// back until Requests requests were sent or Duration passed, whichever first.
type LoadOptions struct {
	URL      string
	Body     []byte
	Clients  int
	Requests int
	Duration time.Duration
	// HealthURL, when set, is probed with GET every HealthEvery during the run.
	HealthURL   string
	HealthEvery time.Duration
}

// LoadReport summarises a load run. Latencies are of 200 answers only.
type LoadReport struct {
	Sent, OK, Rejected, Failed int // Rejected: 429; Failed: other status or transport error
	Elapsed                    time.Duration
	P50, P90, P99, Max         time.Duration
	RPS                        float64 // 200 answers per second
	Health                     []HealthProbe
	Statuses                   map[int]int
}

// HealthProbe is one GET of the health URL during the run.
type HealthProbe struct {
	Code    int // 0: transport error
	Latency time.Duration
}

func (r *LoadReport) String() string {
	worst := time.Duration(0)
	bad := 0
	for _, h := range r.Health {
		worst = max(worst, h.Latency)
		if h.Code != 200 {
			bad++
		}
	}
	s := fmt.Sprintf("%d requests in %v: %d ok, %d rejected (429), %d failed; %.1f ok/s; latency p50 %v p90 %v p99 %v max %v",
		r.Sent, r.Elapsed.Round(time.Millisecond), r.OK, r.Rejected, r.Failed, r.RPS,
		r.P50.Round(10*time.Microsecond), r.P90.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond))
	if len(r.Health) > 0 {
		s += fmt.Sprintf("; /healthz %d probes, %d not 200, slowest %v", len(r.Health), bad, worst.Round(10*time.Microsecond))
	}
	return s
}

// RunLoad runs a bounded load test (see LoadOptions).
func RunLoad(ctx context.Context, o LoadOptions) (*LoadReport, error) {
	if o.Clients <= 0 || o.Requests <= 0 || o.Duration <= 0 {
		return nil, fmt.Errorf("serve: load test needs clients, requests and duration > 0")
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients + 2, DisableCompression: true}}
	defer client.CloseIdleConnections()
	var (
		mu   sync.Mutex
		rep  = &LoadReport{Statuses: map[int]int{}}
		lats []time.Duration
		left atomic.Int64 // requests still to send
	)
	left.Store(int64(o.Requests))
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < o.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				code := 0
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(o.Body))
				if err == nil {
					req.Header.Set("Content-Type", "application/json")
					var resp *http.Response
					if resp, err = client.Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						code = resp.StatusCode
					}
				}
				d := time.Since(t0)
				if ctx.Err() != nil && code == 0 {
					return // cut off by the time bound, not a failure
				}
				mu.Lock()
				rep.Sent++
				rep.Statuses[code]++
				switch code {
				case 200:
					rep.OK++
					lats = append(lats, d)
				case 429:
					rep.Rejected++
				default:
					rep.Failed++
				}
				mu.Unlock()
			}
		}()
	}
	probeDone := probeHealth(ctx, o.HealthURL, o.HealthEvery, func(code int, d time.Duration) {
		mu.Lock()
		rep.Health = append(rep.Health, HealthProbe{code, d})
		mu.Unlock()
	})
	wg.Wait()
	rep.Elapsed = time.Since(start)
	cancel()
	<-probeDone
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	q := func(p float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(p*float64(len(lats))))]
	}
	rep.P50, rep.P90, rep.P99 = q(0.50), q(0.90), q(0.99)
	if len(lats) > 0 {
		rep.Max = lats[len(lats)-1]
	}
	rep.RPS = float64(rep.OK) / rep.Elapsed.Seconds()
	return rep, nil
}

// probeHealth GETs url every interval (default 50 ms) until ctx ends, reporting
// each probe's status (0 when the request failed) and latency to record. The
// returned channel closes when it has stopped; at once when url is empty.
func probeHealth(ctx context.Context, url string, every time.Duration, record func(code int, d time.Duration)) <-chan struct{} {
	done := make(chan struct{})
	if url == "" {
		close(done)
		return done
	}
	if every <= 0 {
		every = 50 * time.Millisecond
	}
	go func() {
		defer close(done)
		hc := &http.Client{Timeout: 5 * time.Second}
		defer hc.CloseIdleConnections()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			t0 := time.Now()
			code := 0
			if resp, err := hc.Get(url); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			record(code, time.Since(t0))
		}
	}()
	return done
}
