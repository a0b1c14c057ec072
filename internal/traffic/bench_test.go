package traffic

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/telemetry"
)

// BenchmarkSplitter compares a request sent to a model server directly with
// one sent through the splitter, both over loopback in process, reporting
// allocations and the p50 and p99 latency of a request. The "handler"
// cases call ServeHTTP without a front server, to show what the splitter
// itself allocates (the proxy's outbound request included), and
// "reverseproxy" is a bare httputil.ReverseProxy, the floor. The "server"
// cases serve the splitter through a Server (its fast path), as the agent
// does. A "-judge" case has a Judge attached that never trips, for what
// the hook costs a request (SetJudge). The figures
// that count are wrk's against nginx on loopback; these are for spotting
// regressions.
func BenchmarkSplitter(b *testing.B) {
	payload := []byte(`{"score":0.73,"label":"approve"}`)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(payload)
	}))
	defer backend.Close()
	_, stable := backendServerURL(b, "v1", backend.URL)
	_, canary := backendServerURL(b, "v2", backend.URL)

	newSplitter := func(b *testing.B, weight float64, sticky Sticky, judged bool) *Splitter {
		s, err := New(Config{Model: "m", Env: "prod", Registry: telemetry.NewRegistry(), Sticky: sticky})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if err := s.SetStable(stable); err != nil {
			b.Fatal(err)
		}
		if weight > 0 {
			if err := s.SetCanary(&canary, weight); err != nil {
				b.Fatal(err)
			}
		}
		if judged {
			s.SetJudge(noopJudge{})
		}
		return s
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	defer client.CloseIdleConnections()
	get := func(b *testing.B, u string) {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s = %d", u, resp.StatusCode)
		}
	}
	viaFront := func(b *testing.B, h http.Handler) string {
		front := httptest.NewServer(h)
		b.Cleanup(front.Close)
		return front.URL + "/predict"
	}
	viaServer := func(b *testing.B, s *Splitter) string {
		// Every request is plain: one the fallback serves is a mistake.
		fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.Errorf("%s %s left the fast path", r.Method, r.URL)
			s.ServeHTTP(w, r)
		})
		srv := &Server{Fallback: &http.Server{Handler: fallback}, Route: func(r *http.Request) (Route, bool) {
			return Route{Splitter: s, URL: r.URL}, true
		}}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
		return "http://" + ln.Addr().String() + "/predict"
	}

	for _, bc := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"direct", func(b *testing.B) string { return backend.URL + "/predict" }},
		// The bare standard library proxy, for what the splitter adds to it.
		{"reverseproxy", func(b *testing.B) string {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = 256
			b.Cleanup(t.CloseIdleConnections)
			p := httputil.NewSingleHostReverseProxy(stable.URL)
			p.Transport = t
			return viaFront(b, p)
		}},
		{"splitter/stable", func(b *testing.B) string { return viaFront(b, newSplitter(b, 0, Sticky{}, false)) }},
		{"splitter/canary10", func(b *testing.B) string { return viaFront(b, newSplitter(b, 0.1, Sticky{}, false)) }},
		{"splitter/canary10-judge", func(b *testing.B) string { return viaFront(b, newSplitter(b, 0.1, Sticky{}, true)) }},
		{"server/canary10", func(b *testing.B) string { return viaServer(b, newSplitter(b, 0.1, Sticky{}, false)) }},
		{"server/canary10-judge", func(b *testing.B) string { return viaServer(b, newSplitter(b, 0.1, Sticky{}, true)) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			u := bc.url(b)
			get(b, u) // warm the connections
			lat := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				get(b, u)
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(start))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			u := bc.url(b)
			get(b, u)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, u)
				}
			})
		})
	}

	for _, bc := range []struct {
		name   string
		weight float64
		sticky Sticky
		judged bool
	}{
		{"handler/stable", 0, Sticky{}, false},
		{"handler/canary10", 0.1, Sticky{}, false},
		{"handler/canary10-judge", 0.1, Sticky{}, true},
		{"handler/canary10-sticky", 0.1, Sticky{Header: "X-Client-Id"}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := newSplitter(b, bc.weight, bc.sticky, bc.judged)
			r := httptest.NewRequest(http.MethodGet, "/predict", nil)
			r.Header.Set("X-Client-Id", "client-42")
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				s.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// backendServerURL is backendServer's Backend for a server already running.
func backendServerURL(tb testing.TB, version, raw string) (string, Backend) {
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return raw, Backend{Version: version, URL: u}
}

// noopJudge is a Judge that never trips.
type noopJudge struct{}

func (noopJudge) Canary(bool, float64) bool { return false }
func (noopJudge) Stable(bool, float64)      {}

// discard is a ResponseWriter that keeps only the status.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.status = code }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
