// Command vlbert-load is a bounded load generator for `vlbert serve`. It only
// talks to loopback addresses. Modes:
//
//	closed     -clients C POST the body back to back (-n, -duration); p50/p90/p99 and ok/s
//	open       open loop: -rate R requests/s for -duration, no retries, whatever the server answers
//	overload   measures capacity closed-loop (-clients, -capacity-duration), then offers
//	           -factor times that rate open-loop; prints goodput against capacity, 429 and
//	           /healthz latencies
//	slow-body  -slow S connections send the body one byte every -slow-gap while -clients
//	           normal clients run closed-loop; every normal request should be answered 200
//
// /healthz is probed every 50 ms meanwhile (-health=false turns it off).
//
//	vlbert-load -mode overload -url http://127.0.0.1:8080/v1/vqa -body req.json -factor 16 -duration 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"time"

	"github.com/vlbert/vlbert/internal/serve"
)

type options struct {
	mode, target, bodyPath string
	clients, n             int
	dur, capDur            time.Duration
	rate, factor           float64
	slow                   int
	slowGap                time.Duration
	health                 bool
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "closed", "closed, open, overload or slow-body")
	flag.StringVar(&o.target, "url", "http://127.0.0.1:8080/v1/vqa", "endpoint to POST to (loopback only)")
	flag.StringVar(&o.bodyPath, "body", "", "file with the JSON request body (required)")
	flag.IntVar(&o.clients, "clients", 4, "concurrent closed-loop clients (closed, slow-body, and overload's capacity run)")
	flag.IntVar(&o.n, "n", 1<<30, "closed loop: at most this many requests")
	flag.DurationVar(&o.dur, "duration", 10*time.Second, "length of the run (open loop, overload's open-loop part, closed loop at most)")
	flag.DurationVar(&o.capDur, "capacity-duration", 5*time.Second, "overload: length of the closed-loop capacity measurement")
	flag.Float64Var(&o.rate, "rate", 100, "open: requests per second offered")
	flag.Float64Var(&o.factor, "factor", 16, "overload: offered rate as a multiple of the measured capacity")
	flag.IntVar(&o.slow, "slow", 4, "slow-body: slow connections")
	flag.DurationVar(&o.slowGap, "slow-gap", 2*time.Second, "slow-body: time between the slow clients' bytes")
	flag.BoolVar(&o.health, "health", true, "probe /healthz every 50 ms during the run")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "vlbert-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.bodyPath == "" {
		return fmt.Errorf("-body is required")
	}
	u, err := url.Parse(o.target)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address; this tool only loads a local server", u.Host)
	}
	body, err := os.ReadFile(o.bodyPath)
	if err != nil {
		return err
	}
	healthURL := ""
	if o.health {
		h := *u
		h.Path = "/healthz"
		healthURL = h.String()
	}
	closed := func(d time.Duration) (*serve.LoadReport, error) {
		return serve.RunLoad(ctx, serve.LoadOptions{URL: o.target, Body: body, Clients: o.clients, Requests: o.n, Duration: d,
			HealthURL: healthURL, HealthEvery: 50 * time.Millisecond})
	}
	switch o.mode {
	case "closed":
		rep, err := closed(o.dur)
		if err != nil {
			return err
		}
		fmt.Println(rep)
		fmt.Println("statuses:", rep.Statuses)
	case "open":
		rep, err := serve.RunOpenLoad(ctx, serve.OpenLoadOptions{URL: o.target, Body: body, Rate: o.rate, Duration: o.dur, HealthURL: healthURL})
		if err != nil {
			return err
		}
		fmt.Println(rep)
		fmt.Println("statuses:", rep.Statuses)
	case "overload":
		capRep, err := closed(o.capDur)
		if err != nil {
			return err
		}
		fmt.Printf("capacity (closed loop, %d clients): %v\n", o.clients, capRep)
		if capRep.RPS <= 0 {
			return fmt.Errorf("no request answered 200 while measuring capacity: %v", capRep.Statuses)
		}
		time.Sleep(500 * time.Millisecond) // let the capacity run's connections close
		rep, err := serve.RunOpenLoad(ctx, serve.OpenLoadOptions{URL: o.target, Body: body, Rate: o.factor * capRep.RPS, Duration: o.dur, HealthURL: healthURL})
		if err != nil {
			return err
		}
		fmt.Printf("overload (open loop, %gx capacity): %v\n", o.factor, rep)
		fmt.Println("statuses:", rep.Statuses)
		fmt.Printf("goodput %.1f/s = %.1f%% of capacity %.1f/s; 429 p99 %v; /healthz p99 %v max %v\n", rep.Goodput, 100*rep.Goodput/capRep.RPS, capRep.RPS,
			rep.RejectLatency.P99.Round(10*time.Microsecond), rep.Health.P99.Round(10*time.Microsecond), rep.Health.Max.Round(10*time.Microsecond))
	case "slow-body":
		type slowOut struct {
			res []serve.SlowBodyResult
			err error
		}
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan slowOut, 1)
		go func() {
			res, err := serve.RunSlowBodies(sctx, serve.SlowBodyOptions{URL: o.target, Body: body, Conns: o.slow, Gap: o.slowGap})
			done <- slowOut{res, err}
		}()
		time.Sleep(200 * time.Millisecond) // the slow clients are in
		rep, err := closed(o.dur)
		if err != nil {
			return err
		}
		fmt.Printf("normal traffic beside %d slow bodies (one byte every %v): %v\n", o.slow, o.slowGap, rep)
		fmt.Println("statuses:", rep.Statuses)
		cancel()
		so := <-done
		if so.err != nil {
			return so.err
		}
		for i, r := range so.res {
			fmt.Printf("slow client %d: status %d after %v (%d body bytes sent)\n", i, r.Code, r.Held.Round(time.Millisecond), r.Sent)
		}
	default:
		return fmt.Errorf("-mode %q, want closed, open, overload or slow-body", o.mode)
	}
	return nil
}
