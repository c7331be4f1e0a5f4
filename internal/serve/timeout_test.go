package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/infer/infertest"
)

// A request that cannot get a model replica within RequestTimeout gets 503.
func TestRequestTimeoutGives503(t *testing.T) {
	s, sc := newTestServer(t, Config{RequestTimeout: 100 * time.Millisecond})
	p, _ := fixture(t)
	release := holdWorker(t, p)
	defer release()
	start := time.Now()
	code, out := post(t, s.Handler(), "/v1/vqa", featuresBody(sc, nil))
	if code != 503 || !strings.Contains(out["error"].(string), "timed out") {
		t.Fatalf("%d %v", code, out)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

// A client that stops sending its body is cut off by the read timeout.
func TestReadTimeoutCutsSlowClients(t *testing.T) {
	s, _ := newTestServer(t, Config{ReadTimeout: 300 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("POST /v1/vqa HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"question\""))
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("slow client held the connection for %v", d)
	}
}

// A pretraining checkpoint serves attention; VQA answers 501.
func TestPretrainCheckpointServer(t *testing.T) {
	ck, err := infertest.WritePretrain(t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := infer.Load(infer.Options{Checkpoint: ck})
	if err != nil {
		t.Fatal(err)
	}
	s := New(p, Config{})
	rec := infertest.RandomRecord(4, 3, 60, 40, 2048)
	code, out := post(t, s.Handler(), "/v1/vqa", mustJSON(map[string]any{"question": "what?", "features": json.RawMessage(rec)}))
	if code != 501 || !strings.Contains(out["error"].(string), "VQA needs a ResNetVLBERT (VQA) checkpoint") {
		t.Fatalf("vqa on pretraining: %d %v", code, out)
	}
	code, out = post(t, s.Handler(), "/v1/attention", mustJSON(map[string]any{"text": "two red squares", "features": json.RawMessage(rec)}))
	if code != 200 {
		t.Fatalf("attention: %d %v", code, out)
	}
	var toks []string
	for _, v := range out["tokens"].([]any) {
		toks = append(toks, v.(string))
	}
	if got := strings.Join(toks, " "); got != "[CLS] two red squares [SEP] [IMG] 1 2 3 [END]" {
		t.Fatalf("tokens %q", got)
	}
}

// RefCOCO+ and VCR checkpoints answer /v1/ground and /v1/vcr.
func TestGroundAndVCREndpoints(t *testing.T) {
	dir := t.TempDir()
	rec := json.RawMessage(infertest.RandomRecord(6, 3, 64, 64, 2048))
	ck, err := infertest.WriteRefCOCO(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := infer.Load(infer.Options{Checkpoint: ck})
	if err != nil {
		t.Fatal(err)
	}
	code, out := post(t, New(p, Config{}).Handler(), "/v1/ground", mustJSON(map[string]any{"expression": "the left square", "features": rec}))
	if code != 200 || len(out["boxes"].([]any)) != 3 || out["best"] == nil {
		t.Fatalf("ground: %d %v", code, out)
	}
	if ck, err = infertest.WriteVCR(dir, 1); err != nil {
		t.Fatal(err)
	}
	if p, err = infer.Load(infer.Options{Checkpoint: ck}); err != nil {
		t.Fatal(err)
	}
	h := New(p, Config{}).Handler()
	code, out = post(t, h, "/v1/vcr", mustJSON(map[string]any{"question": "why?", "choices": []string{"a", "b", "c", "d"}, "features": rec}))
	if code != 200 || len(out["choices"].([]any)) != 4 {
		t.Fatalf("vcr: %d %v", code, out)
	}
	code, out = post(t, h, "/v1/vcr", mustJSON(map[string]any{"question": "why?", "choices": []string{"a", "b"}, "features": rec}))
	if code != 400 || !strings.Contains(out["error"].(string), "2 choices, want 4") {
		t.Fatalf("vcr with 2 choices: %d %v", code, out)
	}
}
