package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/infer/infertest"
)

var (
	fixtureOnce sync.Once
	fixtureP    *infer.Pipeline
	fixtureSc   *infertest.Scene
	fixtureErr  error
)

// fixture is one small random VQA pipeline (with a tiny visual network) and a
// synthetic scene, shared by the tests (the pipeline is safe for concurrent use).
func fixture(t testing.TB) (*infer.Pipeline, *infertest.Scene) {
	t.Helper()
	fixtureOnce.Do(func() {
		dir, err := tempDir()
		if err != nil {
			fixtureErr = err
			return
		}
		ck, err := infertest.WriteVQA(dir, 11)
		if err != nil {
			fixtureErr = err
			return
		}
		if fixtureP, err = infer.Load(infer.Options{Checkpoint: ck}); err != nil {
			fixtureErr = err
			return
		}
		fixtureP.Config.Scales = []int{96, 160}
		vc, sd := infertest.TinyVisual()
		if fixtureErr = fixtureP.SetVisual(vc, sd); fixtureErr != nil {
			return
		}
		fixtureSc, fixtureErr = infertest.NewScene(2)
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureP, fixtureSc
}

func newTestServer(t testing.TB, cfg Config) (*Server, *infertest.Scene) {
	p, sc := fixture(t)
	return New(p, cfg), sc
}

func post(t testing.TB, h http.Handler, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: response is not JSON: %q", path, rec.Body.String())
	}
	return rec.Code, out
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func featuresBody(sc *infertest.Scene, extra map[string]any) string {
	m := map[string]any{"question": "what color is the circle?", "features": json.RawMessage(sc.JSON)}
	for k, v := range extra {
		m[k] = v
	}
	return mustJSON(m)
}

func TestVQAWithFeatures(t *testing.T) {
	s, sc := newTestServer(t, Config{})
	code, out := post(t, s.Handler(), "/v1/vqa", featuresBody(sc, map[string]any{"top_k": 3}))
	if code != 200 {
		t.Fatalf("status %d: %v", code, out)
	}
	ans := out["answers"].([]any)
	if len(ans) != 3 {
		t.Fatalf("%d answers", len(ans))
	}
	for _, a := range ans {
		m := a.(map[string]any)
		sc := m["score"].(float64)
		if m["answer"].(string) == "" || sc <= 0 || sc >= 1 {
			t.Errorf("answer %v", m)
		}
	}
}

func TestVQAWithImage(t *testing.T) {
	s, sc := newTestServer(t, Config{})
	var boxes [][]float64
	for _, b := range sc.Boxes {
		boxes = append(boxes, []float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])})
	}
	body := mustJSON(map[string]any{"question": "what shape is red?", "image": base64.StdEncoding.EncodeToString(sc.PNG), "boxes": boxes})
	code, out := post(t, s.Handler(), "/v1/vqa", body)
	if code != 200 || len(out["answers"].([]any)) != 5 {
		t.Fatalf("status %d: %v", code, out)
	}
	// data: URLs work too.
	body = mustJSON(map[string]any{"question": "what shape is red?", "image": "data:image/png;base64," + base64.StdEncoding.EncodeToString(sc.PNG), "boxes": boxes})
	if code, out := post(t, s.Handler(), "/v1/vqa", body); code != 200 {
		t.Fatalf("data URL: status %d: %v", code, out)
	}
}

func TestAttentionEndpoint(t *testing.T) {
	s, sc := newTestServer(t, Config{})
	body := mustJSON(map[string]any{"text": "a red circle", "features": json.RawMessage(sc.JSON)})
	code, out := post(t, s.Handler(), "/v1/attention", body)
	if code != 200 {
		t.Fatalf("status %d: %v", code, out)
	}
	toks := out["tokens"].([]any)
	att := out["attention"].([]any)
	n := len(sc.Boxes)
	if len(toks) != 8+n+1 || toks[0] != "[CLS]" || toks[len(toks)-1] != "[END]" || toks[7] != "[IMG]" {
		t.Fatalf("tokens %v", toks)
	}
	if len(att) != 2 || len(att[0].([]any)) != 2 || len(att[0].([]any)[0].([]any)) != len(toks) {
		t.Fatalf("attention shape")
	}
	body = mustJSON(map[string]any{"text": "a red circle", "layer": 1, "features": json.RawMessage(sc.JSON)})
	code, out = post(t, s.Handler(), "/v1/attention", body)
	if code != 200 || len(out["attention"].([]any)) != 1 || out["layers"].([]any)[0].(float64) != 1 {
		t.Fatalf("one layer: %d %v", code, out["layers"])
	}
}

