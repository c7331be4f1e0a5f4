package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/infer/infertest"
	"github.com/vlbert/vlbert/internal/model"
)

// startServer serves s on a loopback port until the test ends.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// Finding 1: slow bodies hold a connection and a body-read slot for at most
// their deadline, never an inference slot: every normal request meanwhile is
// answered 200, and the slow ones get 408. (Four slots, as many as slow
// clients: before, they held all four; two closed-loop clients never need
// more than two, so any 429 would be the slow clients' doing.)
func TestSlowBodiesDoNotDenyService(t *testing.T) {
	s, sc := newTestServer(t, Config{MaxInFlight: 4, BodyReadBase: 700 * time.Millisecond, MinBodyRate: 64 << 10})
	base := startServer(t, s)
	body := []byte(featuresBody(sc, nil))
	slowDone := make(chan []SlowBodyResult, 1)
	go func() {
		res, _ := RunSlowBodies(context.Background(), SlowBodyOptions{URL: base + "/v1/vqa", Body: body, Conns: 4, Gap: 50 * time.Millisecond})
		slowDone <- res
	}()
	time.Sleep(100 * time.Millisecond) // the slow clients are in
	rep, err := RunLoad(context.Background(), LoadOptions{URL: base + "/v1/vqa", Body: body, Clients: 2, Requests: 1 << 20, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	slow := <-slowDone
	t.Logf("normal traffic beside 4 slow bodies: %v", rep)
	if rep.OK != rep.Sent || rep.Sent == 0 {
		t.Fatalf("normal requests beside slow bodies: %v statuses %v", rep, rep.Statuses)
	}
	for i, c := range slow {
		if c.Code != http.StatusRequestTimeout || c.Held > 3*time.Second {
			t.Errorf("slow client %d got %d after %v, want 408 after its deadline (~0.7 s)", i, c.Code, c.Held)
		}
	}
}

// When every body-read slot is taken, a request gets 429 at once.
func TestBodyReadSlotsFullGives429(t *testing.T) {
	s, sc := newTestServer(t, Config{MaxBodyReads: 1})
	s.readers <- struct{}{}
	start := time.Now()
	code, out := post(t, s.Handler(), "/v1/vqa", featuresBody(sc, nil))
	if code != 429 || !strings.Contains(out["error"].(string), "bodies being read") {
		t.Fatalf("%d %v", code, out)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("429 took %v", d)
	}
	<-s.readers
	if code, out := post(t, s.Handler(), "/v1/vqa", featuresBody(sc, nil)); code != 200 {
		t.Fatalf("after the slot freed: %d %v", code, out)
	}
}

// A full server refuses before reading the body: the handler never touches it.
func TestFullServerDoesNotReadBody(t *testing.T) {
	s, _ := newTestServer(t, Config{MaxInFlight: 1})
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	body := &countingReader{r: strings.NewReader(strings.Repeat(" ", 1<<20))}
	req := httptest.NewRequest(http.MethodPost, "/v1/vqa", body)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 429 || body.n != 0 {
		t.Fatalf("status %d after reading %d body bytes", rec.Code, body.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// Finding 10: on a loopback listener only loopback Host names are answered
// (DNS rebinding); AllowedHosts adds names.
func TestLoopbackServerChecksHost(t *testing.T) {
	s, sc := newTestServer(t, Config{AllowedHosts: []string{"vlbert.internal"}})
	base := startServer(t, s)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	for _, c := range []struct {
		host string
		code int
	}{
		{"evil.example:" + port, 421}, {"evil.example", 421}, {"192.168.1.7:" + port, 421},
		{"localhost:" + port, 200}, {"127.0.0.1:" + port, 200}, {"[::1]:" + port, 200}, {"127.0.0.2", 200},
		{"vlbert.internal:" + port, 200},
	} {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/vqa", strings.NewReader(featuresBody(sc, nil)))
		req.Host = c.host
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("Host %q: %d %s, want %d", c.host, resp.StatusCode, b, c.code)
		}
	}
	// /healthz is checked too: a rebound page must not read it either.
	req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 421 {
		t.Errorf("/healthz with a foreign Host: %d", resp.StatusCode)
	}
}

// Finding 10: the capability check comes before any decoding: a checkpoint
// without the visual network answers 501 to an image it never decodes (even
// one that is not base64), and a VQA request to a pretraining checkpoint is
// refused before its image or features are looked at.
func TestCapabilityBeforeDecode(t *testing.T) {
	ck, err := infertest.WritePretrain(t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := infer.Load(infer.Options{Checkpoint: ck})
	if err != nil {
		t.Fatal(err)
	}
	if p.HasVisual() {
		t.Fatal("the pretraining fixture has a visual network; the test needs one without")
	}
	h := New(p, Config{}).Handler()
	var big bytes.Buffer
	png.Encode(&big, image.NewGray(image.Rect(0, 0, 1500, 1500)))
	img := base64.StdEncoding.EncodeToString(big.Bytes())
	start := time.Now()
	code, out := post(t, h, "/v1/attention", mustJSON(map[string]any{"text": "hi", "image": img, "boxes": [][]float64{{0, 0, 9, 9}}}))
	if code != 501 || !strings.Contains(out["error"].(string), "ResNet weights") {
		t.Fatalf("image on a features-only checkpoint: %d %v", code, out)
	}
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Errorf("the 501 took %v: the image was decoded first?", d)
	}
	code, out = post(t, h, "/v1/attention", mustJSON(map[string]any{"text": "hi", "image": "***not base64***", "boxes": [][]float64{{0, 0, 9, 9}}}))
	if code != 501 {
		t.Fatalf("undecodable image on a features-only checkpoint: %d %v (decoded before the capability check)", code, out)
	}
	code, out = post(t, h, "/v1/vqa", mustJSON(map[string]any{"question": "what?", "image": "***", "boxes": [][]float64{{0, 0, 9, 9}}}))
	if code != 501 || !strings.Contains(out["error"].(string), "VQA needs") {
		t.Fatalf("VQA on pretraining with an image: %d %v", code, out)
	}
}

// Finding 10: the features path applies the image path's box rule.
func TestFeatureBoxesValidatedLikeImageBoxes(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	feats := make([]float32, 2048)
	for _, c := range []struct {
		name string
		box  []float32
		want string
	}{
		{"huge", []float32{0, 0, 3e38, 3e38}, "outside [0, 1e+06]"},
		{"negative huge", []float32{-3e38, 0, 5, 5}, "outside [0, 1e+06]"},
		{"negative", []float32{-1, 0, 5, 5}, "outside [0, 1e+06]"},
		{"inverted", []float32{5, 5, 1, 1}, "x2 < x1"},
		{"NaN", []float32{float32(math.NaN()), 0, 5, 5}, "outside"},
	} {
		rec := json.RawMessage(infertest.RecordJSON(1, 10, 10, c.box, feats, 2048))
		code, out := post(t, s.Handler(), "/v1/vqa", mustJSON(map[string]any{"question": "what?", "features": rec}))
		if msg, _ := out["error"].(string); code != 400 || !strings.Contains(msg, c.want) || !strings.Contains(msg, "features: box 0") {
			t.Errorf("%s box %v: %d %v, want 400 with %q", c.name, c.box, code, out, c.want)
		}
		// The same box on the image path gets the same rule.
		b := []float64{float64(c.box[0]), float64(c.box[1]), float64(c.box[2]), float64(c.box[3])}
		if math.IsNaN(b[0]) {
			continue // not expressible in JSON
		}
		code, out = post(t, s.Handler(), "/v1/vqa", mustJSON(map[string]any{"question": "what?", "image": pngOf(10, 10), "boxes": [][]float64{b}}))
		if msg, _ := out["error"].(string); code != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%s box on the image path: %d %v", c.name, code, out)
		}
	}
}

// Finding 9: a model whose output is NaN answers 500 naming the problem, not a
// "NaN" score.
func TestNaNAnswerIsAnError(t *testing.T) {
	cfg := infertest.Config(config.TaskVQA, len(infertest.Answers()))
	mc, err := model.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	m.Base().InitWeights(1)
	for i := range m.Base().Params.Data {
		m.Base().Params.Data[i] = float32(math.NaN())
	}
	p, err := infer.New(cfg, m, infertest.Answers(), 1, infer.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, sc := fixture(t)
	code, out := post(t, New(p, Config{}).Handler(), "/v1/vqa", featuresBody(sc, nil))
	if msg, _ := out["error"].(string); code != 500 || !strings.Contains(msg, "non-finite") {
		t.Fatalf("NaN model: %d %v", code, out)
	}
}

// Requests being validated speak for the slots they will take: with every
// slot spoken for, a request is refused before its body is read or parsed,
// and the reservations balance out after requests of every outcome.
func TestValidationReservesSlots(t *testing.T) {
	s, sc := newTestServer(t, Config{MaxInFlight: 2})
	s.pending.Store(2)
	if code, out := post(t, s.Handler(), "/v1/vqa", featuresBody(sc, nil)); code != 429 {
		t.Fatalf("every slot reserved: %d %v", code, out)
	}
	s.pending.Store(0)
	for _, body := range []string{featuresBody(sc, nil), `{"question": 3}`, featuresBody(sc, map[string]any{"top_k": -1})} {
		post(t, s.Handler(), "/v1/vqa", body)
	}
	if p, n := s.pending.Load(), len(s.sem); p != 0 || n != 0 {
		t.Fatalf("after the requests: %d reservations, %d slots held", p, n)
	}
}
