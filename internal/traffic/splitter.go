package traffic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/promote"
)

// Track is the part a backend plays for a model in an environment.
type Track string

// The tracks. Stable and canary share the requests by weight; the shadow
// only receives copies.
const (
	TrackStable Track = "stable"
	TrackCanary Track = "canary"
	TrackShadow Track = "shadow"
	// TrackPinned counts the requests that Config.CandidateHeader sent to
	// the candidate (the canary, or the shadow) whatever its weight: a
	// person's test requests, which are no share of the traffic and so
	// must not count in the analysis's comparison of the canary with
	// stable. The backend that answers them is the candidate's.
	TrackPinned Track = "pinned"
)

// Headers the splitter adds.
const (
	// HeaderTrack, on every response, names the track that answered.
	HeaderTrack = "Promote-Track"
	// HeaderVersion, on every response, names the version that answered.
	HeaderVersion = "Promote-Version"
	// HeaderShadow, set to "1" on every mirrored request, tells the shadow
	// backend that its response goes nowhere (so that it can skip side
	// effects such as writing predictions). A client's own is taken out of
	// every request the splitter proxies, so that a model server can
	// trust it.
	HeaderShadow = "Promote-Shadow"
)

// Defaults of Config.
const (
	DefaultTimeout             = 30 * time.Second
	DefaultFailureThreshold    = 5
	DefaultCoolOff             = 10 * time.Second
	DefaultMaxCoolOff          = 5 * time.Minute
	DefaultHealthInterval      = 5 * time.Second
	DefaultHealthTimeout       = 2 * time.Second
	DefaultShadowMaxConcurrent = 32
	DefaultShadowMaxBody       = 1 << 20
	DefaultShadowTimeout       = 10 * time.Second
)

// Backend is one version's model server.
type Backend struct {
	// Version is the model version the backend serves; it labels logs and
	// the Promote-Version response header.
	Version string
	// URL is the backend's base URL: http or https, with a host. A
	// request's path is joined to URL's path.
	URL *url.URL
}

func (b Backend) validate() error {
	var problems []string
	if b.Version == "" {
		problems = append(problems, "the version is empty")
	}
	switch u := b.URL; {
	case u == nil:
		problems = append(problems, "the URL is missing")
	case u.Scheme != "http" && u.Scheme != "https":
		problems = append(problems, fmt.Sprintf("URL %q: want an http:// or https:// URL", u.Redacted()))
	case u.Host == "":
		problems = append(problems, fmt.Sprintf("URL %q has no host", u.Redacted()))
	}
	if len(problems) > 0 {
		return promote.Errorf(promote.Invalid, "backend %q: %s", b.Version, strings.Join(problems, "; "))
	}
	return nil
}

func (b Backend) same(o Backend) bool {
	return b.Version == o.Version && b.URL.String() == o.URL.String()
}

// Sticky says where a request's client identity is found, so that a client
// keeps its track (see the package doc). Header is asked first. With
// neither set, each request is placed at random.
type Sticky struct {
	// Header is a request header whose value identifies the client (an API
	// key's ID, a user ID).
	Header string
	// Cookie is a cookie whose value identifies the client. While a canary
	// is set, a request without it gets one: the splitter picks a random
	// value, places the request by it and sets the cookie on the response
	// (Path=/, HttpOnly, SameSite=Lax, 30 days, and Secure when the request
	// came over TLS or with X-Forwarded-Proto: https).
	Cookie string
}

// stickyCookieMaxAge is how long a cookie set by the splitter lasts.
const stickyCookieMaxAge = 30 * 24 * 60 * 60

// ShadowConfig bounds the shadow mirror (see the package doc). The share of
// requests mirrored is set with SetShadow.
type ShadowConfig struct {
	// MaxConcurrent is how many mirrored requests may be in flight at
	// once (DefaultShadowMaxConcurrent); a request chosen for mirroring
	// beyond it is dropped and counted.
	MaxConcurrent int
	// MaxBody is the largest request body that is mirrored (a request
	// chosen for mirroring with a larger one is dropped and counted), and
	// the most of each response body hashed for comparison
	// (DefaultShadowMaxBody). The copies of request bodies still arriving
	// hold at most MaxConcurrent times MaxBody bytes together; a copy
	// that would pass that is dropped and counted too.
	MaxBody int64
	// Timeout bounds one mirrored request, from sending it to having the
	// primary's result to compare with (DefaultShadowTimeout).
	Timeout time.Duration
	// CompareBodies compares response bodies (by hash) as well as status
	// codes. Bodies that differ by design (timestamps, request IDs) make
	// every comparison a body_mismatch.
	CompareBodies bool
}

