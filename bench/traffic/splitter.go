package traffic

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/promote-ml/promote/internal/telemetry"
	splitter "github.com/promote-ml/promote/internal/traffic"
)

// The model and environment the benchmark's splitter routes, and the
// versions of its two backends.
const (
	Model         = "bench"
	Env           = "prod"
	StableVersion = "1"
	CanaryVersion = "2"
)

// MetricsPath is where SplitterHandler serves the registry's metrics. Like
// the agent's /-/status, it starts with "-" so that no model path takes it.
const MetricsPath = "/-/metrics"

// SplitterConfig is what NewSplitter needs.
type SplitterConfig struct {
	// Stable and Canary are the backends' base URLs (Canary may be nil:
	// no canary).
	Stable, Canary *url.URL
	// Weight is the canary's share of requests, 0 to 1.
	Weight float64
	// Registry receives the splitter's metrics.
	Registry *telemetry.Registry
	// Rand, when set, replaces the splitter's random source (tests seed
	// it); it must be safe for concurrent use.
	Rand func() float64
}

// NewSplitter returns a splitter with the default configuration, as promote
// would run it, routing between cfg's stable and canary backends.
func NewSplitter(cfg SplitterConfig) (*splitter.Splitter, error) {
	s, err := splitter.New(splitter.Config{Model: Model, Env: Env, Registry: cfg.Registry, Rand: cfg.Rand})
	if err != nil {
		return nil, err
	}
	if err := s.SetStable(splitter.Backend{Version: StableVersion, URL: cfg.Stable}); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Canary != nil {
		if err := s.SetCanary(&splitter.Backend{Version: CanaryVersion, URL: cfg.Canary}, cfg.Weight); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// NewRegistry returns the registry promote serve makes: the Go runtime's
// and the process's metrics, to which a splitter adds its own.
func NewRegistry() (*telemetry.Registry, error) {
	reg := telemetry.NewRegistry()
	return reg, telemetry.RegisterRuntime(reg)
}

// SplitterHandler serves s at every path and g's metrics at MetricsPath,
// through a ServeMux as a server in front of a splitter would.
func SplitterHandler(s http.Handler, reg *telemetry.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, reg.Handler(nil))
	mux.Handle("/", s)
	return mux
}

// ParseBackendURL parses a backend's base URL given on a command line.
func ParseBackendURL(flag, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %q: want an http:// URL with a host", flag, raw)
	}
	return u, nil
}

// NewServer returns the fast-path server promote's agent runs, in front of
// fallback (whose handler is SplitterHandler's): every request but the
// metrics' goes to s.
func NewServer(fallback *http.Server, s *splitter.Splitter) *splitter.Server {
	return &splitter.Server{Fallback: fallback, Route: func(r *http.Request) (splitter.Route, bool) {
		if r.URL.Path == MetricsPath {
			return splitter.Route{}, false
		}
		return splitter.Route{Splitter: s, URL: r.URL}, true
	}}
}
