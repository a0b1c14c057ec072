package traffic

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/telemetry"
)

func comparisons(t *testing.T, g *telemetry.Registry) map[Result]float64 {
	t.Helper()
	got := map[Result]float64{}
	for _, r := range results {
		if v, _ := metric(t, g, MetricShadowComparisons, map[string]string{LabelModel: "m", LabelEnv: "prod", LabelResult: string(r)}); v != 0 {
			got[r] = v
		}
	}
	return got
}

func TestShadowShare(t *testing.T) {
	var mirrored atomic.Int64
	_, stable := backendServer(t, "v1", nil)
	_, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderShadow) != "1" {
			t.Errorf("a mirrored request without %s: 1", HeaderShadow)
		}
		mirrored.Add(1)
		w.Write([]byte("v1"))
	})
	s, reg := newSplitter(t, Config{Rand: seeded(8), Shadow: ShadowConfig{CompareBodies: true}})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 0.25); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	got := tracks(t, s, n)
	s.Close() // waits for the mirrors
	if got["stable"] != n {
		t.Errorf("tracks = %v, want %d stable: the shadow never answers a client", got, n)
	}
	share := float64(mirrored.Load()) / n
	if share < 0.22 || share > 0.28 {
		t.Errorf("mirrored %d of %d requests (%.3f), want 0.25 ± 0.03", mirrored.Load(), n, share)
	}
	want := map[Result]float64{ResultMatch: float64(mirrored.Load())}
	if diff := cmp.Diff(want, comparisons(t, reg)); diff != "" {
		t.Errorf("comparisons (-want +got):\n%s", diff)
	}
	if v := requests(t, reg, TrackShadow, OutcomeOK); v != float64(mirrored.Load()) {
		t.Errorf("shadow ok requests = %v, want %d", v, mirrored.Load())
	}
	if v, _ := metric(t, reg, MetricRequestDuration, map[string]string{LabelTrack: "shadow"}); v != float64(mirrored.Load()) {
		t.Errorf("shadow duration samples = %v, want %d", v, mirrored.Load())
	}
	// After Close, requests are still served, and never mirrored.
	before := mirrored.Load()
	tracks(t, s, 50)
	if mirrored.Load() != before {
		t.Errorf("mirrored %d requests after Close", mirrored.Load()-before)
	}
	if v, _ := metric(t, reg, MetricShadowDropped, map[string]string{LabelModel: "m"}); v != 0 {
		t.Errorf("dropped = %v after Close, want 0", v)
	}
}

