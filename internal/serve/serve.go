// Package serve is vlbert's HTTP JSON server over an infer.Pipeline:
// POST /v1/vqa, /v1/ground, /v1/vcr and /v1/attention, GET /healthz and
// GET /metrics (Prometheus exposition: http_requests_total and
// http_request_duration_seconds by handler, method and code; vlbert_* admission
// gauges and counters; the Go runtime and process collectors).
//
// Requests are bounded: body size (413), body arrival time (408: a deadline
// proportional to the body's size), regions, tokens and image pixels (400 or
// 413), and concurrency. A request is read and validated before it takes one
// of MaxInFlight inference slots; when none is free it gets 429 at once
// (checked before the body is read, and again after), never a queue, so slow
// clients cost a connection and never a model replica (see admission.go).
// /healthz and /metrics are never limited, so health checks keep answering
// under load. Unknown JSON fields are rejected with a 400 naming the field.
// Inference requests must say Content-Type: application/json (415 otherwise),
// and a server listening on a loopback address answers only requests whose
// Host is a loopback name (421 otherwise), so neither a cross-site form post
// nor a DNS-rebound web page reaches it from a browser. Serve shuts down
// gracefully when its context ends (SIGTERM in the CLI).
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
// Status codes: 400 bad request data, 404 unknown path, 405 not POST, 408 body
// too slow, 413 body or image too large, 415 not application/json, 421 Host not
// this server's, 429 full, 500 the model produced a non-finite output, 501 the
// checkpoint has no head for the endpoint (or no ResNet weights for images),
// 503 timed out waiting for a model replica.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/model"
	"github.com/vlbert/vlbert/internal/visual"
)

// Config configures a Server; zero fields take the defaults.
type Config struct {
	Limits      Limits
	MaxInFlight int // inference slots: requests admitted to the model (default 2 per pipeline worker, times MaxBatch when batching)
	// BatchWindow and MaxBatch batch VQA requests that arrive within
	// BatchWindow of each other into one forward of at most MaxBatch
	// (infer.Batching); off unless both are set (> 0, > 1). A window, not a
	// queue: requests beyond the inference slots still get 429 at once.
	BatchWindow    time.Duration
	MaxBatch       int
	MaxBodyReads   int           // requests whose body is read and validated at once (default 16)
	BodyReadBase   time.Duration // body deadline: this plus size/MinBodyRate (default 2 s)
	MinBodyRate    int64         // bytes/s a client must keep up when sending its body (default 256 KiB/s)
	RequestTimeout time.Duration // per inference request, from admission, waiting for a replica included (default 60 s)
	ReadTimeout    time.Duration // upper bound of any request read (default 30 s)
	WriteTimeout   time.Duration // response write, from the end of the header read (default 120 s)
	ShutdownGrace  time.Duration // time to finish requests on shutdown (default 30 s)
	AllowedHosts   []string      // Host names answered besides loopback ones when listening on loopback
	Logger         *log.Logger   // nil: no request log
	// Detector finds the regions of an image sent without boxes (vlbert serve
	// --detector); nil: an image needs boxes. It is called under an
	// inference slot, possibly concurrently.
	Detector func(ctx context.Context, img *visual.RGBImage) (*infer.Regions, error)
}

// Server answers inference requests with one pipeline.
type Server struct {
	p       *infer.Pipeline
	cfg     Config
	sem     chan struct{} // inference slots
	readers chan struct{} // body-read slots
	met     *metrics
	mux     *http.ServeMux
	serverCounters
}

// New builds a server for p.
func New(p *infer.Pipeline, cfg Config) *Server {
	cfg.Limits = cfg.Limits.withDefaults()
	// The pipeline enforces the token and region limits too; keep them equal.
	p.Limits.MaxTokens, p.Limits.MaxRegions = cfg.Limits.MaxTokens, cfg.Limits.MaxRegions
	batching := cfg.BatchWindow > 0 && cfg.MaxBatch > 1
	if cfg.MaxInFlight <= 0 {
		// Per worker: one batch running and one collecting.
		cfg.MaxInFlight = 2 * p.Workers()
		if batching {
			cfg.MaxInFlight *= cfg.MaxBatch
		}
	}
	if cfg.MaxBodyReads <= 0 {
		cfg.MaxBodyReads = 16
	}
	if cfg.BodyReadBase <= 0 {
		cfg.BodyReadBase = 2 * time.Second
	}
	if cfg.MinBodyRate <= 0 {
		cfg.MinBodyRate = 256 << 10
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
	s := &Server{p: p, cfg: cfg, sem: make(chan struct{}, cfg.MaxInFlight), readers: make(chan struct{}, cfg.MaxBodyReads),
		met: newMetrics(), mux: http.NewServeMux()}
	if batching {
		p.SetBatching(infer.Batching{Window: cfg.BatchWindow, MaxBatch: cfg.MaxBatch, Observe: s.met.observeBatch})
	}
	s.mux.HandleFunc("/v1/vqa", s.inference("/v1/vqa", s.vqa))
	s.mux.HandleFunc("/v1/ground", s.inference("/v1/ground", s.ground))
	s.mux.HandleFunc("/v1/vcr", s.inference("/v1/vcr", s.vcr))
	s.mux.HandleFunc("/v1/attention", s.inference("/v1/attention", s.attention))
	s.mux.HandleFunc("/healthz", s.instrument("/healthz", s.healthz))
	s.mux.Handle("/metrics", s.instrument("/metrics", s.met.handler().ServeHTTP))
	s.mux.HandleFunc("/", s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s (have POST /v1/vqa, /v1/ground, /v1/vcr, /v1/attention; GET /healthz, /metrics)", r.URL.Path))
	}))
	return s
}

