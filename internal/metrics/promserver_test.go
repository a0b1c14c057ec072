package metrics

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// prometheusVar names the variable holding the Prometheus binary's path.
const prometheusVar = "PROMOTE_PROMETHEUS"

// scrapeJob is the test Prometheus' job scraping the test's registry.
const scrapeJob = "promote-test"

// prometheusBinary returns the Prometheus server's binary: $PROMOTE_PROMETHEUS,
// or prometheus on PATH. Without one the test is skipped, except in CI,
// where the Prometheus tests must run.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(prometheusVar); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath("prometheus"); err == nil {
		return bin
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set and prometheus is not on PATH: in CI the Prometheus tests must run (.ci/run installs it)", prometheusVar)
	}
	t.Skipf("%s is not set and prometheus is not on PATH: install Prometheus (apt-get install prometheus) to run the Prometheus tests", prometheusVar)
	return ""
}

// promServer is a real Prometheus server on loopback, scraping one
// registry every second, its data in the test's temporary directory.
type promServer struct {
	// URL is the server's base URL.
	URL string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  *syncBuffer
	stop func()
}

// syncBuffer is a bytes.Buffer the server's output and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startPrometheus serves reg on loopback, starts a Prometheus scraping it
// every second, and returns once Prometheus is ready and its first scrape
// of reg is queryable. The server is stopped when the test ends.
func startPrometheus(t *testing.T, reg *prometheus.Registry) *promServer {
	t.Helper()
	bin := prometheusBinary(t)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(target.Close)

	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	// scrape_timeout may not exceed the interval.
	yml := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: %s
    static_configs:
      - targets: [%q]
`, scrapeJob, strings.TrimPrefix(target.URL, "http://"))
	if err := os.WriteFile(config, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}

	// The free port found may be taken before Prometheus binds it: a few
	// tries, each waiting for readiness or the process' exit.
	var s *promServer
	for try := 1; ; try++ {
		s = launchPrometheus(t, bin, config, filepath.Join(dir, fmt.Sprintf("data%d", try)))
		err := s.waitReady(15 * time.Second)
		if err == nil {
			break
		}
		s.stop()
		if try == 3 {
			t.Fatalf("prometheus did not start: %v\n%s", err, s.log)
		}
		t.Logf("prometheus did not start (try %d): %v", try, err)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("prometheus' log:\n%s", s.log)
		}
	})

	// Prometheus is ready before it has scraped anything: wait for the
	// first scrape of reg to be queryable (its samples are committed
	// together with up's).
	waitFor(t, 10*time.Second, "prometheus' first scrape", func() (bool, string) {
		samples, err := s.query(t, fmt.Sprintf(`up{job=%q} == 1`, scrapeJob))
		if err != nil {
			return false, err.Error()
		}
		return len(samples) == 1, fmt.Sprintf("%d samples", len(samples))
	})
	return s
}

// launchPrometheus starts the binary on a free loopback port.
func launchPrometheus(t *testing.T, bin, config, data string) *promServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &promServer{URL: "http://" + addr, done: make(chan struct{}), log: &syncBuffer{}}
	s.cmd = exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+data,
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			s.cmd.Process.Kill()
			<-s.done
		})
	}
	return s
}

// waitReady polls /-/ready until Prometheus answers 200, its process
// exits, or the deadline passes.
func (s *promServer) waitReady(deadline time.Duration) error {
	end := time.Now().Add(deadline)
	last := "no answer"
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(end) {
			return fmt.Errorf("not ready after %s: %s", deadline, last)
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited: %v", s.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// query runs promql now, as the sources do.
func (s *promServer) query(t *testing.T, promql string) ([]sample, error) {
	t.Helper()
	p, err := NewPrometheus(PrometheusOptions{URL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return p.instantQuery(ctx, promql, time.Now())
}

// waitFor polls cond until it holds or the deadline passes; what says what
// is awaited, and cond's second result what it saw last.
func waitFor(t *testing.T, deadline time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("waited %s for %s; last saw: %s", deadline, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
