package serve

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestLoadLoopback is the bounded load test: a small random VQA model served on
// loopback, first at the admission limit (latency and throughput), then
// saturated by more clients than slots (429s, and /healthz must keep
// answering). Run with -v to see the numbers.
func TestLoadLoopback(t *testing.T) {
	s, sc := newTestServer(t, Config{MaxInFlight: 2})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + ln.Addr().String()
	body := []byte(featuresBody(sc, nil))

	steady, err := RunLoad(context.Background(), LoadOptions{URL: base + "/v1/vqa", Body: body, Clients: 2, Requests: 150, Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("steady (2 clients, 2 slots, 1 model replica): %v", steady)
	if steady.OK == 0 || steady.Failed > 0 {
		t.Fatalf("steady load: %v statuses %v", steady, steady.Statuses)
	}

	sat, err := RunLoad(context.Background(), LoadOptions{URL: base + "/v1/vqa", Body: body, Clients: 16, Requests: 2000, Duration: 1500 * time.Millisecond,
		HealthURL: base + "/healthz", HealthEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("saturated (16 clients, 2 slots): %v", sat)
	if sat.Failed > 0 || sat.OK == 0 {
		t.Fatalf("saturated: %v statuses %v", sat, sat.Statuses)
	}
	if sat.Rejected == 0 {
		t.Errorf("16 clients on 2 slots were never rejected: %v", sat.Statuses)
	}
	if len(sat.Health) < 10 {
		t.Fatalf("only %d health probes ran", len(sat.Health))
	}
	for i, h := range sat.Health {
		if h.Code != 200 || h.Latency > time.Second {
			t.Fatalf("health probe %d while saturated: status %d after %v", i, h.Code, h.Latency)
		}
	}
}