// Config configures a Splitter.
type Config struct {
	// Model and Env name what the splitter routes; they label the metrics
	// and logs.
	Model, Env string
	// Metrics receives the splitter's metrics, shared with other
	// splitters (see NewMetrics).
	Metrics *Metrics
	// Registry is where New creates the metrics when Metrics is nil; one
	// of the two is required. Splitters given the same Registry share the
	// metric families.
	Registry *telemetry.Registry
	// Sticky keeps a client on one track (default: each request at random).
	Sticky Sticky
	// CandidateHeader, when set, names a request header that sends a
	// request to the candidate while one is deployed, the shadow while one
	// is set or else the canary at any weight (0 included), when its value
	// is 1 or true: a route for people to try the candidate (Argo Rollouts'
	// setHeaderRoute, Flagger's header match). Such requests are counted
	// on TrackPinned, not on the candidate's track, and are not
	// mirrored, nor do they count in the candidate's passive health (their
	// failures do not eject it). Anyone who can set the header reaches the
	// candidate: the edge should strip it from public traffic.
	CandidateHeader string
	// Timeout bounds a proxied request, from receiving it to the end of
	// the response body (DefaultTimeout); a protocol upgrade, to the
	// switch. A backend that has not answered by then gets a 504 sent for
	// it, and counts a timeout; a client still sending its body then gets
	// a 408, and the backend is not blamed.
	Timeout time.Duration
	// FailureThreshold is how many timeouts or connection errors in a row
	// eject a backend (DefaultFailureThreshold).
	FailureThreshold int
	// CoolOff is how long a first ejection lasts (DefaultCoolOff); each
	// further ejection without a success in between doubles it, up to
	// MaxCoolOff (DefaultMaxCoolOff).
	CoolOff, MaxCoolOff time.Duration
	// HealthPath, when set, is probed with GET on every backend (joined to
	// its URL) every HealthInterval (DefaultHealthInterval) by Run; a probe
	// that does not answer 2xx within HealthTimeout (DefaultHealthTimeout)
	// takes the backend out until a probe passes.
	HealthPath                    string
	HealthInterval, HealthTimeout time.Duration
	// Shadow bounds the shadow mirror.
	Shadow ShadowConfig
	// DropResponseFields names fields of the backends' answers that never
	// reach the client: those a router in front of the splitter sets
	// itself (the agent's Promote-Environment, say), which would
	// otherwise go out twice.
	DropResponseFields []string
	// Transport carries the proxied requests. The default is a clone of
	// http.DefaultTransport that keeps up to 256 idle connections per
	// backend; Close closes its idle connections.
	Transport http.RoundTripper
	// Logger receives backend changes, ejections and health transitions,
	// never a line per request.
	Logger *slog.Logger
	// Rand returns a number in [0, 1) for each random choice; it must be
	// safe for concurrent use (math/rand/v2's Float64).
	Rand func() float64
	// Now is the clock of ejections and cool-offs (time.Now). Latencies are
	// measured with the monotonic clock whatever Now is.
	Now func() time.Time
}

