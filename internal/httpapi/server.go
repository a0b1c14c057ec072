// Package httpapi is Promote's REST API: the server that exposes the
// registry service over HTTP (JSON under /api/v1, with an OpenAPI document,
// health, readiness and Prometheus metrics) and the Go client that the CLI
// and the tests use to talk to it.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/promote"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultRequestTimeout = 30 * time.Second
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Logger receives one line per request and the detail of internal
	// errors. Nil discards.
	Logger *slog.Logger
	// Metrics receives the server's metrics, and is what /metrics serves.
	// Nil gives the server a registry of its own; no global registry is
	// ever used.
	Metrics *telemetry.Registry
	// MaxBodyBytes limits a request body; DefaultMaxBodyBytes when 0.
	MaxBodyBytes int64
	// RequestTimeout bounds the handling of one request;
	// DefaultRequestTimeout when 0.
	RequestTimeout time.Duration
	// Ready reports whether the server can serve (its store is reachable);
	// /readyz answers 503 while it returns an error. Nil: always ready.
	Ready func(ctx context.Context) error
	// Now is the clock (for freeze windows shown by /environments); nil
	// is time.Now.
	Now func() time.Time
	// Rollouts carries out people's operations on rollouts (the rollout
	// controller); nil answers them with a Conflict.
	Rollouts RolloutOps
	// Deliveries is the webhooks' delivery log; nil: the server sends no
	// webhooks, and the listing is empty.
	Deliveries Deliveries
	// Resender sends a failed webhook delivery again (the
	// notify.Dispatcher); nil: the server sends no webhooks, and a
	// re-send is a Conflict.
	Resender Resender
	// Leader reports where this replica stands in the election of the
	// replica that runs the controllers (leader.Elector's Status), for
	// GET /leader; nil answers it with a NotFound.
	Leader func() Leader
}

// Deliveries reads webhook delivery attempts, newest first
// (notify.StoreLog).
type Deliveries interface {
	List(ctx context.Context, f notify.DeliveryFilter) ([]notify.Delivery, error)
}

// Resender asks for a webhook delivery that failed for good to be sent
// again (notify.Dispatcher).
type Resender interface {
	Resend(ctx context.Context, who promote.Principal, id string) (notify.Delivery, error)
}

// RolloutOps carries out the operations on a rollout that people take,
// and says what a person's go does to a rollout that waits for them
// (rollout.Controller): every rollout the API answers with carries it.
type RolloutOps interface {
	Operate(ctx context.Context, who promote.Principal, op rollout.Op) (promote.Rollout, error)
	WithNext(r promote.Rollout) promote.Rollout
}

// Server is the REST API server over a registry service.
type Server struct {
	svc     *registry.Service
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	// routes lists the registered patterns ("GET /api/v1/models"), in
	// registration order, for the OpenAPI parity test.
	routes []string
	known  map[string]bool

	requests *telemetry.CounterVec
	duration *telemetry.HistogramVec
	inFlight telemetry.Gauge
}

// NewServer returns a server for svc.
func NewServer(svc *registry.Service, opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = telemetry.NewRegistry()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{svc: svc, opts: opts, log: log, mux: http.NewServeMux(), known: map[string]bool{}}
	// Two servers sharing one registry count together. A family of the
	// same name and another shape is a programming error caught by the
	// tests; the server then counts into a registry of its own rather than
	// fail over its metrics.
	if err := s.newMetrics(opts.Metrics); err != nil {
		s.log.Error("server metrics", "err", err)
		_ = s.newMetrics(telemetry.NewRegistry())
	}
	s.addRoutes()
	s.handler = s.serve(s.mux)
	return s
}

