// Package serve is vlbert's HTTP JSON server over an infer.Pipeline:
// POST /v1/vqa, /v1/ground, /v1/vcr and /v1/attention, GET /healthz and
// GET /metrics (Prometheus text format).
//
// Requests are bounded: body size (413), regions, tokens and image pixels (400
// or 413), and a concurrency limit: at most MaxInFlight inference requests are
// admitted, the next ones get 429 at once instead of queueing. /healthz and
// /metrics are never limited, so health checks keep answering under load.
// Unknown JSON fields are rejected with a 400 naming the field. Serve shuts
// down gracefully when its context ends (SIGTERM in the CLI).
//
// Every inference request carries one image as either
//
//	"features": {...}                       one record of the bottom-up per-image JSON
//	                                        (image_id, image_w, image_h, num_boxes,
//	                                        boxes, features as base64 float32, ...)
//	"image": "<base64 JPEG/PNG or data: URL>", "boxes": [[x1, y1, x2, y2], ...]
//
// and answers (errors are {"error": "..."} with a 4xx/5xx status):
//
//	POST /v1/vqa       {"question", "top_k"?}      -> {"tokens", "answers": [{"answer", "index", "score", "logit"}]}
//	                   score = sigmoid(logit), each answer's own predicted VQA accuracy
//	POST /v1/ground    {"expression"}              -> {"tokens", "best", "boxes": [{"index", "box", "score", "logit"}], "image_score"}
//	POST /v1/vcr       {"question", "choices": [4]} -> {"best", "choices": [{"index", "text", "prob", "logit"}]}  (softmax)
//	POST /v1/attention {"text", "layer"?}          -> {"tokens", "layers", "heads", "num_text", "num_regions",
//	                                                    "attention": [layer][head][from][to], "answers"?}
//
// Status codes: 400 bad request data, 404 unknown path, 405 not POST, 413 body
// or image too large, 415 a multipart form, 429 full, 501 the checkpoint has no head
// for the endpoint (or no ResNet weights for images), 503 timed out waiting for
// a model replica.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/model"
)

// Config configures a Server; zero fields take the defaults.
type Config struct {
	Limits         Limits
	MaxInFlight    int           // admitted inference requests (default 2 per pipeline worker)
	RequestTimeout time.Duration // per inference request, waiting included (default 60 s)
	ReadTimeout    time.Duration // whole request read (default 30 s)
	WriteTimeout   time.Duration // response write, from the end of the header read (default 120 s)
	ShutdownGrace  time.Duration // time to finish requests on shutdown (default 30 s)
	Logger         *log.Logger   // nil: no request log
}

// Server answers inference requests with one pipeline.
type Server struct {
	p   *infer.Pipeline
	cfg Config
	sem chan struct{}
	met *metrics
	mux *http.ServeMux
}

// New builds a server for p.
func New(p *infer.Pipeline, cfg Config) *Server {
	cfg.Limits = cfg.Limits.withDefaults()
	// The pipeline enforces the token and region limits too; keep them equal.
	p.Limits.MaxTokens, p.Limits.MaxRegions = cfg.Limits.MaxTokens, cfg.Limits.MaxRegions
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 2 * p.Workers()
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 120 * time.Second
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 30 * time.Second
	}
	s := &Server{p: p, cfg: cfg, sem: make(chan struct{}, cfg.MaxInFlight), met: newMetrics(), mux: http.NewServeMux()}
	s.mux.HandleFunc("/v1/vqa", s.inference("vqa", s.vqa))
	s.mux.HandleFunc("/v1/ground", s.inference("ground", s.ground))
	s.mux.HandleFunc("/v1/vcr", s.inference("vcr", s.vcr))
	s.mux.HandleFunc("/v1/attention", s.inference("attention", s.attention))
	s.mux.HandleFunc("/healthz", s.healthz)
	s.mux.HandleFunc("/metrics", s.metrics)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s (have POST /v1/vqa, /v1/ground, /v1/vcr, /v1/attention; GET /healthz, /metrics)", r.URL.Path))
	})
	return s
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve answers on ln until ctx ends, then stops accepting, lets admitted
// requests finish (up to ShutdownGrace) and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.cfg.Logger,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ListenAndServe listens on addr (e.g. 127.0.0.1:8080) and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return s.Serve(ctx, ln)
}

// handlerFunc decodes a body and returns the response value or an error.
type handlerFunc func(ctx context.Context, body []byte) (any, error)

// inference wraps an inference endpoint: method, admission (429), body limit,
// timeout, error mapping, metrics.
func (s *Server) inference(name string, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := s.serveInference(w, r, h)
		s.met.observe(name, code, time.Since(start))
		if s.cfg.Logger != nil {
			s.cfg.Logger.Printf("%s %s %d %s", r.Method, r.URL.Path, code, time.Since(start).Round(time.Microsecond))
		}
	}
}

func (s *Server) serveInference(w http.ResponseWriter, r *http.Request, h handlerFunc) int {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return writeError(w, http.StatusMethodNotAllowed, "use POST with a JSON body")
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		s.met.rejected.Add(1)
		w.Header().Set("Retry-After", "1")
		return writeError(w, http.StatusTooManyRequests, fmt.Sprintf("server busy: %d requests in flight, retry later", cap(s.sem)))
	}
	s.met.inFlight.Add(1)
	defer s.met.inFlight.Add(-1)
	// Bodies are parsed as JSON whatever they are labelled (curl -d sends
	// x-www-form-urlencoded); only multipart forms, which cannot be JSON, are refused.
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/") {
		return writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q, want application/json", ct))
	}
	body, err := readBody(w, r, s.cfg.Limits.MaxBodyBytes)
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			return writeError(w, re.status, re.msg)
		}
		return writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	resp, err := h(ctx, body)
	if err != nil {
		code, msg := errorStatus(err)
		return writeError(w, code, msg)
	}
	return writeJSON(w, http.StatusOK, resp)
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes, over the limit of %d", r.ContentLength, limit)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body over the limit of %d bytes", limit)}
		}
		return nil, err
	}
	return body, nil
}