func TestGroundAndVCROnVQACheckpoint(t *testing.T) {
	s, sc := newTestServer(t, Config{})
	code, out := post(t, s.Handler(), "/v1/ground", mustJSON(map[string]any{"expression": "the red circle", "features": json.RawMessage(sc.JSON)}))
	if code != 501 || !strings.Contains(out["error"].(string), "RefCOCO") {
		t.Fatalf("ground: %d %v", code, out)
	}
	code, out = post(t, s.Handler(), "/v1/vcr", mustJSON(map[string]any{"question": "why?", "choices": []string{"a", "b", "c", "d"}, "features": json.RawMessage(sc.JSON)}))
	if code != 501 || !strings.Contains(out["error"].(string), "VCR") {
		t.Fatalf("vcr: %d %v", code, out)
	}
	// Validation still runs first.
	code, out = post(t, s.Handler(), "/v1/ground", mustJSON(map[string]any{"expression": "", "features": json.RawMessage(sc.JSON)}))
	if code != 400 {
		t.Fatalf("ground without expression: %d %v", code, out)
	}
	code, out = post(t, s.Handler(), "/v1/vcr", mustJSON(map[string]any{"question": "why?", "choices": []string{"a"}, "features": json.RawMessage(sc.JSON)}))
	if code != 400 || !strings.Contains(out["error"].(string), "1 choices, want 4") {
		t.Fatalf("vcr with one choice: %d %v", code, out)
	}
}

