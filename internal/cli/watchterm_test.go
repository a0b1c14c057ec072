//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/promote"
)

// openPTY opens a pseudo-terminal of cols columns and returns its
// terminal side, which a command writes to as to a person's terminal, and
// everything written to it, read from its other side, once the terminal
// side is closed.
func openPTY(t *testing.T, cols int) (tty *os.File, output func() string) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	fd := int(ptmx.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(&buf, ptmx) // ends with EIO once the terminal side is closed
	}()
	t.Cleanup(func() { tty.Close(); ptmx.Close(); <-done })
	return tty, func() string {
		tty.Close()
		<-done
		return strings.ReplaceAll(buf.String(), "\r\n", "\n") // the terminal's own newline translation
	}
}

// rolloutServer answers a running canary with a full verdict for its
// first reads, then the rollout's end.
func rolloutServer(t *testing.T, running int64, end promote.RolloutState) *httptest.Server {
	t.Helper()
	raw, err := json.Marshal(analysis.Verdict{Decision: analysis.Continue, Tests: []analysis.TestResult{
		{Name: analysis.TestErrorRate, Sequential: true, CanaryRequests: 208, StableRequests: 1890, StableEvents: 8},
		{Name: analysis.TestLatency, Sequential: true, LatencyThreshold: 0.1, CanaryRequests: 208, CanaryEvents: 20, StableRequests: 1890, StableEvents: 190},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/samples") {
			json.NewEncoder(w).Encode([]promote.RolloutSample{{Canary: promote.TrackSample{LatencyP95: 0.0612}, Stable: promote.TrackSample{LatencyP95: 0.0589}}})
			return
		}
		ro := promote.Rollout{PromotionID: "pr_1", Model: "credit-risk", Version: "2", Environment: "prod",
			State: promote.RolloutRunning, Step: int(reads.Load()), Weight: 0.1, Verdict: raw}
		if reads.Add(1) > running {
			ro.State, ro.Weight, ro.Reason = end, 1, "all 3 steps passed"
		}
		json.NewEncoder(w).Encode(ro)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// In a terminal, watch redraws one line in place: a line wider than the
// terminal wraps, and "\r" then goes back to its last row only, so that
// every redraw would leave the rows above behind and scroll the terminal.
// Each redrawn line fits the terminal, keeping the decision; the last one,
// never redrawn, is whole.
func TestWatchFitsTerminal(t *testing.T) {
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("COLUMNS", "")
	for _, cols := range []int{40, 80, 200} {
		t.Run(fmt.Sprint(cols), func(t *testing.T) {
			srv := rolloutServer(t, 3, promote.RolloutSucceeded)
			tty, output := openPTY(t, cols)
			var errOut bytes.Buffer
			code := Main(t.Context(), []string{"rollout", "watch", "pr_1", "--every", "5ms", "--server", srv.URL, "--token", "prm_t"},
				strings.NewReader(""), tty, &errOut)
			if code != ExitOK {
				t.Fatalf("watch = exit %d, %s; want 0", code, errOut.String())
			}
			out := output()
			draws := strings.Split(strings.TrimPrefix(out, "\r\033[K"), "\r\033[K")
			if len(draws) != 4 {
				t.Fatalf("watch drew %d lines, want 4:\n%q", len(draws), out)
			}
			for _, d := range draws[:len(draws)-1] {
				if n := utf8.RuneCountInString(d); n >= cols {
					t.Errorf("a redrawn line of %d characters in %d columns: %q", n, cols, d)
				}
				if !strings.HasSuffix(d, "| continue") && !strings.HasSuffix(d, "…") {
					t.Errorf("a redrawn line lost the decision: %q", d)
				}
				if !strings.Contains(d, "running step") {
					t.Errorf("a redrawn line lost its state and step: %q", d)
				}
			}
			last := draws[len(draws)-1]
			if !strings.HasSuffix(last, "| continue | all 3 steps passed\n") || !strings.Contains(last, "stable 1890 req") {
				t.Errorf("the last line = %q, want it whole, then a newline", last)
			}
		})
	}
}

// A terminal that says it is dumb (TERM=dumb: Emacs' shell, some CI
// consoles) has no cursor control: watch prints plain lines there, as to a
// pipe.
func TestWatchDumbTerminal(t *testing.T) {
	t.Setenv("TERM", "dumb")
	srv := rolloutServer(t, 2, promote.RolloutRolledBack)
	tty, output := openPTY(t, 80)
	var errOut bytes.Buffer
	code := Main(t.Context(), []string{"rollout", "watch", "pr_1", "--every", "5ms", "--server", srv.URL, "--token", "prm_t"},
		strings.NewReader(""), tty, &errOut)
	if code != ExitBlocked {
		t.Fatalf("watch = exit %d, %s; want 1 (rolled back)", code, errOut.String())
	}
	out := output()
	if strings.Contains(out, "\033") || strings.Contains(out, "\r") || strings.HasPrefix(out, "[") {
		t.Errorf("watch on a dumb terminal wrote control sequences or a bar: %q", out)
	}
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "running step 1 weight 10%") {
		t.Errorf("watch on a dumb terminal printed %q, want 3 plain lines", out)
	}
}

// Ctrl-C ends the redrawn line, so that "promote: interrupted", on
// standard error, starts a line of its own rather than follow the bar.
func TestWatchInterruptedEndsLine(t *testing.T) {
	t.Setenv("TERM", "xterm-256color")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv := rolloutServer(t, 1000, promote.RolloutSucceeded)
	var reads atomic.Int64
	next := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/samples") && reads.Add(1) > 1 {
			cancel() // Ctrl-C once the first line is drawn
		}
		next.ServeHTTP(w, r)
	})
	tty, output := openPTY(t, 200)
	var errOut bytes.Buffer
	code := Main(ctx, []string{"rollout", "watch", "pr_1", "--every", "5ms", "--server", srv.URL, "--token", "prm_t"},
		strings.NewReader(""), tty, &errOut)
	if code != ExitInterrupted {
		t.Fatalf("watch = exit %d, %s; want 130", code, errOut.String())
	}
	if out := output(); !strings.HasSuffix(out, "| continue\n") {
		t.Errorf("an interrupted watch wrote %q, want its line ended", out)
	}
}