func TestShadowNeverDelaysTheClient(t *testing.T) {
	entered := make(chan string, 1)
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	})
	_, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		entered <- string(body)
		select {
		case <-release: // stands for a shadow that takes 2 s, or forever
		case <-r.Context().Done():
		}
		w.Write(body)
	})
	s, reg := newSplitter(t, Config{Shadow: ShadowConfig{CompareBodies: true, Timeout: 5 * time.Second}})
	t.Cleanup(releaseOnce) // runs before the servers' and the splitter's cleanups
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 1); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s)
	defer front.Close()

	start := time.Now()
	resp, err := front.Client().Post(front.URL+"/predict", "application/json", strings.NewReader(`{"x":[1,2,3]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != `{"x":[1,2,3]}` {
		t.Fatalf("POST = %d %q (%v), want 200 and the body echoed", resp.StatusCode, body, err)
	}
	if resp.Header.Get(HeaderTrack) != "stable" {
		t.Errorf("%s = %q, want stable", HeaderTrack, resp.Header.Get(HeaderTrack))
	}
	// The shadow has not answered (it cannot until released), and the
	// client has its whole response.
	if elapsed > time.Second {
		t.Errorf("the client waited %s with the shadow blocked, want well under 1 s", elapsed)
	}
	select {
	case got := <-entered:
		if got != `{"x":[1,2,3]}` {
			t.Errorf("the shadow got body %q, want the client's", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request was never mirrored")
	}
	if got := comparisons(t, reg); len(got) != 0 {
		t.Errorf("comparisons before the shadow answered = %v, want none", got)
	}
	releaseOnce()
	s.Close()
	if diff := cmp.Diff(map[Result]float64{ResultMatch: 1}, comparisons(t, reg)); diff != "" {
		t.Errorf("comparisons (-want +got):\n%s", diff)
	}
}

// A mirror takes its copy of the body as the primary request reads it: a
// client that streams its body, and reads the answer before it finishes,
// is not held up by the mirror waiting for the whole body. Once the body
// is complete, it is mirrored whole.
func TestShadowDoesNotWaitForTheBody(t *testing.T) {
	duplex := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.NewResponseController(w).EnableFullDuplex()
			h(w, r)
		}
	}
	_, stable := backendServer(t, "v1", duplex(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "streaming\n") // answers before it has the body
		w.(http.Flusher).Flush()
		io.Copy(w, r.Body)
	}))
	mirrored := make(chan string, 1)
	_, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mirrored <- string(body)
	})
	s, _ := newSplitter(t, Config{})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 1); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(duplex(s.ServeHTTP))
	defer front.Close()

	body, write := io.Pipe()
	defer write.Close() // before front.Close, which waits for the handler
	req, _ := http.NewRequest(http.MethodPost, front.URL+"/stream", body)
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Error(err)
			resp = nil
		}
		answered <- resp
	}()
	write.Write([]byte("part 1;"))
	select {
	case resp := <-answered:
		if resp == nil {
			t.FailNow()
		}
		defer resp.Body.Close()
		line := make([]byte, len("streaming\n"))
		if _, err := io.ReadFull(resp.Body, line); err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client got no answer in 10 s while its body was still open: the mirror held it up")
	}
	write.Write([]byte("part 2"))
	write.Close()
	select {
	case got := <-mirrored:
		if got != "part 1;part 2" {
			t.Errorf("the shadow got %q, want the whole body", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the completed body was never mirrored")
	}
}

// Each mirrored request is compared with its primary, and the shadow's
// request counted with its outcome: an answer that differs from stable's,
// where neither failed and stable's is no 5xx, is outcome mismatch (an
// error of the shadow for the analysis); one that could not be compared
// (the shadow down, a primary that outlasted the shadow's timeout) keeps
// the shadow's own outcome.
func TestShadowComparisons(t *testing.T) {
	tests := []struct {
		name          string
		shadowStatus  int
		shadowBody    string
		compareBodies bool
		shadowDown    bool
		primaryStatus int
		primaryDelay  time.Duration // past the shadow's timeout of 100 ms when set
		want          Result
		outcome       Outcome // the shadow's
	}{
		{"same", 200, "yes", true, false, 200, 0, ResultMatch, OutcomeOK},
		{"another status", 500, "yes", true, false, 200, 0, ResultStatusMismatch, OutcomeServerError},
		{"a 4xx where stable answers", 404, "yes", true, false, 200, 0, ResultStatusMismatch, OutcomeMismatch},
		{"an answer where stable fails", 200, "yes", true, false, 500, 0, ResultStatusMismatch, OutcomeOK},
		{"another body", 200, "no", true, false, 200, 0, ResultBodyMismatch, OutcomeMismatch},
		{"another body, not compared", 200, "no", false, false, 200, 0, ResultMatch, OutcomeOK},
		{"same 5xx, another body", 503, "busy", true, false, 503, 0, ResultBodyMismatch, OutcomeServerError},
		{"shadow down", 200, "", true, true, 200, 0, ResultError, OutcomeConnectionError},
		{"primary past the timeout", 404, "yes", true, false, 200, 300 * time.Millisecond, ResultError, OutcomeClientError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(tt.primaryDelay)
				w.WriteHeader(tt.primaryStatus)
				w.Write([]byte("yes"))
			})
			shadowSrv, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.shadowStatus)
				w.Write([]byte(tt.shadowBody))
			})
			if tt.shadowDown {
				shadowSrv.Close()
			}
			cfg := Config{Shadow: ShadowConfig{CompareBodies: tt.compareBodies}}
			if tt.primaryDelay > 0 {
				cfg.Shadow.Timeout = 100 * time.Millisecond
			}
			s, reg := newSplitter(t, cfg)
			if err := s.SetStable(stable); err != nil {
				t.Fatal(err)
			}
			if err := s.SetShadow(&shadow, 1); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if w := serve(s, httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader("{}"))); w.Code != tt.primaryStatus || w.Body.String() != "yes" {
					t.Fatalf("POST = %d %q, want %d from the primary", w.Code, w.Body, tt.primaryStatus)
				}
			}
			s.Close()
			if diff := cmp.Diff(map[Result]float64{tt.want: 3}, comparisons(t, reg)); diff != "" {
				t.Errorf("comparisons (-want +got):\n%s", diff)
			}
			got := map[Outcome]float64{}
			for _, o := range outcomes {
				if v := requests(t, reg, TrackShadow, o); v != 0 {
					got[o] = v
				}
			}
			if diff := cmp.Diff(map[Outcome]float64{tt.outcome: 3}, got); diff != "" {
				t.Errorf("shadow requests by outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestShadowDropsWhenFull(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	var mirrored atomic.Int64
	_, stable := backendServer(t, "v1", nil)
	_, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) {
		mirrored.Add(1)
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	s, reg := newSplitter(t, Config{Shadow: ShadowConfig{MaxConcurrent: 1}})
	t.Cleanup(releaseOnce)
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 1); err != nil {
		t.Fatal(err)
	}
	tracks(t, s, 1)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the first request was never mirrored")
	}
	tracks(t, s, 4) // the bound is full: dropped, and served all the same
	if v, _ := metric(t, reg, MetricShadowDropped, map[string]string{LabelModel: "m", LabelEnv: "prod"}); v != 4 {
		t.Errorf("%s = %v, want 4", MetricShadowDropped, v)
	}
	releaseOnce()
	s.Close()
	if mirrored.Load() != 1 {
		t.Errorf("mirrored %d requests, want 1", mirrored.Load())
	}
	// A dropped mirror is neither a match nor a mismatch, nor a request
	// of the shadow's.
	if diff := cmp.Diff(map[Result]float64{ResultMatch: 1}, comparisons(t, reg)); diff != "" {
		t.Errorf("comparisons (-want +got):\n%s", diff)
	}
	for _, o := range outcomes {
		if v, want := requests(t, reg, TrackShadow, o), map[Outcome]float64{OutcomeOK: 1}[o]; v != want {
			t.Errorf("shadow requests with outcome %s = %v, want %v", o, v, want)
		}
	}
}

func TestShadowBodies(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		chunked  bool
		mirrored bool
	}{
		{"small", "0123456789", false, true},
		{"small, chunked", "0123456789", true, true},
		{"empty", "", false, true},
		{"too large", strings.Repeat("x", 17), false, false},
		{"too large, chunked", strings.Repeat("x", 17), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var shadowGot atomic.Value
			_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				w.Write(body)
			})
			_, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				shadowGot.Store(string(body))
				w.Write(body)
			})
			s, reg := newSplitter(t, Config{Shadow: ShadowConfig{MaxBody: 16, CompareBodies: true}})
			if err := s.SetStable(stable); err != nil {
				t.Fatal(err)
			}
			if err := s.SetShadow(&shadow, 1); err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader(tt.body))
			if tt.chunked {
				r.ContentLength = -1
				r.Body = io.NopCloser(strings.NewReader(tt.body)) // length unknown
			}
			w := serve(s, r)
			s.Close()
			if w.Code != http.StatusOK || w.Body.String() != tt.body {
				t.Errorf("POST = %d %q, want 200 and the body echoed", w.Code, w.Body)
			}
			got, _ := shadowGot.Load().(string)
			if mirrored := shadowGot.Load() != nil; mirrored != tt.mirrored || mirrored && got != tt.body {
				t.Errorf("shadow got %q (mirrored %v), want mirrored %v", got, mirrored, tt.mirrored)
			}
			want := map[Result]float64{}
			if tt.mirrored {
				want[ResultMatch] = 1
			}
			if diff := cmp.Diff(want, comparisons(t, reg)); diff != "" {
				t.Errorf("comparisons (-want +got):\n%s", diff)
			}
			// A body too large to mirror is a request chosen for the
			// shadow that it never gets: counted, as one past the
			// concurrency bound, so that the share mirrored is known.
			wantDropped := 0.0
			if !tt.mirrored {
				wantDropped = 1
			}
			if v, _ := metric(t, reg, MetricShadowDropped, map[string]string{LabelModel: "m", LabelEnv: "prod"}); v != wantDropped {
				t.Errorf("%s = %v, want %v", MetricShadowDropped, v, wantDropped)
			}
		})
	}
}

func TestShadowRemoved(t *testing.T) {
	var mirrored atomic.Int64
	_, stable := backendServer(t, "v1", nil)
	_, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) { mirrored.Add(1) })
	s, reg := newSplitter(t, Config{})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 2); err == nil {
		t.Error("SetShadow(share 2) = nil error, want one")
	}
	if err := s.SetShadow(&shadow, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := metric(t, reg, MetricBackendHealthy, map[string]string{LabelTrack: "shadow"}); !ok {
		t.Errorf("no %s{track=shadow} with a shadow", MetricBackendHealthy)
	}
	if err := s.SetShadow(nil, 0); err != nil {
		t.Fatal(err)
	}
	tracks(t, s, 10)
	s.Close()
	if mirrored.Load() != 0 {
		t.Errorf("mirrored %d requests without a shadow", mirrored.Load())
	}
	if _, ok := metric(t, reg, MetricBackendHealthy, map[string]string{LabelTrack: "shadow"}); ok {
		t.Errorf("%s{track=shadow} remains without a shadow", MetricBackendHealthy)
	}
}

// TestShadowGetsThePrimaryRequest checks that the shadow is sent what
// stable is sent, but for Promote-Shadow: the client's forwarding fields
// replaced, not passed on or appended to; the hop-by-hop fields dropped
// (Te: trailers kept); no User-Agent added; the query as ReverseProxy
// sends it. A shadow that saw another request than stable's would be
// judged on answers to other inputs, and a client could write what it
// reads as its caller's address.
func TestShadowGetsThePrimaryRequest(t *testing.T) {
	stable, sawStable := recordingBackend(t, "v1", nil)
	shadow, sawShadow := recordingBackend(t, "v2", nil)
	s, _ := newSplitter(t, Config{})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 1); err != nil {
		t.Fatal(err)
	}
	addr := startSlow(t, s)
	for _, raw := range []string{
		request("", "GET /predict?a=1&b=2 HTTP/1.1", "Host: front",
			"X-Forwarded-For: 203.0.113.9", "Forwarded: for=203.0.113.9", "X-Forwarded-Host: spoofed", "X-Forwarded-Proto: https",
			"Connection: X-Hop", "X-Hop: 1", "Keep-Alive: timeout=5", "Te: trailers, deflate", "X-Model-Input: 7"),
		request(`{"x": 1}`, "POST /predict?a=1;b=2 HTTP/1.1", "Host: front", "Content-Length: 8", "User-Agent: client/1",
			"X-Forwarded-For: 203.0.113.9, 198.51.100.1", "Proxy-Authorization: Basic eDp5"),
	} {
		got := exchangeRaw(t, addr, raw, "GET")
		if len(got) != 1 || got[0].Status != http.StatusOK {
			t.Fatalf("answers %v, want one 200", got)
		}
		var primary, mirrored seen
		for _, c := range []struct {
			saw chan seen
			to  *seen
		}{{sawStable, &primary}, {sawShadow, &mirrored}} {
			select {
			case *c.to = <-c.saw:
			case <-time.After(5 * time.Second):
				t.Fatalf("%q: a backend was sent nothing", raw)
			}
		}
		if v := mirrored.Header.Get(HeaderShadow); v != "1" {
			t.Errorf("%q: the shadow's %s = %q, want 1", raw, HeaderShadow, v)
		}
		delete(mirrored.Header, HeaderShadow)
		primary.Host, mirrored.Host = "", "" // each backend's own
		if diff := cmp.Diff(primary, mirrored); diff != "" {
			t.Errorf("%q: the shadow's request differs from stable's (-stable +shadow):\n%s", raw, diff)
		}
		if v := primary.Header.Get("X-Forwarded-For"); v != "127.0.0.1" {
			t.Errorf("%q: stable's X-Forwarded-For = %q, want the client's address alone", raw, v)
		}
	}
}

// TestShadowBoundsHoldUnderLoad sends many clients' requests at once
// through a splitter whose shadow never answers: every client is
// answered by stable, at no more than the shadow's bound in flight and
// each mirror cut at the shadow's timeout; every request chosen is either
// mirrored (a timeout of the shadow's) or counted as dropped.
func TestShadowBoundsHoldUnderLoad(t *testing.T) {
	const (
		clients, each = 32, 8
		bound         = 4
		// Long enough that no client's request on a loaded machine takes
		// it (one that did would have waited for the shadow), short
		// enough for a test.
		timeout = time.Second
	)
	var inFlight, most, mirrored atomic.Int64
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	})
	_, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		mirrored.Add(1)
		// The body read, net/http sees the splitter close the connection.
		io.ReadAll(r.Body)
		<-r.Context().Done() // hangs until the splitter gives up
	})
	// The shadow stays in rotation however often it times out, so that
	// every request is chosen for it.
	s, reg := newSplitter(t, Config{Shadow: ShadowConfig{MaxConcurrent: bound, Timeout: timeout}, FailureThreshold: clients * each})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 1); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s)
	defer front.Close()

	var wg sync.WaitGroup
	var slowest atomic.Int64
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf(`{"client":%d,"i":%d}`, c, i)
				start := time.Now()
				resp, err := front.Client().Post(front.URL+"/predict", "application/json", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(got) != body {
					t.Errorf("POST = %d %q, want 200 %q", resp.StatusCode, got, body)
				}
				if d := time.Since(start).Nanoseconds(); d > slowest.Load() {
					slowest.Store(d)
				}
			}
		})
	}
	wg.Wait()
	if d := time.Duration(slowest.Load()); d >= timeout {
		t.Errorf("the slowest client waited %s, want less than the shadow's timeout %s: the shadow held it up", d, timeout)
	}
	closed := time.Now()
	s.Close() // waits for the mirrors in flight
	if d := time.Since(closed); d > 5*timeout {
		t.Errorf("Close waited %s for the mirrors, want about the shadow's timeout %s", d, timeout)
	}
	if m := most.Load(); m > bound {
		t.Errorf("%d mirrors were in flight at once, want at most %d", m, bound)
	}
	dropped, _ := metric(t, reg, MetricShadowDropped, map[string]string{LabelModel: "m", LabelEnv: "prod"})
	timeouts := requests(t, reg, TrackShadow, OutcomeTimeout)
	if mirrored.Load() == 0 || timeouts != float64(mirrored.Load()) {
		t.Errorf("shadow timeouts = %v, mirrored %d: want every mirror, at least one, cut at the timeout", timeouts, mirrored.Load())
	}
	if got := timeouts + dropped; got != clients*each {
		t.Errorf("mirrored %v + dropped %v = %v, want every one of the %d requests", timeouts, dropped, got, clients*each)
	}
}

// TestShadowCopiesAreBounded checks that the copies of request bodies
// kept for mirrors while the bodies stream in are bounded together, not
// only each: with Shadow.MaxConcurrent 2 and MaxBody 1400, at most 2800
// bytes are held, so that many clients sending large bodies at once
// cannot make the splitter hold MaxBody for each. A copy that would pass
// the bound is given up and counted as dropped; the client's request goes
// on all the same.
func TestShadowCopiesAreBounded(t *testing.T) {
	const first, rest = 1000, 400
	got := make(chan int, 8)
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, first)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Errorf("stable read %v", err)
			return
		}
		got <- first
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, first+int(n))
	})
	var mirrored atomic.Int64
	_, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if n == first+rest {
			mirrored.Add(1)
		}
		fmt.Fprint(w, n)
	})
	s, reg := newSplitter(t, Config{Shadow: ShadowConfig{MaxConcurrent: 2, MaxBody: first + rest}})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 1); err != nil {
		t.Fatal(err)
	}
	addr := startSlow(t, s)
	chunk := func(n int) string { return fmt.Sprintf("%x\r\n%s\r\n", n, strings.Repeat("x", n)) }
	var conns []net.Conn
	for range 3 {
		c := dial(t, addr)
		io.WriteString(c, "POST /predict HTTP/1.1\r\nHost: front\r\nTransfer-Encoding: chunked\r\n\r\n"+chunk(first))
		conns = append(conns, c)
	}
	for range 3 {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("stable did not get the first part of every body")
		}
	}
	// 3 × 1000 bytes are in: one copy passed the budget of 2 × 1400.
	if v, _ := metric(t, reg, MetricShadowDropped, map[string]string{LabelModel: "m", LabelEnv: "prod"}); v != 1 {
		t.Errorf("with three bodies partly in, %s = %v, want 1", MetricShadowDropped, v)
	}
	if held := s.copying.Load(); held != 2*first {
		t.Errorf("copies held = %d bytes, want %d", held, 2*first)
	}
	for _, c := range conns {
		io.WriteString(c, chunk(rest)+"0\r\n\r\n")
		a, err := readAnswer(bufio.NewReader(c), http.MethodPost)
		if err != nil || a.Status != http.StatusOK || a.Body != fmt.Sprint(first+rest) {
			t.Errorf("answer %+v (%v), want 200 and %d: the client's request goes on", a, err, first+rest)
		}
	}
	s.Close()
	if m := mirrored.Load(); m != 2 {
		t.Errorf("mirrored %d whole bodies, want 2", m)
	}
	if held := s.copying.Load(); held != 0 {
		t.Errorf("copies held = %d bytes after every request, want 0", held)
	}
}

// A body that the primary request does not read to its end (its backend
// answers first) is not mirrored, and gives back what its copy held once
// the proxy is done with it, whenever the client ends the body.
func TestShadowCopyOfAnUnreadBody(t *testing.T) {
	read := make(chan struct{}, 1)
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		io.ReadFull(r.Body, make([]byte, 10))
		read <- struct{}{}
		// At once, as net/http would not: it reads the rest first.
		c, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		bw.WriteString("HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		bw.Flush()
	})
	var mirrored atomic.Int64
	_, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) { mirrored.Add(1) })
	s, reg := newSplitter(t, Config{})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 1); err != nil {
		t.Fatal(err)
	}
	front := startSlow(t, s)
	c := dial(t, front)
	io.WriteString(c, "POST /predict HTTP/1.1\r\nHost: front\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n01234567890123456789\r\n")
	select {
	case <-read: // the copy holds the 20 bytes read
	case <-time.After(5 * time.Second):
		t.Fatal("stable got no body")
	}
	// net/http answers once it has read the rest of the body itself:
	// the copy must be given up before then.
	for deadline := time.Now().Add(5 * time.Second); s.copying.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("copies held = %d bytes once the proxy was done, want 0", s.copying.Load())
		}
	}
	io.WriteString(c, "0\r\n\r\n")
	a, err := readAnswer(bufio.NewReader(c), http.MethodPost)
	if err != nil || a.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("answer %+v (%v), want 413", a, err)
	}
	c.Close()
	s.Close()
	if held := s.copying.Load(); held != 0 {
		t.Errorf("copies held = %d bytes after the request, want 0", held)
	}
	if m := mirrored.Load(); m != 0 {
		t.Errorf("mirrored %d requests, want none", m)
	}
	if v, _ := metric(t, reg, MetricShadowDropped, map[string]string{LabelModel: "m", LabelEnv: "prod"}); v != 0 {
		t.Errorf("%s = %v, want 0", MetricShadowDropped, v)
	}
}

// Promote-Shadow tells a model server that its answer goes nowhere, so
// that it skips side effects (storing the prediction, charging a client):
// a client must not be able to set it on a real request, on either path.
func TestClientCannotMarkItsRequestShadow(t *testing.T) {
	stable, saw := recordingBackend(t, "v1", nil)
	s, _ := newSplitter(t, Config{})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	fast := startFast(t, s, nil)
	for _, tt := range []struct{ name, addr string }{{"net/http", startSlow(t, s)}, {"fast path", fast.addr}} {
		t.Run(tt.name, func(t *testing.T) {
			raw := request(`{"x": 1}`, "POST /predict HTTP/1.1", "Host: front", "Content-Length: 8", HeaderShadow+": 1", "Connection: close")
			if got := exchangeRaw(t, tt.addr, raw, http.MethodPost); len(got) != 1 || got[0].Status != http.StatusOK {
				t.Fatalf("answers %v, want one 200", got)
			}
			select {
			case r := <-saw:
				if v, ok := r.Header[HeaderShadow]; ok {
					t.Errorf("stable was sent %s: %q, want none: the client's request is a real one", HeaderShadow, v)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("stable was sent nothing")
			}
		})
	}
	if n := fast.slow.Load(); n != 0 {
		t.Errorf("the fallback served %d requests, want none: the fast path serves such a request", n)
	}
}
