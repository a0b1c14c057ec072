// Package promtest starts a real Prometheus server for tests: Debian's
// prometheus binary ($PROMOTE_PROMETHEUS, or on PATH), on a free loopback
// port, its data in the test's temporary directory, scraping the given
// targets every second (StartEvery: at another interval). Start returns
// once the first scrape of every target is queryable; the server is
// stopped when the test ends. Without a binary the test is skipped, except
// in CI (CI set), where it fails: .ci/run installs Prometheus.
package promtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/nettest"
	"github.com/promote-ml/promote/internal/testtool"
)

// BinaryVar names the variable holding the Prometheus binary's path.
const BinaryVar = "PROMOTE_PROMETHEUS"

// Job is the scrape job of the targets.
const Job = "promote-test"

// Binary returns the Prometheus server's binary, skipping the test without
// one (failing it in CI).
func Binary(tb testing.TB) string {
	tb.Helper()
	return testtool.Find(tb, BinaryVar, "prometheus", "install Prometheus (apt-get install prometheus)")
}

// PromtoolVar names the variable holding promtool's path.
const PromtoolVar = "PROMOTE_PROMTOOL"

// Promtool returns the path of promtool, Prometheus' rule checker, which
// ships with the server: $PROMOTE_PROMTOOL, else the promtool beside
// $PROMOTE_PROMETHEUS, else promtool on PATH. Without one the test is
// skipped (failed in CI), as Binary does.
func Promtool(tb testing.TB) string {
	tb.Helper()
	if os.Getenv(PromtoolVar) == "" {
		if server := os.Getenv(BinaryVar); server != "" {
			beside := filepath.Join(filepath.Dir(server), "promtool")
			if _, err := os.Stat(beside); err == nil {
				return beside
			}
		}
	}
	return testtool.Find(tb, PromtoolVar, "promtool", "install Prometheus, which brings promtool (apt-get install prometheus)")
}

// Server is a running Prometheus.
type Server struct {
	// URL is the server's base URL.
	URL string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  *testtool.Buffer
	stop func()
}

// Start starts Prometheus scraping targets (host:port, path /metrics)
// every second and returns once each target's first scrape is queryable.
func Start(tb testing.TB, targets ...string) *Server {
	tb.Helper()
	return StartEvery(tb, time.Second, targets...)
}

// StartEvery is Start with another scrape interval (whole milliseconds).
func StartEvery(tb testing.TB, interval time.Duration, targets ...string) *Server {
	tb.Helper()
	s := launch(tb, interval, targets)
	s.WaitUp(tb, len(targets))
	return s
}

// Launch is Start without waiting for the first scrapes: for targets that
// start after Prometheus (call WaitUp then).
func Launch(tb testing.TB, targets ...string) *Server {
	tb.Helper()
	return launch(tb, time.Second, targets)
}

func launch(tb testing.TB, interval time.Duration, targets []string) *Server {
	tb.Helper()
	bin := Binary(tb)
	dir := tb.TempDir()
	quoted := make([]string, len(targets))
	for i, t := range targets {
		quoted[i] = fmt.Sprintf("%q", t)
	}
	// scrape_timeout may not exceed the interval.
	yml := fmt.Sprintf(`global:
  scrape_interval: %[1]dms
  scrape_timeout: %[1]dms
scrape_configs:
  - job_name: %[2]s
    static_configs:
      - targets: [%[3]s]
`, interval.Milliseconds(), Job, strings.Join(quoted, ", "))
	return launchConfig(tb, bin, dir, yml)
}

// LaunchConfig starts Prometheus with the configuration file yml, as a
// person would write it (a documented example), and returns once it is
// ready, without waiting for any scrape.
func LaunchConfig(tb testing.TB, yml string) *Server {
	tb.Helper()
	return launchConfig(tb, Binary(tb), tb.TempDir(), yml)
}

func launchConfig(tb testing.TB, bin, dir, yml string) *Server {
	tb.Helper()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(yml), 0o644); err != nil {
		tb.Fatal(err)
	}
	// The free port found may be taken before Prometheus binds it: a few
	// tries, each waiting for readiness or the process' exit.
	var s *Server
	for try := 1; ; try++ {
		s = start(tb, bin, config, filepath.Join(dir, fmt.Sprintf("data%d", try)))
		err := s.waitReady(15 * time.Second)
		if err == nil {
			break
		}
		s.stop()
		if try == 3 {
			tb.Fatalf("prometheus did not start: %v\n%s", err, s.log)
		}
		tb.Logf("prometheus did not start (try %d): %v", try, err)
	}
	tb.Cleanup(func() {
		s.stop()
		if tb.Failed() {
			tb.Logf("prometheus' log:\n%s", s.log)
		}
	})
	return s
}

// WaitUp waits until n targets' first scrapes are queryable: Prometheus
// is ready before it has scraped anything, and a target's samples are
// committed together with its up sample. Prometheus hands new targets to
// its scrapers on a five-second tick, so this takes about that long.
func (s *Server) WaitUp(tb testing.TB, n int) {
	tb.Helper()
	end := time.Now().Add(20 * time.Second)
	for {
		up, err := s.Count(fmt.Sprintf(`up{job=%q} == 1`, Job))
		if err == nil && up == n {
			return
		}
		if time.Now().After(end) {
			tb.Fatalf("waited 20s for prometheus' first scrape of %d targets: %d up, %v\n%s", n, up, err, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func start(tb testing.TB, bin, config, data string) *Server {
	tb.Helper()
	addr := nettest.FreeAddr(tb)
	s := &Server{URL: "http://" + addr, done: make(chan struct{}), log: &testtool.Buffer{}}
	s.cmd = exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+data, "--web.listen-address="+addr, "--log.level=warn")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", bin, err)
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
func (s *Server) waitReady(deadline time.Duration) error {
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

// Freeze suspends the server's process (SIGSTOP): it keeps its port and
// accepts connections, but answers nothing, as a Prometheus stuck in a
// long garbage collection or on a full disk does, until Thaw.
func (s *Server) Freeze(tb testing.TB) {
	tb.Helper()
	if err := suspend(s.cmd.Process); err != nil {
		tb.Fatalf("freeze prometheus: %v", err)
	}
	tb.Cleanup(func() { resume(s.cmd.Process) })
}

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw(tb testing.TB) {
	tb.Helper()
	if err := resume(s.cmd.Process); err != nil {
		tb.Fatalf("thaw prometheus: %v", err)
	}
}

// Stop stops the server now (it is stopped at the test's end anyway).
func (s *Server) Stop() { s.stop() }

// Log returns what the server has logged.
func (s *Server) Log() string { return s.log.String() }

// Count runs an instant query and returns how many series it answered.
func (s *Server) Count(promql string) (int, error) {
	resp, err := http.Get(s.URL + "/api/v1/query?query=" + url.QueryEscape(promql))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query %s: %s", promql, body.Error)
	}
	return len(body.Data.Result), nil
}