// errorStatus maps a handler error to an HTTP status and message.
func errorStatus(err error) (int, string) {
	var re *requestError
	switch {
	case errors.As(err, &re):
		return re.status, re.msg
	case errors.Is(err, infer.ErrInput):
		return http.StatusBadRequest, strings.TrimPrefix(err.Error(), infer.ErrInput.Error()+": ")
	case errors.Is(err, infer.ErrUnsupported):
		return http.StatusNotImplemented, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "timed out waiting for the model"
	case errors.Is(err, context.Canceled):
		return 499, "request cancelled"
	}
	return http.StatusInternalServerError, "internal error: " + err.Error()
}

func writeJSON(w http.ResponseWriter, code int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client may have gone; nothing to do
	return code
}

func writeError(w http.ResponseWriter, code int, msg string) int {
	return writeJSON(w, code, map[string]string{"error": msg})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "ok", "module": s.p.Model.Task.String(), "workers": s.p.Workers(),
		"in_flight": s.met.inFlight.Load(), "max_in_flight": cap(s.sem), "image_input": s.p.HasVisual(), "int8": s.p.Int8,
	})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	s.met.write(w)
}

// regions turns a decoded RegionsInput into model regions (the image path runs
// the visual network).
func (s *Server) regions(ctx context.Context, in *RegionsInput) (*infer.Regions, error) {
	spec, err := decodeRegions(in, s.cfg.Limits)
	if err != nil {
		return nil, err
	}
	if spec.record != nil {
		return infer.RegionsFromRecord(spec.record)
	}
	return s.p.RegionsFromImage(ctx, spec.image, spec.boxes)
}

func (s *Server) vqa(ctx context.Context, body []byte) (any, error) {
	var req VQARequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := checkText("question", req.Question, s.cfg.Limits); err != nil {
		return nil, err
	}
	if s.p.Model.Task != model.TaskVQA {
		return nil, fmt.Errorf("%w: this server's checkpoint is %s, not a VQA model", infer.ErrUnsupported, s.p.Model.Task)
	}
	k := req.TopK
	switch {
	case k < 0:
		return nil, badRequest("top_k %d, want >= 1", k)
	case k == 0:
		k = 5
	case k > len(s.p.Answers):
		k = len(s.p.Answers)
	}
	reg, err := s.regions(ctx, &req.RegionsInput)
	if err != nil {
		return nil, err
	}
	return s.p.VQA(ctx, req.Question, reg, k)
}

func (s *Server) ground(ctx context.Context, body []byte) (any, error) {
	var req GroundRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := checkText("expression", req.Expression, s.cfg.Limits); err != nil {
		return nil, err
	}
	reg, err := s.regions(ctx, &req.RegionsInput)
	if err != nil {
		return nil, err
	}
	return s.p.Ground(ctx, req.Expression, reg)
}

func (s *Server) vcr(ctx context.Context, body []byte) (any, error) {
	var req VCRRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := checkText("question", req.Question, s.cfg.Limits); err != nil {
		return nil, err
	}
	for i, c := range req.Choices {
		if err := checkText(fmt.Sprintf("choices[%d]", i), c, s.cfg.Limits); err != nil {
			return nil, err
		}
	}
	reg, err := s.regions(ctx, &req.RegionsInput)
	if err != nil {
		return nil, err
	}
	return s.p.VCR(ctx, req.Question, req.Choices, reg)
}

// AttentionResponse is the answer of POST /v1/attention.
type AttentionResponse struct {
	Tokens     []string        `json:"tokens"` // [CLS] ... [SEP] [IMG] 1..n [END]
	Layers     []int           `json:"layers"` // the layers in attention
	Heads      int             `json:"heads"`
	NumText    int             `json:"num_text"`
	NumRegions int             `json:"num_regions"`
	Attention  [][][][]float32 `json:"attention"` // [layer][head][from][to]
	Answers    []infer.Answer  `json:"answers,omitempty"`
}

func (s *Server) attention(ctx context.Context, body []byte) (any, error) {
	var req AttentionRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := checkText("text", req.Text, s.cfg.Limits); err != nil {
		return nil, err
	}
	if req.Layer != nil && (*req.Layer < 0 || *req.Layer >= s.p.Model.NumHiddenLayers) {
		return nil, badRequest("layer %d outside [0, %d)", *req.Layer, s.p.Model.NumHiddenLayers)
	}
	reg, err := s.regions(ctx, &req.RegionsInput)
	if err != nil {
		return nil, err
	}
	a, err := s.p.Attention(ctx, req.Text, reg)
	if err != nil {
		return nil, err
	}
	out := &AttentionResponse{Tokens: a.Tokens, Heads: a.Heads, NumText: a.NumText, NumRegions: a.NumRegions, Answers: a.Answers}
	L := a.L
	for l := 0; l < a.Layers; l++ {
		if req.Layer != nil && l != *req.Layer {
			continue
		}
		out.Layers = append(out.Layers, l)
		heads := make([][][]float32, a.Heads)
		for h := range heads {
			heads[h] = make([][]float32, L)
			for i := 0; i < L; i++ {
				off := ((l*a.Heads+h)*L + i) * L
				heads[h][i] = a.Probs[off : off+L]
			}
		}
		out.Attention = append(out.Attention, heads)
	}
	return out, nil
}
