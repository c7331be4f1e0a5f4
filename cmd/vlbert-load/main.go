// Command vlbert-load is a bounded load generator for `vlbert serve`: it POSTs
// one JSON body from several clients until a request count or a duration is
// reached, probes /healthz meanwhile, and prints p50/p90/p99 latency, requests
// per second and the status counts. It only talks to loopback addresses.
//
//	vlbert-load -url http://127.0.0.1:8080/v1/vqa -body req.json -clients 4 -n 500 -duration 30s
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

func main() {
	var (
		target   = flag.String("url", "http://127.0.0.1:8080/v1/vqa", "endpoint to POST to (loopback only)")
		bodyPath = flag.String("body", "", "file with the JSON request body (required)")
		clients  = flag.Int("clients", 4, "concurrent clients")
		n        = flag.Int("n", 500, "at most this many requests")
		dur      = flag.Duration("duration", 30*time.Second, "at most this long")
		health   = flag.Bool("health", true, "probe /healthz every 50 ms during the run")
	)
	flag.Parse()
	if err := run(*target, *bodyPath, *clients, *n, *dur, *health); err != nil {
		fmt.Fprintln(os.Stderr, "vlbert-load:", err)
		os.Exit(1)
	}
}

func run(target, bodyPath string, clients, n int, dur time.Duration, health bool) error {
	if bodyPath == "" {
		return fmt.Errorf("-body is required")
	}
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address; this tool only loads a local server", u.Host)
	}
	body, err := os.ReadFile(bodyPath)
	if err != nil {
		return err
	}
	o := serve.LoadOptions{URL: target, Body: body, Clients: clients, Requests: n, Duration: dur}
	if health {
		h := *u
		h.Path = "/healthz"
		o.HealthURL, o.HealthEvery = h.String(), 50*time.Millisecond
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := serve.RunLoad(ctx, o)
	if err != nil {
		return err
	}
	fmt.Println(rep)
	fmt.Println("statuses:", rep.Statuses)
	return nil
}
