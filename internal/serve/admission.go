package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
)

// The inference request path, in order, each step cheap before the next:
//
//  1. method, Content-Type (application/json) and Host checks;
//  2. shed: when every inference slot is busy, 429 at once, without reading
//     the body (a non-blocking check, no queue);
//  3. a body-read slot (MaxBodyReads; none free: 429): the body is read under
//     a deadline proportional to its size (BodyReadBase + size/MinBodyRate);
//  4. once the body is in, a reservation of a free inference slot (none: 429
//     without parsing), under which it is decoded and validated, the
//     endpoint's capability checked before any image is decoded;
//  5. the reserved inference slot, then the model.
//
// A slow client therefore holds a connection and a body-read slot for at most
// its deadline, never an inference slot (a reservation is taken only once the
// whole body is in memory, and validation is bounded work), and memory is bounded by
// MaxBodyReads x (MaxBodyBytes + one decoded image).

// prepared is a validated request, ready to run on a model replica.
type prepared func(ctx context.Context) (any, error)

// prepareFunc decodes and validates a body (step 3) without touching a model.
type prepareFunc func(body []byte) (prepared, error)

// inference wraps an inference endpoint with the request path above, error
// mapping, metrics and the request log.
func (s *Server) inference(path string, prep prepareFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.requests.Add(1)
		code := s.serveInference(w, r, prep)
		s.met.observe(path, r.Method, code, time.Since(start))
		if s.cfg.Logger != nil {
			s.cfg.Logger.Printf("%s %s %d %s", r.Method, r.URL.Path, code, time.Since(start).Round(time.Microsecond))
		}
	}
}

func (s *Server) serveInference(w http.ResponseWriter, r *http.Request, prep prepareFunc) int {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return writeError(w, http.StatusMethodNotAllowed, "use POST with a JSON body")
	}
	if code, msg := checkContentType(r.Header.Get("Content-Type")); code != 0 {
		return writeError(w, code, msg)
	}
	if s.full() {
		return s.reject(w, rejectInferenceFull)
	}
	select {
	case s.readers <- struct{}{}:
	default:
		return s.reject(w, rejectReadsFull)
	}
	s.met.reading.Inc()
	run, reserved, err := s.readAndPrepare(w, r, prep)
	s.met.reading.Dec()
	<-s.readers
	if err != nil {
		if reserved {
			s.pending.Add(-1)
		}
		code, msg := errorStatus(err)
		if code == http.StatusRequestEntityTooLarge || code == http.StatusRequestTimeout {
			w.Header().Set("Connection", "close") // the rest of the body is not read
		}
		return writeError(w, code, msg)
	}
	if !reserved {
		return s.reject(w, rejectInferenceFull)
	}
	// The reservation becomes the slot (it can only fail if a caller
	// outside this path filled sem).
	select {
	case s.sem <- struct{}{}:
		s.pending.Add(-1)
		defer func() { <-s.sem }()
	default:
		s.pending.Add(-1)
		return s.reject(w, rejectInferenceFull)
	}
	s.inFlight.Add(1)
	s.met.inference.Inc()
	defer func() { s.inFlight.Add(-1); s.met.inference.Dec() }()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	resp, err := run(ctx)
	if err != nil {
		code, msg := errorStatus(err)
		return writeError(w, code, msg)
	}
	return writeJSON(w, http.StatusOK, resp)
}

// full reports whether every inference slot is taken or spoken for by a
// request being validated.
func (s *Server) full() bool { return len(s.sem)+int(s.pending.Load()) >= cap(s.sem) }

// reserve speaks for a free inference slot while a request that has fully
// arrived is validated, so that under overload one request is parsed per
// free slot, not every request that arrived while one was free.
func (s *Server) reserve() bool {
	if n := s.pending.Add(1); len(s.sem)+int(n) > cap(s.sem) {
		s.pending.Add(-1)
		return false
	}
	return true
}

// reject answers 429. An unread body is drained by net/http when small (so
// the connection is kept, and a client under load does not run out of
// ports) and the connection closed when large.
func (s *Server) reject(w http.ResponseWriter, reason string) int {
	s.met.rejected.WithLabelValues(reason).Inc()
	s.busy.Store(true)
	w.Header().Set("Retry-After", "1")
	if reason == rejectReadsFull {
		return writeError(w, http.StatusTooManyRequests, fmt.Sprintf("server busy: %d request bodies being read, retry later", cap(s.readers)))
	}
	return writeError(w, http.StatusTooManyRequests, fmt.Sprintf("server busy: %d requests in flight, retry later", cap(s.sem)))
}

