package serve

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"
)

// OpenLoadOptions is an open-loop run: requests start at Rate per second for
// Duration whatever the server answers (no retries), as independent users
// would send them, so an overloaded server cannot slow the offered load down.
type OpenLoadOptions struct {
	URL      string
	Body     []byte
	Rate     float64 // requests per second offered
	Duration time.Duration
	// Conns is the number of keep-alive connections that send (default 128).
	Conns int
	// MaxOutstanding bounds the tickets waiting for a connection (default
	// 4096); requests due beyond it are counted as Dropped.
	MaxOutstanding int
	HealthURL      string        // probed with GET every HealthEvery (default 50 ms) when set
	HealthEvery    time.Duration //
}

// Quantiles summarises latencies.
type Quantiles struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func quantiles(d []time.Duration) Quantiles {
	if len(d) == 0 {
		return Quantiles{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return Quantiles{N: len(d), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: d[len(d)-1]}
}

func (q Quantiles) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("n %d p50 %v p90 %v p99 %v max %v", q.N, r(q.P50), r(q.P90), r(q.P99), r(q.Max))
}

// OpenLoadReport is the outcome of an open-loop run. Latencies are measured
// from each request's scheduled start, so a stalled generator or server
// cannot hide them (no coordinated omission).
type OpenLoadReport struct {
	Offered                             float64 // requests per second offered
	Sent, OK, Rejected, Failed, Dropped int
	Elapsed                             time.Duration
	Goodput                             float64 // 200 answers per second
	OKLatency, RejectLatency, Health    Quantiles
	HealthFailed                        int
	Statuses                            map[int]int
}

func (r *OpenLoadReport) String() string {
	return fmt.Sprintf("offered %.0f/s for %v: sent %d, %d ok (goodput %.1f/s), %d rejected (429), %d failed, %d dropped by the generator\n  200 latency: %v\n  429 latency: %v\n  /healthz:    %v, %d not 200",
		r.Offered, r.Elapsed.Round(time.Millisecond), r.Sent, r.OK, r.Goodput, r.Rejected, r.Failed, r.Dropped,
		r.OKLatency, r.RejectLatency, r.Health, r.HealthFailed)
}

// RunOpenLoad runs an open-loop load (see OpenLoadOptions). A dispatcher
// issues tickets at Rate; Conns keep-alive connections send a prepared
// request per ticket and read the answer. The client is lean on purpose (one
// write, one response parse per request) so that, on a machine it shares
// with the server, it takes as little CPU from the server as it can.
func RunOpenLoad(ctx context.Context, o OpenLoadOptions) (*OpenLoadReport, error) {
	if o.Rate <= 0 || o.Duration <= 0 {
		return nil, fmt.Errorf("serve: open-loop load needs a rate and a duration > 0")
	}
	if o.MaxOutstanding <= 0 {
		o.MaxOutstanding = 4096
	}
	if o.Conns <= 0 {
		o.Conns = 128
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, err
	}
	raw := append([]byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), u.Host, len(o.Body))), o.Body...)
	var (
		mu                  sync.Mutex
		rep                 = &OpenLoadReport{Offered: o.Rate, Statuses: map[int]int{}}
		okLat, rejLat, hLat []time.Duration
		wg                  sync.WaitGroup
		tickets             = make(chan time.Time, o.MaxOutstanding)
	)
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	probeDone := probeHealth(runCtx, o.HealthURL, o.HealthEvery, func(code int, d time.Duration) {
		mu.Lock()
		hLat = append(hLat, d)
		if code != 200 {
			rep.HealthFailed++
		}
		mu.Unlock()
	})
	record := func(code int, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		rep.Sent++
		rep.Statuses[code]++
		switch code {
		case 200:
			rep.OK++
			okLat = append(okLat, d)
		case 429:
			rep.Rejected++
			rejLat = append(rejLat, d)
		default:
			rep.Failed++
		}
	}
	for range o.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn net.Conn
			var br *bufio.Reader
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for sched := range tickets {
				if conn == nil {
					c, err := net.Dial("tcp", u.Host)
					if err != nil {
						record(0, time.Since(sched))
						continue
					}
					conn, br = c, bufio.NewReaderSize(c, 16<<10)
				}
				code, keep := 0, false
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := conn.Write(raw); err == nil {
					if resp, err := http.ReadResponse(br, nil); err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						code, keep = resp.StatusCode, err == nil && !resp.Close
					}
				}
				record(code, time.Since(sched))
				if !keep {
					conn.Close()
					conn = nil
				}
			}
		}()
	}
	start := time.Now()
	sent := 0
	for runCtx.Err() == nil {
		due := int(time.Since(start).Seconds() * o.Rate)
		for ; sent < due; sent++ {
			select {
			case tickets <- start.Add(time.Duration(float64(sent) / o.Rate * float64(time.Second))):
			default:
				mu.Lock()
				rep.Dropped++
				mu.Unlock()
			}
		}
		time.Sleep(time.Millisecond)
	}
	rep.Elapsed = time.Since(start)
	close(tickets)
	wg.Wait()
	<-probeDone
	rep.Goodput = float64(rep.OK) / rep.Elapsed.Seconds()
	rep.OKLatency, rep.RejectLatency, rep.Health = quantiles(okLat), quantiles(rejLat), quantiles(hLat)
	return rep, nil
}

// SlowBodyOptions describes clients that send a request body one byte every
// Gap (an attack on servers that admit requests before reading them).
type SlowBodyOptions struct {
	URL   string
	Body  []byte
	Conns int
	Gap   time.Duration
}

// SlowBodyResult is what each slow client saw: the status (0: no answer)
// and how long its connection was held.
type SlowBodyResult struct {
	Code int
	Held time.Duration
	Sent int // body bytes sent before the answer
}

// RunSlowBodies runs the slow clients until each is answered or ctx ends.
func RunSlowBodies(ctx context.Context, o SlowBodyOptions) ([]SlowBodyResult, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, err
	}
	out := make([]SlowBodyResult, o.Conns)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = slowClient(ctx, u, o.Body, o.Gap)
		}()
	}
	wg.Wait()
	return out, nil
}

func slowClient(ctx context.Context, u *url.URL, body []byte, gap time.Duration) SlowBodyResult {
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return SlowBodyResult{}
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", u.RequestURI(), u.Host, len(body))
	answered := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for i := 0; ; {
		select {
		case code := <-answered:
			return SlowBodyResult{Code: code, Held: time.Since(start), Sent: i}
		case <-ctx.Done():
			return SlowBodyResult{Held: time.Since(start), Sent: i}
		case <-tick.C:
		}
		if i < len(body) {
			if _, err := conn.Write(body[i : i+1]); err == nil {
				i++
			}
		}
	}
}
