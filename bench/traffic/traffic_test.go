package traffic_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/bench/traffic"
	"github.com/promote-ml/promote/internal/nettest"
)

func TestBackend(t *testing.T) {
	b := &traffic.Backend{}
	srv := httptest.NewServer(b)
	defer srv.Close()
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"get", http.MethodGet, "/predict", ""},
		{"post with a body", http.MethodPost, "/v1/models/m:predict", `{"instances":[[1,2,3]]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			status, header, body := do(t, srv.Client(), req)
			if status != http.StatusOK || header.Get("Content-Type") != "application/json" || body != traffic.Payload {
				t.Errorf("%s %s = %d %q %q, want 200 application/json %q", tc.method, tc.path, status, header.Get("Content-Type"), body, traffic.Payload)
			}
		})
	}
	if _, _, body := get(t, srv.Client(), srv.URL+traffic.RequestsPath); body != "2\n" || b.Requests() != 2 {
		t.Errorf("GET %s = %q, Requests() = %d, want 2 (the requests answered)", traffic.RequestsPath, body, b.Requests())
	}
}

// backend starts a Backend.
func backend(t *testing.T) (*httptest.Server, *traffic.Backend) {
	b := &traffic.Backend{}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return srv, b
}

// The bench splitter splits, served by net/http alone and, as cmd/splitter
// serves it by default, through traffic.Server's fast path.
func TestSplitterSplits(t *testing.T) {
	for _, fast := range []bool{false, true} {
		name := "nethttp"
		if fast {
			name = "fast path"
		}
		t.Run(name, func(t *testing.T) { testSplitterSplits(t, fast) })
	}
}

func testSplitterSplits(t *testing.T, fast bool) {
	stable, stableBackend := backend(t)
	canary, canaryBackend := backend(t)
	var mu sync.Mutex
	rnd := rand.New(rand.NewPCG(1, 2))
	reg, err := traffic.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	s, err := traffic.NewSplitter(traffic.SplitterConfig{
		Stable: mustURL(t, stable.URL), Canary: mustURL(t, canary.URL), Weight: 0.1, Registry: reg,
		Rand: func() float64 { mu.Lock(); defer mu.Unlock(); return rnd.Float64() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var slow atomic.Int64 // requests net/http served
	handler := traffic.SplitterHandler(s, reg)
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { slow.Add(1); handler.ServeHTTP(w, r) })
	var frontURL string
	client := &http.Client{Timeout: 10 * time.Second}
	if fast {
		srv := traffic.NewServer(&http.Server{Handler: counted, ReadHeaderTimeout: 10 * time.Second}, s)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		defer srv.Close()
		frontURL = "http://" + ln.Addr().String()
	} else {
		front := httptest.NewServer(counted)
		defer front.Close()
		frontURL = front.URL
	}

	const n = 1000
	tracks := map[string]int{}
	for range n {
		status, header, body := get(t, client, frontURL+"/predict")
		if status != http.StatusOK || body != traffic.Payload {
			t.Fatalf("GET /predict = %d %q, want 200 %q", status, body, traffic.Payload)
		}
		track, version := header.Get("Promote-Track"), header.Get("Promote-Version")
		if want := map[string]string{"stable": traffic.StableVersion, "canary": traffic.CanaryVersion}[track]; version != want {
			t.Fatalf("GET /predict: track %q, version %q, want version %q", track, version, want)
		}
		tracks[track]++
	}
	if got, want := slow.Load(), map[bool]int64{false: n, true: 0}[fast]; got != want {
		t.Errorf("net/http served %d of the %d requests, want %d", got, n, want)
	}
	if c := tracks["canary"]; c < n*8/100 || c > n*12/100 {
		t.Errorf("canary answered %d of %d requests, want 8%% to 12%%", c, n)
	}
	backends := map[string]int{"stable": int(stableBackend.Requests()), "canary": int(canaryBackend.Requests())}
	if diff := cmp.Diff(tracks, backends); diff != "" {
		t.Errorf("tracks in the responses differ from the requests the backends answered (-headers +backends):\n%s", diff)
	}

	// The splitter counted them in the registry, which /-/metrics serves.
	_, _, metrics := get(t, client, frontURL+traffic.MetricsPath)
	for track, c := range tracks {
		line := fmt.Sprintf(`promote_traffic_requests_total{env=%q,model=%q,outcome="ok",track=%q} %d`, traffic.Env, traffic.Model, track, c)
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("GET %s lacks %s", traffic.MetricsPath, line)
		}
	}
	if !strings.Contains(metrics, "go_goroutines ") {
		t.Errorf("GET %s lacks go_goroutines: the registry is not promote serve's", traffic.MetricsPath)
	}
}

func TestNginxConfig(t *testing.T) {
	valid := traffic.NginxConfig{Dir: "/tmp/bench", Listen: "127.0.0.1:8080", Stable: "127.0.0.1:1001", Canary: "127.0.0.1:1002",
		CanaryPercent: 10, Workers: 2, Keepalive: 256}
	t.Run("valid", func(t *testing.T) {
		conf, err := valid.Render()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"worker_processes 2;", "pid /tmp/bench/nginx.pid;", "access_log off;", "listen 127.0.0.1:8080;",
			"server 127.0.0.1:1001;", "server 127.0.0.1:1002;", "keepalive 256;",
			`split_clients "${request_id}" $track {`, "10% canary;", "* stable;", "proxy_pass http://$track;",
			"add_header Promote-Version $version always;",
		} {
			if !strings.Contains(string(conf), want) {
				t.Errorf("Render() lacks %q:\n%s", want, conf)
			}
		}
	})
	for _, tc := range []struct {
		name   string
		change func(*traffic.NginxConfig)
		want   []string
	}{
		{"relative dir", func(c *traffic.NginxConfig) { c.Dir = "tmp" }, []string{`directory "tmp"`}},
		{"bad addresses", func(c *traffic.NginxConfig) { c.Listen, c.Canary = "8080", "127.0.0.1:0" },
			[]string{`listen address "8080"`, `canary address "127.0.0.1:0"`}},
		{"everything", func(c *traffic.NginxConfig) { *c = traffic.NginxConfig{Dir: "/a b"} },
			[]string{`directory "/a b"`, "listen address", "stable address", "canary address", "canary percent 0", "workers 0", "keepalive 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.change(&c)
			_, err := c.Render()
			if err == nil {
				t.Fatalf("Render() of %+v = nil error, want one naming %q", c, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Render() of %+v = %v, want it to name %q", c, err, w)
				}
			}
		})
	}
}

// TestNginx checks the configuration with nginx -t, then runs nginx with
// it and checks that it splits. It is skipped without nginx.
func TestNginx(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			t.Skip("nginx is not installed (bench/traffic/run.sh installs Debian's)")
		}
		bin = "/usr/sbin/nginx"
	}
	stable, stableBackend := backend(t)
	canary, canaryBackend := backend(t)
	dir := t.TempDir()
	// When run as root, nginx's workers run as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	conf, err := traffic.NginxConfig{Dir: dir, Listen: listen, Stable: mustURL(t, stable.URL).Host, Canary: mustURL(t, canary.URL).Host,
		CanaryPercent: 10, Workers: 1, Keepalive: 16}.Render()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", path}
	if out, err := exec.Command(bin, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	u := "http://" + listen + "/predict"
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not answer within 10 s: %v\n%s%s", err, out.String(), log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stable0, canary0 := stableBackend.Requests(), canaryBackend.Requests()
	const n = 1000
	tracks := map[string]int{}
	for range n {
		status, header, body := get(t, client, u)
		if status != http.StatusOK || body != traffic.Payload {
			t.Fatalf("GET %s = %d %q, want 200 %q", u, status, body, traffic.Payload)
		}
		tracks[header.Get("Promote-Track")]++
	}
	// nginx's split is random (by $request_id), not seeded: 6% to 14% of
	// 1,000 is 4.2 standard deviations either side of 10%.
	if c := tracks["canary"]; c < n*6/100 || c > n*14/100 {
		t.Errorf("canary answered %d of %d requests through nginx, want 6%% to 14%%", c, n)
	}
	backends := map[string]int{"stable": int(stableBackend.Requests() - stable0), "canary": int(canaryBackend.Requests() - canary0)}
	if diff := cmp.Diff(tracks, backends); diff != "" {
		t.Errorf("tracks in nginx's responses differ from the requests the backends answered (-headers +backends):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	t.Run("rate", func(t *testing.T) {
		srv := httptest.NewServer(&traffic.Backend{})
		defer srv.Close()
		r, err := traffic.Load{URL: srv.URL, Rate: 400, Duration: 500 * time.Millisecond, Conns: 4}.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Requests != 200 || r.Errors != 0 || len(r.Latencies) != 200 {
			t.Errorf("Run() = %d requests, %d errors, %d latencies, want 200, 0, 200", r.Requests, r.Errors, len(r.Latencies))
		}
		// The last request is due at 199 × 2.5 ms.
		if r.Elapsed < 497*time.Millisecond {
			t.Errorf("Run() took %s, want at least 497ms at 400 requests/s", r.Elapsed)
		}
		if !slices.IsSorted(r.Latencies) || r.Percentile(50) <= 0 || r.Percentile(50) > r.Percentile(99) ||
			r.Percentile(100) != r.Latencies[len(r.Latencies)-1] {
			t.Errorf("latencies p50 %s, p99 %s, max %s: want sorted, positive, in order", r.Percentile(50), r.Percentile(99), r.Percentile(100))
		}
	})
	t.Run("a stall is charged to the requests it held back", func(t *testing.T) {
		// One connection, a request due every millisecond, and the 21st
		// request answered after 100 ms: the ~100 requests due meanwhile
		// wait for the connection, and their latency counts from when
		// they were due.
		var n atomic.Int64
		h := &traffic.Backend{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 22 { // the first request opens the connection
				time.Sleep(100 * time.Millisecond)
			}
			h.ServeHTTP(w, r)
		}))
		defer srv.Close()
		r, err := traffic.Load{URL: srv.URL, Rate: 1000, Duration: 300 * time.Millisecond, Conns: 1}.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Held < 50 || r.Percentile(90) < 20*time.Millisecond {
			t.Errorf("Run() held %d requests, p90 %s; want at least 50 and 20ms (a 100 ms stall at 1 ms intervals)", r.Held, r.Percentile(90))
		}
	})
	t.Run("errors", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		if _, err := (traffic.Load{URL: srv.URL, Rate: 100, Duration: 50 * time.Millisecond, Conns: 1}).Run(context.Background()); err == nil ||
			!strings.Contains(err.Error(), "status 404") {
			t.Errorf("Run() against a 404 = %v, want an error naming status 404", err)
		}
	})
}

func get(t *testing.T, c *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	return nettest.FreeAddr(t)
}