// readAndPrepare reads the body under its deadline, reserves an inference
// slot and validates the body. reserved is false when no slot was free once
// the body was in: the body is then not parsed (under overload most
// requests end here, and parsing them would take CPU from the model). When
// reserved is true the caller owns the reservation, whatever err says; a
// body that fails to arrive reserves nothing, so slow clients never hold a
// slot.
func (s *Server) readAndPrepare(w http.ResponseWriter, r *http.Request, prep prepareFunc) (run prepared, reserved bool, err error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, false, err
	}
	if !s.reserve() {
		return nil, false, nil
	}
	run, err = prep(body)
	return run, true, err
}

// bodyDeadline is how long a body of n bytes may take to arrive.
func (s *Server) bodyDeadline(n int64) time.Duration {
	d := s.cfg.BodyReadBase + time.Duration(float64(n)/float64(s.cfg.MinBodyRate)*float64(time.Second))
	return min(d, s.cfg.ReadTimeout)
}

// readBody reads the body within the size limit and a deadline proportional to
// its size. Without a Content-Length (chunked), the deadline grows with the
// bytes received, so the client must keep up MinBodyRate.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.cfg.Limits.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes, over the limit of %d", r.ContentLength, limit)}
	}
	rc := http.NewResponseController(w)
	start := time.Now()
	var src io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength >= 0 {
		// Errors mean the writer cannot set deadlines (httptest): the server's
		// ReadTimeout still applies.
		_ = rc.SetReadDeadline(start.Add(s.bodyDeadline(r.ContentLength)))
	} else {
		src = &rateReader{r: src, rc: rc, start: start, s: s}
	}
	buf := make([]byte, 0, max(r.ContentLength, 512))
	body, err := readAllInto(buf, src)
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			return nil, &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body over the limit of %d bytes", limit)}
		case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
			return nil, &requestError{http.StatusRequestTimeout, fmt.Sprintf("body not received in time (%d bytes after %v; the server wants at least %d bytes/s)",
				len(body), time.Since(start).Round(time.Millisecond), s.cfg.MinBodyRate)}
		}
		return nil, badRequest("reading the body: %v", err)
	}
	return body, nil
}

// readAllInto is io.ReadAll into buf's capacity (sized from Content-Length).
func readAllInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// rateReader extends the read deadline as bytes arrive: the body so far plus
// the next 64 KiB must arrive within BodyReadBase + size/MinBodyRate.
type rateReader struct {
	r     io.Reader
	rc    *http.ResponseController
	start time.Time
	n     int64
	s     *Server
}

func (rr *rateReader) Read(p []byte) (int, error) {
	_ = rr.rc.SetReadDeadline(rr.start.Add(rr.s.bodyDeadline(rr.n + 64<<10)))
	n, err := rr.r.Read(p)
	rr.n += int64(n)
	return n, err
}

// checkContentType requires application/json (parameters such as charset are
// fine). Browsers cannot send it cross-site without a CORS preflight, which
// this server never grants, so a web page cannot make a visitor's browser
// post to a local server.
func checkContentType(ct string) (int, string) {
	if ct == "" {
		return http.StatusUnsupportedMediaType, "missing Content-Type: send the JSON body with Content-Type: application/json"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q, want application/json", ct)
	}
	return 0, ""
}

// hostAllowed reports whether a request's Host header names this server.
// It applies when the server listens on a loopback address: a loopback name or
// address (localhost, 127.0.0.0/8, ::1), or one of Config.AllowedHosts. A web
// page whose DNS name was rebound to 127.0.0.1 sends its own name and is refused.
func (s *Server) hostAllowed(host string) bool {
	if !s.loopbackOnly.Load() {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return true
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, a := range s.cfg.AllowedHosts {
		if strings.EqualFold(a, h) || strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

// ServeHTTP checks the Host header, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		start := time.Now()
		code := writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf("Host %q is not this server's: it listens on a loopback address and answers loopback names only (vlbert serve --allow-host adds names)", r.Host))
		s.met.observe("host_refused", r.Method, code, time.Since(start))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// trimAfterBursts returns freed memory to the system once the server goes
// quiet after rejecting requests, so a burst does not leave the process
// large for minutes (the runtime's own scavenger is gradual).
func (s *Server) trimAfterBursts(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := s.requests.Load()
		quiet := n == last && s.inFlight.Load() == 0 && len(s.readers) == 0
		last = n
		if quiet && s.busy.Swap(false) {
			debug.FreeOSMemory()
		}
	}
}

// counters the trimmer reads.
type serverCounters struct {
	requests     atomic.Uint64 // inference requests seen
	inFlight     atomic.Int64  // requests holding an inference slot
	pending      atomic.Int64  // requests validating under a reservation (see reserve)
	busy         atomic.Bool   // a 429 was answered since the last trim
	loopbackOnly atomic.Bool   // listening on loopback: Host must be loopback
}