// instrument counts and times a handler that is not an inference endpoint.
func (s *Server) instrument(handler string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		s.met.observe(handler, r.Method, sw.code, time.Since(start))
	}
}

// statusWriter records the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int)        { w.code = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s }

// Serve answers on ln until ctx ends, then stops accepting, lets admitted
// requests finish (up to ShutdownGrace) and returns nil. On a loopback
// listener only loopback Host names (and Config.AllowedHosts) are answered.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsLoopback() {
		s.loopbackOnly.Store(true)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.cfg.Logger,
	}
	tctx, stopTrim := context.WithCancel(ctx)
	defer stopTrim()
	go s.trimAfterBursts(tctx, 2*time.Second)
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

// errNonFinite marks a model output that is NaN or infinite: a corrupt
// checkpoint, never a score to hand out.
var errNonFinite = errors.New("the model produced a non-finite output (NaN or Inf); the checkpoint's weights are likely corrupt")

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
	case errors.Is(err, errNonFinite):
		return http.StatusInternalServerError, err.Error()
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
		"status": "ok", "module": s.p.Task().String(), "workers": s.p.Workers(),
		"in_flight": s.inFlight.Load(), "max_in_flight": cap(s.sem), "image_input": s.p.HasVisual(), "int8": s.p.Int8,
	})
}

// needTask is the capability check, made before any image is decoded.
func (s *Server) needTask(want model.Task, what, kind string) error {
	if got := s.p.Task(); got != want {
		return fmt.Errorf("%w: %s needs a %s checkpoint; this server's is %s", infer.ErrUnsupported, what, kind, got)
	}
	return nil
}

// regionSource is a validated RegionsInput; get returns the model regions,
// running the visual network for an image (under an inference slot).
type regionSource func(ctx context.Context) (*infer.Regions, error)

// prepareRegions validates and decodes the image part of a request. An image
// is decoded only when the checkpoint can use it.
func (s *Server) prepareRegions(in *RegionsInput) (regionSource, error) {
	spec, err := decodeRegionsDetect(in, s.cfg.Limits, s.p.HasVisual(), s.cfg.Detector != nil, s.p.FeatureDim())
	if err != nil {
		return nil, err
	}
	if spec.record != nil {
		reg, err := infer.RegionsFromRecord(spec.record)
		if err != nil {
			return nil, err
		}
		return func(context.Context) (*infer.Regions, error) { return reg, nil }, nil
	}
	if len(spec.boxes) == 0 { // decodeRegionsDetect allows this only with a detector
		return func(ctx context.Context) (*infer.Regions, error) { return s.cfg.Detector(ctx, spec.image) }, nil
	}
	return func(ctx context.Context) (*infer.Regions, error) {
		return s.p.RegionsFromImage(ctx, spec.image, spec.boxes)
	}, nil
}

func (s *Server) vqa(body []byte) (prepared, error) {
	var req VQARequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := checkText("question", req.Question, s.cfg.Limits); err != nil {
		return nil, err
	}
	if err := s.needTask(model.TaskVQA, "VQA", "ResNetVLBERT (VQA)"); err != nil {
		return nil, err
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
	regions, err := s.prepareRegions(&req.RegionsInput)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (any, error) {
		reg, err := regions(ctx)
		if err != nil {
			return nil, err
		}
		res, err := s.p.VQA(ctx, req.Question, reg, k)
		if err != nil {
			return nil, err
		}
		for _, a := range res.Answers {
			if !finite(a.Score) || !finite(a.Logit) {
				return nil, fmt.Errorf("%w: answer %q", errNonFinite, a.Answer)
			}
		}
		return res, nil
	}, nil
}

func (s *Server) ground(body []byte) (prepared, error) {
	var req GroundRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := checkText("expression", req.Expression, s.cfg.Limits); err != nil {
		return nil, err
	}
	if err := s.needTask(model.TaskRefCOCO, "grounding", "RefCOCO+"); err != nil {
		return nil, err
	}
	regions, err := s.prepareRegions(&req.RegionsInput)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (any, error) {
		reg, err := regions(ctx)
		if err != nil {
			return nil, err
		}
		res, err := s.p.Ground(ctx, req.Expression, reg)
		if err != nil {
			return nil, err
		}
		for _, b := range res.Boxes {
			if !finite(b.Score) || !finite(b.Logit) {
				return nil, fmt.Errorf("%w: box %d", errNonFinite, b.Index)
			}
		}
		return res, nil
	}, nil
}

func (s *Server) vcr(body []byte) (prepared, error) {
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
	if len(req.Choices) != model.VCRChoices {
		return nil, badRequest("%d choices, want %d", len(req.Choices), model.VCRChoices)
	}
	if err := s.needTask(model.TaskVCR, "VCR", "VCR"); err != nil {
		return nil, err
	}
	regions, err := s.prepareRegions(&req.RegionsInput)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (any, error) {
		reg, err := regions(ctx)
		if err != nil {
			return nil, err
		}
		res, err := s.p.VCR(ctx, req.Question, req.Choices, reg)
		if err != nil {
			return nil, err
		}
		for _, c := range res.Choices {
			if !finite(c.Prob) || !finite(c.Logit) {
				return nil, fmt.Errorf("%w: choice %d", errNonFinite, c.Index)
			}
		}
		return res, nil
	}, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

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

func (s *Server) attention(body []byte) (prepared, error) {
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
	regions, err := s.prepareRegions(&req.RegionsInput)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (any, error) {
		reg, err := regions(ctx)
		if err != nil {
			return nil, err
		}
		a, err := s.p.Attention(ctx, req.Text, reg)
		if err != nil {
			return nil, err
		}
		for _, v := range a.Probs {
			if !finite(float64(v)) {
				return nil, fmt.Errorf("%w: attention", errNonFinite)
			}
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
	}, nil
}