func pngOf(w, h int) string {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h)))
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestBadRequests(t *testing.T) {
	s, sc := newTestServer(t, Config{Limits: Limits{MaxBodyBytes: 1 << 20, MaxRegions: 5, MaxImagePixels: 10000, MaxTokens: 8}})
	feat := json.RawMessage(sc.JSON)
	cases := []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"malformed JSON", "/v1/vqa", `{"question": "what?", `, 400, "invalid JSON"},
		{"not an object", "/v1/vqa", `[1, 2]`, 400, "cannot use a JSON array"},
		{"empty body", "/v1/vqa", ``, 400, "empty body"},
		{"trailing data", "/v1/vqa", featuresBody(sc, nil) + `{}`, 400, "data after"},
		{"unknown field", "/v1/vqa", featuresBody(sc, map[string]any{"bogus": 1}), 400, `unknown field "bogus"`},
		{"unknown field in features", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "features": map[string]any{"image_id": 1, "colour": "red"}}), 400, `unknown field "colour"`},
		{"wrong type", "/v1/vqa", `{"question": 3}`, 400, `field "question"`},
		{"oversize body", "/v1/vqa", `{"question": "` + strings.Repeat("a", 1<<20) + `"}`, 413, "over the limit"},
		{"too many regions", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "features": json.RawMessage(infertest.RandomRecord(1, 6, 50, 50, 2048))}), 400, "num_boxes 6"},
		{"too many boxes with image", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "image": pngOf(10, 10), "boxes": [][]float64{{0, 0, 1, 1}, {0, 0, 1, 1}, {0, 0, 1, 1}, {0, 0, 1, 1}, {0, 0, 1, 1}, {0, 0, 1, 1}}}), 400, "over the limit of 5"},
		{"wrong feature size", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "features": json.RawMessage(infertest.RandomRecord(1, 2, 50, 50, 1000))}), 400, "num_boxes·2048"},
		{"feature width", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "features": json.RawMessage(infertest.RandomRecord(1, 2, 50, 50, 256))}), 400, "256-d region features, want num_boxes·2048 floats (the model's NETWORK.IMAGE_FEAT_DIM is 2048)"},
		{"missing question", "/v1/vqa", mustJSON(map[string]any{"features": feat}), 400, `missing "question"`},
		{"too many tokens", "/v1/vqa", mustJSON(map[string]any{"question": "a b c d e f g h i j", "features": feat}), 400, "over the limit of 8"},
		{"no regions", "/v1/vqa", `{"question": "what?"}`, 400, `missing "features"`},
		{"both inputs", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "features": feat, "image": pngOf(4, 4), "boxes": [][]float64{{0, 0, 1, 1}}}), 400, "not both"},
		{"box of 3", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "image": pngOf(4, 4), "boxes": [][]float64{{0, 0, 1}}}), 400, "box 0 has 3 numbers"},
		{"inverted box", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "image": pngOf(4, 4), "boxes": [][]float64{{3, 3, 1, 1}}}), 400, "x2 < x1"},
		{"image without boxes", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "image": pngOf(4, 4)}), 400, "needs \"boxes\""},
		{"bad base64", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "image": "***", "boxes": [][]float64{{0, 0, 1, 1}}}), 400, "base64"},
		{"not an image", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "image": base64.StdEncoding.EncodeToString([]byte("hello")), "boxes": [][]float64{{0, 0, 1, 1}}}), 400, "image header"},
		{"image too large", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "image": pngOf(200, 200), "boxes": [][]float64{{0, 0, 1, 1}}}), 413, "image too large"},
		{"negative top_k", "/v1/vqa", featuresBody(sc, map[string]any{"top_k": -1}), 400, "top_k"},
		{"bad layer", "/v1/attention", mustJSON(map[string]any{"text": "hi", "layer": 9, "features": feat}), 400, "layer 9"},
		{"corrupt features base64", "/v1/vqa", mustJSON(map[string]any{"question": "what?", "features": map[string]any{"image_id": 1, "image_w": 10, "image_h": 10, "num_boxes": 1, "boxes": "!!!!", "features": "AAAA"}}), 400, "base64"},
		{"unknown endpoint", "/v1/nope", `{}`, 404, "no endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := post(t, s.Handler(), c.path, c.body)
			msg, _ := out["error"].(string)
			if code != c.code || !strings.Contains(msg, c.want) {
				t.Fatalf("status %d error %q, want %d containing %q", code, msg, c.code, c.want)
			}
		})
	}
	// Method and content type.
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/vqa", nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Fatalf("GET /v1/vqa: %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/vqa", strings.NewReader(featuresBody(sc, nil)))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 415 {
		t.Fatalf("multipart: %d", rec.Code)
	}
	// A form post (what a web page can send cross-site without a preflight)
	// or a body without a type is refused, whatever it holds.
	for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain", ""} {
		req = httptest.NewRequest(http.MethodPost, "/v1/vqa", strings.NewReader(featuresBody(sc, nil)))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec = httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != 415 || !strings.Contains(rec.Body.String(), "application/json") {
			t.Fatalf("Content-Type %q: %d %s", ct, rec.Code, rec.Body)
		}
	}
	req = httptest.NewRequest(http.MethodPost, "/v1/vqa", strings.NewReader(featuresBody(sc, nil)))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("application/json with charset: %d %s", rec.Code, rec.Body)
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	s, sc := newTestServer(t, Config{})
	post(t, s.Handler(), "/v1/vqa", featuresBody(sc, nil))
	post(t, s.Handler(), "/v1/vqa", `{`)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"ok"`) || !strings.Contains(rec.Body.String(), `"module":"ResNetVLBERT"`) ||
		!strings.Contains(rec.Body.String(), `"int8":false`) {
		t.Fatalf("healthz: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`http_requests_total{code="200",handler="/v1/vqa",method="POST"} 1`,
		`http_requests_total{code="400",handler="/v1/vqa",method="POST"} 1`,
		`http_requests_total{code="200",handler="/healthz",method="GET"} 1`,
		`http_request_duration_seconds_count{code="200",handler="/v1/vqa",method="POST"} 1`,
		`http_request_duration_seconds_bucket{code="400",handler="/v1/vqa",method="POST",le="+Inf"} 1`,
		"vlbert_inference_in_flight 0", "vlbert_body_reads_in_flight 0",
		`vlbert_rejected_total{reason="inference_full"} 0`, `vlbert_rejected_total{reason="reads_full"} 0`,
		"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_resident_memory_bytes ", "process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// A full server answers 429 at once, and /healthz still answers.
func TestBusyGives429AndHealthzStillAnswers(t *testing.T) {
	s, sc := newTestServer(t, Config{MaxInFlight: 2})
	s.sem <- struct{}{}
	s.sem <- struct{}{}
	start := time.Now()
	code, out := post(t, s.Handler(), "/v1/vqa", featuresBody(sc, nil))
	if code != 429 || !strings.Contains(out["error"].(string), "busy") {
		t.Fatalf("full server: %d %v", code, out)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("429 took %v; it must not queue", d)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"max_in_flight":2`) {
		t.Fatalf("healthz while full: %d %s", rec.Code, rec.Body)
	}
	<-s.sem
	if code, out := post(t, s.Handler(), "/v1/vqa", featuresBody(sc, nil)); code != 200 {
		t.Fatalf("after a slot freed: %d %v", code, out)
	}
	<-s.sem
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `vlbert_rejected_total{reason="inference_full"} 1`) {
		t.Fatalf("metrics: %s", rec.Body)
	}
}