// setDefaults fills in the defaults and reports every problem at once.
func (c *Config) setDefaults() error {
	var problems []string
	if err := promote.ValidateName("model", c.Model); err != nil {
		problems = append(problems, err.Error())
	}
	if err := promote.ValidateName("environment", c.Env); err != nil {
		problems = append(problems, err.Error())
	}
	if c.Metrics == nil && c.Registry == nil {
		problems = append(problems, "no metrics: set Metrics or Registry")
	}
	for _, h := range []struct{ what, name string }{{"sticky header", c.Sticky.Header}, {"candidate header", c.CandidateHeader}} {
		if h.name == "" {
			continue
		}
		if err := CheckRouteHeader(h.name); err != nil {
			problems = append(problems, h.what+" "+err.Error())
		}
	}
	if h := c.CandidateHeader; h != "" && http.CanonicalHeaderKey(h) == http.CanonicalHeaderKey(c.Sticky.Header) {
		problems = append(problems, fmt.Sprintf("candidate header %q is the sticky header too: a client's identity would send it to the candidate", h))
	}
	if ck := c.Sticky.Cookie; ck != "" && (&http.Cookie{Name: ck, Value: "x"}).Valid() != nil {
		problems = append(problems, fmt.Sprintf("sticky cookie %q is not a cookie name", ck))
	}
	duration := func(name string, d *time.Duration, def time.Duration) {
		switch {
		case *d < 0:
			problems = append(problems, fmt.Sprintf("%s %s is negative", name, *d))
		case *d == 0:
			*d = def
		}
	}
	duration("timeout", &c.Timeout, DefaultTimeout)
	duration("cool-off", &c.CoolOff, DefaultCoolOff)
	duration("maximum cool-off", &c.MaxCoolOff, max(DefaultMaxCoolOff, c.CoolOff))
	duration("health interval", &c.HealthInterval, DefaultHealthInterval)
	duration("health timeout", &c.HealthTimeout, DefaultHealthTimeout)
	duration("shadow timeout", &c.Shadow.Timeout, DefaultShadowTimeout)
	if c.MaxCoolOff < c.CoolOff {
		problems = append(problems, fmt.Sprintf("maximum cool-off %s is shorter than the cool-off %s", c.MaxCoolOff, c.CoolOff))
	}
	switch {
	case c.FailureThreshold < 0:
		problems = append(problems, fmt.Sprintf("failure threshold %d is negative", c.FailureThreshold))
	case c.FailureThreshold == 0:
		c.FailureThreshold = DefaultFailureThreshold
	}
	if p := c.HealthPath; p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#")) {
		problems = append(problems, fmt.Sprintf("health path %q: want an absolute path without query", p))
	}
	switch {
	case c.Shadow.MaxConcurrent < 0:
		problems = append(problems, fmt.Sprintf("shadow concurrency %d is negative", c.Shadow.MaxConcurrent))
	case c.Shadow.MaxConcurrent == 0:
		c.Shadow.MaxConcurrent = DefaultShadowMaxConcurrent
	}
	switch {
	case c.Shadow.MaxBody < 0:
		problems = append(problems, fmt.Sprintf("shadow body limit %d is negative", c.Shadow.MaxBody))
	case c.Shadow.MaxBody == 0:
		c.Shadow.MaxBody = DefaultShadowMaxBody
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if len(problems) > 0 {
		return promote.Errorf(promote.Invalid, "traffic splitter configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Splitter is a reverse proxy that divides one model's requests in one
// environment between a stable and a canary backend by weight, mirrors a
// share of them to a shadow backend, and counts what each backend answers
// (see the package doc). Its methods may be called from several goroutines;
// the backends and weights change at run time without disturbing requests
// in flight.
type Splitter struct {
	cfg       Config
	log       *slog.Logger
	metrics   *Metrics
	tracks    [4]*trackMetrics // by trackIndex; pinned only with CandidateHeader
	shadowM   *shadowMetrics
	transport http.RoundTripper
	owned     *http.Transport      // the default transport, when New made it
	pools     map[string]*connPool // the fast path's, by backend host; under mu
	stickyKey string               // Sticky.Header, canonical
	pinKey    string               // CandidateHeader, canonical
	drop      map[string]bool      // DropResponseFields, canonical
	salt      uint64               // the sticky hash's state after the model and env
	seed      maphash.Seed         // of the body hashes that shadow comparisons compare

	// routes is read by every request with one atomic load; writers
	// replace it whole, taking mu.
	routes atomic.Pointer[routes]
	mu     sync.Mutex // serializes writers of routes and the gauges they set
	// judge is the attached Judge (SetJudge), nil without one: a request
	// without one pays a single atomic load for it.
	judge atomic.Pointer[judging]

	sem chan struct{} // a token per mirrored request in flight
	// copying is the bytes of request bodies copied for mirrors while
	// they stream in (tee), at most copyBudget: Shadow.MaxConcurrent
	// bodies of Shadow.MaxBody, however many requests carry one.
	copying    atomic.Int64
	copyBudget int64
	closed     atomic.Bool
	done       chan struct{} // closed by Close
	closeOnce  sync.Once
	mirrors    sync.WaitGroup
}

// routes is what the requests read: immutable once stored.
type routes struct {
	stable, canary, shadow *backend
	weight, share          float64
	// unpinned: the candidate header reaches no candidate (SetPinned).
	unpinned bool
}

func trackIndex(t Track) int {
	switch t {
	case TrackCanary:
		return 1
	case TrackShadow:
		return 2
	case TrackPinned:
		return 3
	default:
		return 0
	}
}

// New returns a splitter for cfg. It serves 503 until SetStable names a
// stable backend.
func New(cfg Config) (*Splitter, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m := cfg.Metrics
	if m == nil {
		var err error
		if m, err = NewMetrics(cfg.Registry); err != nil {
			return nil, fmt.Errorf("traffic splitter for %s in %s: %w", cfg.Model, cfg.Env, err)
		}
	}
	s := &Splitter{
		cfg:       cfg,
		log:       cfg.Logger.With(slog.String(attrModel, cfg.Model), slog.String(attrEnv, cfg.Env)),
		metrics:   m,
		shadowM:   m.shadow(cfg.Model, cfg.Env),
		transport: cfg.Transport,
		salt:      fnv1a(fnv1a(fnvOffset, cfg.Model), "\x00"+cfg.Env+"\x00"),
		seed:      maphash.MakeSeed(),
		sem:       make(chan struct{}, cfg.Shadow.MaxConcurrent),
		// Saturated rather than overflowed for a huge MaxBody.
		copyBudget: min(cfg.Shadow.MaxBody, math.MaxInt64/int64(cfg.Shadow.MaxConcurrent)) * int64(cfg.Shadow.MaxConcurrent),
		done:       make(chan struct{}),
	}
	if cfg.Sticky.Header != "" {
		s.stickyKey = http.CanonicalHeaderKey(cfg.Sticky.Header)
	}
	for _, t := range []Track{TrackStable, TrackCanary, TrackShadow} {
		s.tracks[trackIndex(t)] = m.track(cfg.Model, cfg.Env, t)
	}
	if cfg.CandidateHeader != "" {
		// Its series exist only where the header routes, at 0 from now.
		s.pinKey = http.CanonicalHeaderKey(cfg.CandidateHeader)
		s.tracks[trackIndex(TrackPinned)] = m.track(cfg.Model, cfg.Env, TrackPinned)
	}
	if s.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 1024
		t.MaxIdleConnsPerHost = 256
		s.transport, s.owned = t, t
	}
	if len(cfg.DropResponseFields) > 0 {
		s.drop = map[string]bool{}
		for _, f := range cfg.DropResponseFields {
			s.drop[http.CanonicalHeaderKey(f)] = true
		}
		s.transport = dropFields{next: s.transport, drop: s.drop}
	}
	s.routes.Store(&routes{})
	m.weight.With(cfg.Model, cfg.Env).Set(0)
	return s, nil
}

// SetStable makes b the stable backend. Setting the backend that is already
// stable (same version and URL) changes nothing, its health included.
func (s *Splitter) SetStable(b Backend) error {
	if err := b.validate(); err != nil {
		return fmt.Errorf("set the stable backend of %s in %s: %w", s.cfg.Model, s.cfg.Env, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := *s.routes.Load()
	if rt.stable != nil && rt.stable.same(b) {
		return nil
	}
	rt.stable = s.newBackend(TrackStable, b)
	s.store(&rt, TrackStable)
	s.log.Info("traffic: stable backend set", slog.String(attrVersion, b.Version), slog.String(attrEndpoint, b.URL.Redacted()))
	return nil
}

// SetCanary makes b the canary backend with weight, the share of requests
// (0 to 1, in steps as fine as wanted) it receives; nil removes the canary,
// whatever weight. Setting the backend that is already the canary only
// changes the weight. A weight above 0 is a Conflict while a tripped judge
// is attached (SetJudge).
func (s *Splitter) SetCanary(b *Backend, weight float64) error {
	return s.setCanary(b, weight, false)
}

// MoveCanary makes b the canary backend at the weight the canary has when
// it is set (0 without a canary): a candidate whose endpoint moved keeps
// its share, read and written under one lock, so that a judge tripping
// meanwhile is never written over nor makes the move fail.
func (s *Splitter) MoveCanary(b *Backend) error {
	if b == nil {
		return fmt.Errorf("move the canary of %s in %s: no backend", s.cfg.Model, s.cfg.Env)
	}
	return s.setCanary(b, 0, true)
}

// setCanary is SetCanary, or MoveCanary when keep is true (weight is then
// the canary's current one).
func (s *Splitter) setCanary(b *Backend, weight float64, keep bool) error {
	if b == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		rt := *s.routes.Load()
		if rt.canary == nil {
			return nil
		}
		old := rt.canary
		rt.canary, rt.weight, rt.unpinned = nil, 0, false
		s.store(&rt, TrackCanary)
		s.log.Info("traffic: canary removed", slog.String(attrVersion, old.Version))
		return nil
	}
	if err := checkShare("weight", weight); err != nil {
		return fmt.Errorf("set the canary of %s in %s: %w", s.cfg.Model, s.cfg.Env, err)
	}
	if err := b.validate(); err != nil {
		return fmt.Errorf("set the canary of %s in %s: %w", s.cfg.Model, s.cfg.Env, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := *s.routes.Load()
	if keep {
		weight = rt.weight
	}
	if err := s.checkTripped("set the canary", weight); err != nil {
		return err
	}
	if rt.canary == nil || rt.canary.Version != b.Version {
		rt.unpinned = false // another candidate, another rollout
	}
	if rt.canary == nil || !rt.canary.same(*b) {
		rt.canary = s.newBackend(TrackCanary, *b)
		s.log.Info("traffic: canary backend set", slog.String(attrVersion, b.Version), slog.String(attrEndpoint, b.URL.Redacted()),
			slog.Float64(attrWeight, weight))
	} else if rt.weight != weight {
		s.log.Info("traffic: canary weight set", slog.String(attrVersion, b.Version), slog.Float64(attrWeight, weight))
	}
	rt.weight = weight
	s.store(&rt, TrackCanary)
	return nil
}

// SetWeight sets the canary's share of requests (0 to 1). Without a canary,
// or while a tripped judge is attached (SetJudge), only 0 is accepted.
func (s *Splitter) SetWeight(weight float64) error {
	if err := checkShare("weight", weight); err != nil {
		return fmt.Errorf("set the canary weight of %s in %s: %w", s.cfg.Model, s.cfg.Env, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkTripped("set the canary weight", weight); err != nil {
		return err
	}
	rt := *s.routes.Load()
	if rt.canary == nil {
		if weight == 0 {
			return nil
		}
		return promote.Errorf(promote.Conflict, "set the canary weight of %s in %s to %g: there is no canary", s.cfg.Model, s.cfg.Env, weight)
	}
	if rt.weight == weight {
		return nil
	}
	rt.weight = weight
	s.store(&rt, TrackCanary)
	s.log.Info("traffic: canary weight set", slog.String(attrVersion, rt.canary.Version), slog.Float64(attrWeight, weight))
	return nil
}

// SetShadow makes b the shadow backend, to which share (0 to 1) of the
// requests are mirrored; nil removes the shadow, whatever share.
func (s *Splitter) SetShadow(b *Backend, share float64) error {
	if b != nil {
		if err := checkShare("share", share); err != nil {
			return fmt.Errorf("set the shadow of %s in %s: %w", s.cfg.Model, s.cfg.Env, err)
		}
		if err := b.validate(); err != nil {
			return fmt.Errorf("set the shadow of %s in %s: %w", s.cfg.Model, s.cfg.Env, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := *s.routes.Load()
	switch {
	case b == nil && rt.shadow == nil:
		return nil
	case b == nil:
		s.log.Info("traffic: shadow removed", slog.String(attrVersion, rt.shadow.Version))
		rt.shadow, rt.share = nil, 0
	case rt.shadow == nil || !rt.shadow.same(*b):
		rt.shadow = s.newBackend(TrackShadow, *b)
		s.log.Info("traffic: shadow backend set", slog.String(attrVersion, b.Version), slog.String(attrEndpoint, b.URL.Redacted()),
			slog.Float64(attrShare, share))
		rt.share = share
	default:
		if rt.share != share {
			s.log.Info("traffic: shadow share set", slog.String(attrVersion, b.Version), slog.Float64(attrShare, share))
		}
		rt.share = share
	}
	s.store(&rt, TrackShadow)
	return nil
}

// SetPinned says whether requests carrying Config.CandidateHeader reach
// the candidate (true, as at the start) or are placed as any other
// (false): a rollout that failed, was aborted or was paused with all its
// traffic on stable closes the route at once, rather than when the
// candidate is removed, as Argo Rollouts and Flagger drop a header route
// on abort. A canary of another version, and the canary's removal, open
// it again.
func (s *Splitter) SetPinned(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := *s.routes.Load()
	if rt.unpinned == !on {
		return
	}
	rt.unpinned = !on
	s.routes.Store(&rt)
	if s.pinKey != "" {
		s.log.Info("traffic: candidate header route set", slog.Bool(attrOpen, on))
	}
}

// Weights returns the canary's share of requests as set (0 without a
// canary). While the canary is ejected it actually gets none.
func (s *Splitter) Weights() (canary float64) {
	return s.routes.Load().weight
}

func checkShare(what string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return promote.Errorf(promote.Invalid, "%s %g is not between 0 and 1", what, v)
	}
	return nil
}

// store publishes rt and sets the gauges of the track that changed. It is
// called with mu held.
func (s *Splitter) store(rt *routes, changed Track) {
	s.routes.Store(rt)
	s.prunePools(rt)
	if s.closed.Load() {
		return // Close removed the series
	}
	s.metrics.weight.With(s.cfg.Model, s.cfg.Env).Set(rt.weight)
	s.setHealthGauge(rt, changed)
}

// setHealthGauge sets track's health gauge from its current backend, or
// removes the series when the track has none. It is called with mu held.
func (s *Splitter) setHealthGauge(rt *routes, track Track) {
	if s.closed.Load() {
		return // Close removed the series
	}
	b := rt.backend(track)
	if b == nil {
		s.metrics.healthy.Delete(s.cfg.Model, s.cfg.Env, string(track))
		return
	}
	v := 1.0
	if b.down.Load() {
		v = 0
	}
	s.metrics.healthy.With(s.cfg.Model, s.cfg.Env, string(track)).Set(v)
}

func (rt *routes) backend(t Track) *backend {
	switch t {
	case TrackStable:
		return rt.stable
	case TrackCanary:
		return rt.canary
	case TrackShadow:
		return rt.shadow
	}
	return nil
}

// backend is a Backend in a track, with its proxy, its metrics and its
// health.
type backend struct {
	Backend
	track      Track
	tm         *trackMetrics
	proxy      *httputil.ReverseProxy
	hdrTrack   []string // HeaderTrack's value, shared by every response
	hdrVersion []string // HeaderVersion's value, likewise
	// pool keeps the fast path's connections to the backend (Server); nil
	// when the fast path does not reach it (a transport given in Config,
	// https, a proxy from the environment).
	pool *connPool
	health
}

func (s *Splitter) newBackend(t Track, b Backend) *backend {
	u := *b.URL
	if u.Path != "" && !strings.HasPrefix(u.Path, "/") {
		u.Path, u.RawPath = "/"+u.Path, "" // as url.URL.JoinPath leaves it
	}
	b.URL = &u // the caller's URL may change after this
	be := &backend{
		Backend:    b,
		track:      t,
		tm:         s.tracks[trackIndex(t)],
		hdrTrack:   []string{string(t)},
		hdrVersion: []string{b.Version},
		pool:       s.poolFor(&u),
	}
	be.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(be.URL)
			pr.SetXForwarded()
			// Only a mirror says its answer goes nowhere (startMirror).
			delete(pr.Out.Header, HeaderShadow)
		},
		Transport:  s.transport,
		BufferPool: buffers{},
		ErrorLog:   slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ModifyResponse: func(resp *http.Response) error {
			resp.Header[HeaderTrack] = be.hdrTrack
			resp.Header[HeaderVersion] = be.hdrVersion
			if resp.StatusCode == http.StatusSwitchingProtocols {
				if upgraded, ok := resp.Request.Context().Value(upgradeKey{}).(func()); ok {
					upgraded()
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.proxyError(be, w, r, err)
		},
	}
	return be
}

// ServeHTTP proxies r to the stable or the canary backend, and mirrors it
// to the shadow backend when chosen to (see the package doc). The request's
// path and query are joined to the backend's URL as they are: a router in
// front strips its own prefix.
func (s *Splitter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := s.routes.Load()
	if rt.stable == nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("%s in %s has no stable backend yet", s.cfg.Model, s.cfg.Env))
		return
	}
	b, setCookie := s.pick(rt, r)
	tm := b.tm
	pinned := s.pinned(rt, r)
	if pinned != nil {
		b, setCookie, tm = pinned, "", s.tracks[trackIndex(TrackPinned)]
	}
	start := time.Now()
	rec := recorders.Get().(*recorder)
	rec.w, rec.setCookie, rec.drop = w, setCookie, s.drop
	var ctx context.Context
	if r.Header.Get("Upgrade") == "" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
	} else {
		// A protocol upgrade (a WebSocket) is bounded until the backend
		// switches protocols; the connection then lasts as long as its
		// ends want (ModifyResponse stops the timer).
		c, cancel := context.WithCancelCause(r.Context())
		timer := time.AfterFunc(s.cfg.Timeout, func() { cancel(context.DeadlineExceeded) })
		defer func() { timer.Stop(); cancel(nil) }()
		ctx = context.WithValue(c, upgradeKey{}, func() { timer.Stop(); rec.upgradedAt = time.Now() })
	}
	out := r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		up := &upload{ReadCloser: r.Body, stall: func() { http.NewResponseController(w).SetReadDeadline(time.Now()) }}
		rec.upload, out.Body = up, up
		defer context.AfterFunc(ctx, up.deadline)()
	}
	var m *mirror
	if pinned == nil && rt.shadow != nil && rt.share > 0 && (rt.share >= 1 || s.cfg.Rand() < rt.share) {
		m = s.startMirror(rt.shadow, r, out)
	}
	if m != nil && s.cfg.Shadow.CompareBodies {
		rec.hashing, rec.max = true, s.cfg.Shadow.MaxBody
		rec.hash.SetSeed(s.seed)
	}
	completed := false
	defer func() { s.finish(ctx, b, tm, pinned != nil, rec, m, start, completed) }()
	b.proxy.ServeHTTP(rec, out)
	completed = true
}

// pick chooses the backend for a request: by its point against the canary
// weight, then by health. setCookie is a sticky cookie for the response
// (stickyPoint).
func (s *Splitter) pick(rt *routes, r *http.Request) (b *backend, setCookie string) {
	stable, canary := rt.stable, rt.canary
	if canary == nil {
		return stable, ""
	}
	var p float64 // the request's point in [0, 1): canary below the weight
	switch {
	case s.stickyKey != "" || s.cfg.Sticky.Cookie != "":
		p, setCookie = s.stickyPoint(r)
	case rt.weight > 0 && rt.weight < 1:
		p = s.cfg.Rand()
	}
	chosen, other := stable, canary
	if p < rt.weight {
		chosen, other = canary, stable
	}
	switch {
	case s.up(chosen):
		return chosen, setCookie
	case rt.weight > 0 && s.up(other):
		// The ejected track's share goes to the other; a canary at weight
		// 0 is not ready to take the stable's.
		return other, setCookie
	default:
		return stable, setCookie // neither is up: keep trying stable
	}
}

// pinned returns the candidate a request asks for with CandidateHeader
// (value 1 or true): the shadow while one is set, or else the canary,
// whatever its weight; nil when it does not ask, no candidate is
// deployed, or SetPinned closed the route. A shadow rollout deploys its candidate as the canary at
// weight 0 and mirrors to it as the shadow: the answer then says shadow,
// the part the candidate plays. The candidate answers whatever its
// health: the person asked for it, and stable's answer would tell them
// nothing of it.
func (s *Splitter) pinned(rt *routes, r *http.Request) *backend {
	if s.pinKey == "" {
		return nil
	}
	v := r.Header[s.pinKey]
	if len(v) == 0 {
		return nil
	}
	if w := strings.TrimSpace(v[0]); w != "1" && !strings.EqualFold(w, "true") {
		return nil
	}
	if rt.unpinned {
		return nil
	}
	if rt.shadow != nil {
		return rt.shadow
	}
	return rt.canary
}

// finish accounts for a proxied request once its response is complete, or
// once the proxy gave up on it (a panic with http.ErrAbortHandler when
// the body broke off): on tm, the metrics of the track it counts on, and,
// unless the candidate header pinned it, in b's passive health. A
// person's requests are no evidence either way: their failures must not
// take the candidate out of the real traffic, nor their successes end the
// count of the real traffic's failures.
func (s *Splitter) finish(ctx context.Context, b *backend, tm *trackMetrics, pinned bool, rec *recorder, m *mirror, start time.Time, completed bool) {
	elapsed := time.Since(start).Seconds()
	if !rec.upgradedAt.IsZero() {
		// Switched protocols: the backend answered then, and the
		// connection's life is not its latency.
		elapsed, rec.status = rec.upgradedAt.Sub(start).Seconds(), http.StatusSwitchingProtocols
	}
	o, gone := rec.outcome, false
	switch cause := context.Cause(ctx); {
	case rec.failed:
		gone = o == outcomeClientError
	case !rec.upgradedAt.IsZero():
		o = outcomeOK // however the upgraded connection ended
	case errors.Is(cause, context.DeadlineExceeded):
		// Past the deadline the body was cut off, whatever status went
		// out first.
		o = outcomeTimeout
	case cause != nil:
		o, gone = outcomeClientError, true
	case !completed:
		o = outcomeConnectionError // the backend broke off its body
	default:
		o = outcomeOf(rec.status)
	}
	s.account(b, tm, pinned, o, gone, elapsed)
	if m != nil {
		if m.copy != nil {
			m.copy.abandon() // a body not read to its end is not mirrored
		}
		m.failed = o.failure() || gone
		m.status = rec.status
		if rec.hashing {
			m.sum, m.over = rec.hash.Sum64(), rec.n > s.cfg.Shadow.MaxBody
		}
		close(m.done)
	}
	rec.reset()
	recorders.Put(rec)
}

// proxyError answers a request whose backend did not answer: 504 for a
// timeout, 502 for anything else, nothing for a client that went away, and
// 408 for a client still sending its body at the deadline (its fault, not
// the backend's: it counts as a client error).
func (s *Splitter) proxyError(b *backend, w http.ResponseWriter, r *http.Request, err error) {
	rec, _ := w.(*recorder)
	o, slow := outcomeConnectionError, false
	switch cause := context.Cause(r.Context()); {
	case errors.Is(cause, context.DeadlineExceeded) || isTimeout(err):
		o = outcomeTimeout
		if rec != nil && rec.upload != nil && rec.upload.slow.Load() {
			o, slow = outcomeClientError, true
		}
	case cause != nil:
		o = outcomeClientError // the client went away: nobody to answer
	}
	if rec != nil {
		rec.failed, rec.outcome = true, o
	}
	h := w.Header()
	h[HeaderTrack] = b.hdrTrack
	h[HeaderVersion] = b.hdrVersion
	switch o {
	case outcomeClientError:
		if slow {
			// The connection closes after the answer: net/http would
			// otherwise read the rest of the body first, which a
			// stalled client may never send, and the answer with it.
			h.Set("Connection", "close")
			writeError(w, http.StatusRequestTimeout, fmt.Sprintf("the request body did not arrive within %s", s.cfg.Timeout))
		}
	case outcomeTimeout:
		writeError(w, http.StatusGatewayTimeout, fmt.Sprintf("the %s backend of %s in %s (version %s) did not answer within %s",
			b.track, s.cfg.Model, s.cfg.Env, b.Version, s.cfg.Timeout))
	default:
		writeError(w, http.StatusBadGateway, fmt.Sprintf("the %s backend of %s in %s (version %s) did not answer: %v",
			b.track, s.cfg.Model, s.cfg.Env, b.Version, err))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// recorder is the ResponseWriter the proxy writes through: it notes the
// status, and hashes the body for a shadow comparison. Recorders are
// pooled, so that a request allocates none.
type recorder struct {
	w          http.ResponseWriter
	setCookie  string          // a Set-Cookie value for the final header, once
	upload     *upload         // the request body, when there is one
	upgradedAt time.Time       // when the backend switched protocols
	drop       map[string]bool // the splitter's DropResponseFields
	status     int
	failed     bool    // the proxy's ErrorHandler ran
	outcome    outcome // when failed
	hashing    bool
	hash       maphash.Hash
	n          int64 // body bytes written, when hashing
	max        int64 // Shadow.MaxBody
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func (rec *recorder) reset() {
	rec.w, rec.setCookie, rec.upload, rec.upgradedAt, rec.drop = nil, "", nil, time.Time{}, nil
	rec.status, rec.failed, rec.outcome, rec.hashing, rec.n = 0, false, outcomeOK, false, 0
}

// Header implements http.ResponseWriter.
func (rec *recorder) Header() http.Header { return rec.w.Header() }

// WriteHeader implements http.ResponseWriter, noting the final status
// (not a 1xx, except 101 Switching Protocols). A 1xx the backend sent
// goes on without the splitter's fields (splitterField).
func (rec *recorder) WriteHeader(code int) {
	if code < 200 && code != http.StatusSwitchingProtocols {
		h := rec.w.Header()
		for k := range h {
			if splitterField(k, rec.drop) {
				delete(h, k)
			}
		}
	}
	if rec.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rec.status = code
		if rec.setCookie != "" {
			rec.w.Header().Add("Set-Cookie", rec.setCookie)
		}
	}
	rec.w.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.hashing {
		// Past the limit the bodies are not compared: stop hashing.
		if rec.n += int64(len(p)); rec.n <= rec.max {
			rec.hash.Write(p)
		}
	}
	return rec.w.Write(p)
}

// Flush implements http.Flusher.
func (rec *recorder) Flush() {
	if f, ok := rec.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the ResponseWriter underneath, for
// http.ResponseController (hijacking for protocol upgrades, deadlines).
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.w }

// upgradeKey is the context key of a protocol upgrade's callback, which
// ModifyResponse calls when the backend switches protocols.
type upgradeKey struct{}

// upload is a request body that tells, at a timeout, a client still
// sending it (a read in progress, waiting for the client) from a backend
// that does not take it (no read in progress: the transport waits to
// write). The state is taken when the request's context ends (deadline),
// because the transport returns only once its read has returned: a read
// waiting then is ended (stall), or a client that stalls for good would
// hold the request, and its answer, for good. It is not pooled: the
// transport may read it after the request is done.
type upload struct {
	io.ReadCloser
	stall   func() // ends the read waiting for the client
	reading atomic.Bool
	slow    atomic.Bool // a read was waiting for the client when the context ended
}

func (u *upload) deadline() {
	if u.reading.Load() {
		u.slow.Store(true)
		u.stall()
	}
}

// Read implements io.Reader.
func (u *upload) Read(p []byte) (int, error) {
	u.reading.Store(true)
	defer u.reading.Store(false)
	return u.ReadCloser.Read(p)
}

// splitterField reports whether a backend's field k is one the splitter
// sets itself (Promote-Track, Promote-Version) or drops (drop, its
// DropResponseFields): a model server's own never reaches the client, on
// a final answer (ModifyResponse, dropFields) or a 1xx.
func splitterField(k string, drop map[string]bool) bool {
	return k == HeaderTrack || k == HeaderVersion || drop[k]
}

// dropFields carries the proxied requests with next and drops the
// answers' fields of Config.DropResponseFields.
type dropFields struct {
	next http.RoundTripper
	drop map[string]bool
}

// RoundTrip implements http.RoundTripper.
func (t dropFields) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if resp != nil {
		for k := range t.drop {
			delete(resp.Header, k)
		}
	}
	return resp, err
}

// buffers pools the proxy's copy buffers, which would otherwise be 32 KiB
// allocated per request.
type buffers struct{}

var bufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Get implements httputil.BufferPool.
func (buffers) Get() []byte { return *bufferPool.Get().(*[]byte) }

// Put implements httputil.BufferPool.
func (buffers) Put(b []byte) { bufferPool.Put(&b) }

// errorBody is the JSON body of an error response, the same shape as the
// REST API's and the agent's: {"error": {"code": "...", "message": "..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    promote.Code `json:"code"`
	Message string       `json:"message"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(errorJSON(msg))
}

// errorJSON is the body of an error response with msg, ending in a
// newline.
func errorJSON(msg string) []byte {
	body, err := json.MarshalIndent(errorBody{Error: errorDetail{Code: promote.Internal, Message: msg}}, "", "  ")
	if err != nil {
		body = []byte(`{"error": {"code": "internal", "message": "encode the response"}}`)
	}
	return append(body, '\n')
}

// Log attribute keys.
const (
	attrModel    = "model"
	attrEnv      = "env"
	attrVersion  = "version"
	attrTrack    = "track"
	attrWeight   = "weight"
	attrShare    = "share"
	attrEndpoint = "endpoint"
	attrError    = "error"
	attrCoolOff  = "cool_off"
	attrStatus   = "status"
	attrResult   = "result"
	attrPrimary  = "primary_status"
	attrOpen     = "open"
)