// httpBuckets are the request duration histogram's upper bounds, in
// seconds: the Prometheus client's default buckets.
var httpBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// newMetrics creates the server's metric families on reg.
func (s *Server) newMetrics(reg *telemetry.Registry) error {
	requests, err1 := reg.Counter("promote_http_requests_total",
		"HTTP requests answered, by route pattern and status code.", "route", "code")
	duration, err2 := reg.Histogram("promote_http_request_duration_seconds",
		"Time to answer an HTTP request, by route pattern and status code.", httpBuckets, "route", "code")
	inFlight, err3 := reg.Gauge("promote_http_requests_in_flight", "HTTP requests being answered.")
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	s.requests, s.duration, s.inFlight = requests, duration, inFlight.With()
	return nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// MaxHeaderBytes bounds a request's headers: the API's are a token and a
// few standard ones.
const MaxHeaderBytes = 64 << 10

// HTTPServer returns an http.Server for the handler with every timeout set:
// headers must arrive within 10s, a whole request within RequestTimeout,
// and the answer must be written within RequestTimeout and a margin in
// which a timed-out handler still writes its error.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.opts.RequestTimeout,
		WriteTimeout:      s.opts.RequestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Run listens on addr and serves until ctx ends, then shuts down
// gracefully, giving requests in flight up to RequestTimeout to finish.
func (s *Server) Run(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, like Run.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := s.HTTPServer(ln.Addr().String())
	hs.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	s.log.LogAttrs(ctx, slog.LevelInfo, "serving the API", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RequestTimeout)
	defer cancel()
	err := hs.Shutdown(shutdownCtx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// Log attribute keys.
const (
	keyMethod    = "method"
	keyRoute     = "route"
	keyPath      = "path"
	keyStatus    = "status"
	keyDuration  = "duration"
	keyRequestID = "request_id"
	keyActor     = "actor"
	keyRemote    = "remote"
	keyError     = "error"
)

func attrRequestID(id string) slog.Attr { return slog.String(keyRequestID, id) }
func attrError(err error) slog.Attr     { return slog.String(keyError, err.Error()) }

type ctxKey int

const (
	requestIDKey ctxKey = iota
	actorKey
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// actorSlot is where the auth wrapper leaves the principal's name for the
// request log, which runs outside it.
type actorSlot struct{ name string }

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recorder remembers the status a handler wrote and whether it wrote.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serve wraps next with what every request gets: a request ID, a deadline,
// panic recovery, metrics by route pattern and one log line. The route is
// the pattern the mux matched, so the metrics' cardinality is bounded by
// the route table, not by the paths clients send.
func (s *Server) serve(next *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		actor := &actorSlot{}
		ctx = context.WithValue(context.WithValue(ctx, requestIDKey, id), actorKey, actor)
		r = r.WithContext(ctx)
		rec := &recorder{ResponseWriter: w}
		s.inFlight.Inc()
		defer func() {
			s.inFlight.Dec()
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					s.finish(r, rec, start, actor)
					panic(v)
				}
				s.log.LogAttrs(ctx, slog.LevelError, "panic in handler", attrRequestID(id),
					slog.String(keyMethod, r.Method), slog.String(keyPath, r.URL.Path),
					slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				if !rec.wrote {
					writeJSON(rec, http.StatusInternalServerError, ErrorBody{Error: ErrorDetail{Code: promote.Internal,
						Message: fmt.Sprintf("internal error (request %s); the server log has the detail", id)}})
				}
			}
			s.finish(r, rec, start, actor)
		}()
		if _, pattern := next.Handler(r); pattern == "" {
			s.wrap(s.unmatched).ServeHTTP(rec, r)
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// finish counts and logs a request. The mux set r.Pattern on the request
// it was given; the token never appears (only the name it stands for).
func (s *Server) finish(r *http.Request, rec *recorder, start time.Time, actor *actorSlot) {
	status := rec.status
	if !rec.wrote {
		status = http.StatusOK
	}
	route := r.Pattern
	if !s.known[route] {
		route = "unmatched" // a redirect's pattern is the path it redirects to
	}
	elapsed := time.Since(start)
	code := strconv.Itoa(status)
	s.requests.With(route, code).Inc()
	s.duration.With(route, code).Observe(elapsed.Seconds())
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String(keyMethod, r.Method), slog.String(keyRoute, route), slog.String(keyPath, r.URL.Path),
		slog.Int(keyStatus, status), slog.Duration(keyDuration, elapsed), attrRequestID(requestID(r.Context())),
	}
	if actor.name != "" {
		attrs = append(attrs, slog.String(keyActor, actor.name))
	}
	// A refused token is worth a warning that says where it came from:
	// nothing throttles guesses, so the log is where someone trying
	// tokens, or a leaked one being revoked too late, shows up.
	if status == http.StatusUnauthorized {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String(keyRemote, r.RemoteAddr))
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// handlerFunc is an API handler: it returns an error for the wrapper to
// render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// authFunc is an API handler that needs the principal of the request's
// token.
type authFunc func(w http.ResponseWriter, r *http.Request, who promote.Principal) error

// handle registers a public route.
func (s *Server) handle(pattern string, h handlerFunc) { s.handleHTTP(pattern, s.wrap(h)) }

// handleHTTP registers a plain handler.
func (s *Server) handleHTTP(pattern string, h http.Handler) {
	s.routes = append(s.routes, pattern)
	s.known[pattern] = true
	s.mux.Handle(pattern, h)
}

// handleAuth registers a route that needs a token. Reads (GET) need the
// viewer role here; the service checks the role of everything else.
func (s *Server) handleAuth(pattern string, h authFunc) {
	read := len(pattern) > 4 && pattern[:4] == "GET "
	s.handle(pattern, func(w http.ResponseWriter, r *http.Request) error {
		who, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if read && !who.Role.Allows(promote.RoleViewer) {
			return promote.Errorf(promote.Forbidden, "reading needs the viewer role; %s has %s", who.Name, who.Role)
		}
		return h(w, r, who)
	})
}

// wrap renders the error a handler returns.
func (s *Server) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.render(w, r, err)
		}
	})
}

// authenticate reads the bearer token and asks the service who it is.
func (s *Server) authenticate(r *http.Request) (promote.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return promote.Principal{}, promote.Errorf(promote.Unauthorized, "missing token: send Authorization: Bearer <token>")
	}
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return promote.Principal{}, promote.Errorf(promote.Unauthorized, "malformed Authorization header: want Bearer <token>")
	}
	who, err := s.svc.Authenticate(r.Context(), secret)
	if err != nil {
		return promote.Principal{}, err
	}
	if slot, ok := r.Context().Value(actorKey).(*actorSlot); ok {
		slot.name = who.Name
	}
	return who, nil
}

// unmatched answers a request no route matched, or whose method the route
// does not take, as JSON. It asks the mux which it was, so that a wrong
// method is a 405 with Allow and anything else a 404; the mux's redirects
// (to a cleaned path) go out as they are.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) error {
	probe := &probeWriter{header: http.Header{}}
	h, _ := s.mux.Handler(r)
	// The mux's handler for an unmatched request only writes a status and
	// a header or two; run it into a probe to learn which.
	h.ServeHTTP(probe, r)
	switch {
	case probe.status >= 300 && probe.status < 400:
		h.ServeHTTP(w, r)
		return nil
	case probe.status == http.StatusMethodNotAllowed:
		w.Header().Set("Allow", probe.header.Get("Allow"))
		return errorStatus(http.StatusMethodNotAllowed, promote.Invalid, "%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, probe.header.Get("Allow"))
	}
	return errorStatus(http.StatusNotFound, promote.NotFound, "no route %s %s; see /api/v1/openapi.json", r.Method, r.URL.Path)
}

type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *probeWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}

// metricsHandler serves the registry in the Prometheus format the scraper
// asks for.
func (s *Server) metricsHandler() http.Handler {
	return s.opts.Metrics.Handler(s.log)
}