// Cancelling Serve's context lets an admitted request finish, then returns nil.
func TestGracefulShutdown(t *testing.T) {
	s, sc := newTestServer(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	// Hold the only model replica so that the request is in flight at shutdown.
	p, _ := fixture(t)
	release := holdWorker(t, p)
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Post(url+"/v1/vqa", "application/json", strings.NewReader(featuresBody(sc, nil)))
		if err != nil {
			res <- result{0, err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res <- result{resp.StatusCode, nil}
	}()
	waitFor(t, func() bool { return s.inFlight.Load() == 1 })
	cancel()
	time.Sleep(50 * time.Millisecond)
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("new connections are still accepted after shutdown began")
	}
	release()
	r := <-res
	if r.err != nil || r.code != 200 {
		t.Fatalf("in-flight request: %d %v", r.code, r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// holdWorker occupies the pipeline's replica until release is called.
func holdWorker(t *testing.T, p *infer.Pipeline) (release func()) {
	held := make(chan struct{})
	rel := make(chan struct{})
	go p.Hold(context.Background(), func() { close(held); <-rel })
	<-held
	return func() { close(rel) }
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition not reached in 2.5 s")
}

func FuzzDecodeVQA(f *testing.F) {
	_, sc := fixture(f)
	f.Add([]byte(featuresBody(sc, nil)))
	f.Add([]byte(`{"question":"q","image":"` + pngOf(3, 3) + `","boxes":[[0,0,1,1]]}`))
	f.Add([]byte(`{"question":"q","features":{"image_id":1,"image_w":4,"image_h":4,"num_boxes":1,"boxes":"AAAAAAAAAAAAAAAAAAAAAA==","features":""}}`))
	f.Add([]byte(`{"question":"q","boxes":[[1,2,3]],"top_k":-3}`))
	f.Add([]byte(`{"question":"q","features":null,"bogus":[]}`))
	lim := Limits{MaxRegions: 8, MaxImagePixels: 4096}.withDefaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		var req VQARequest
		err := decodeJSON(body, &req)
		if err == nil {
			_, err = decodeRegions(&req.RegionsInput, lim, true, 2048)
		}
		if err == nil {
			return
		}
		re, ok := err.(*requestError)
		if !ok || re.status < 400 || re.status >= 500 || re.msg == "" {
			t.Fatalf("error %T %v is not a 4xx request error", err, err)
		}
	})
}

func tempDir() (string, error) { return testTempDir, nil }

var testTempDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vlbert-serve-test")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	testTempDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
