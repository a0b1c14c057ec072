package traffic

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// judgeCall is what a judge was told of one request.
type judgeCall struct {
	Track  Track
	Failed bool
}

// countingJudge records what it is told, and trips from its tripAt-th
// canary request on (never when tripAt is 0).
type countingJudge struct {
	tripAt int

	mu       sync.Mutex
	calls    []judgeCall
	seconds  []float64
	canaries int
}

func (j *countingJudge) Canary(failed bool, seconds float64) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls = append(j.calls, judgeCall{TrackCanary, failed})
	j.seconds = append(j.seconds, seconds)
	j.canaries++
	return j.tripAt > 0 && j.canaries >= j.tripAt
}

func (j *countingJudge) Stable(failed bool, seconds float64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls = append(j.calls, judgeCall{TrackStable, failed})
	j.seconds = append(j.seconds, seconds)
}

func (j *countingJudge) told() ([]judgeCall, []float64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]judgeCall(nil), j.calls...), append([]float64(nil), j.seconds...)
}

// judgeFronts are the two paths a request takes to a splitter: the fast
// path of a Server (whose fallback must serve nothing) and net/http's
// server calling ServeHTTP. start returns the front's address and a check
// run at the test's end.
var judgeFronts = []struct {
	name  string
	start func(t *testing.T, s *Splitter) (addr string, check func())
}{
	{"fast", func(t *testing.T, s *Splitter) (string, func()) {
		f := startFast(t, s, nil)
		return f.addr, func() {
			if n := f.slow.Load(); n != 0 {
				t.Errorf("the fallback served %d requests, want none (all on the fast path)", n)
			}
		}
	}},
	{"net/http", func(t *testing.T, s *Splitter) (string, func()) { return startSlow(t, s), func() {} }},
}

// send sends one GET of path to addr on a new connection, with the extra
// header lines, and reads its answer.
func send(t *testing.T, addr, path string, lines ...string) answer {
	t.Helper()
	a, err := trySend(addr, path, lines...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// trySend is send for a goroutine other than the test's.
func trySend(addr, path string, lines ...string) (answer, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return answer{}, fmt.Errorf("GET %s: %w", path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	raw := request("", append([]string{"GET " + path + " HTTP/1.1", "Host: x"}, lines...)...)
	if _, err := io.WriteString(c, raw); err != nil {
		return answer{}, fmt.Errorf("GET %s: %w", path, err)
	}
	a, err := readAnswer(bufio.NewReader(c), "GET")
	if err != nil {
		return answer{}, fmt.Errorf("GET %s: %w", path, err)
	}
	return a, nil
}

// A judge is told of every stable and canary request as /metrics counts
// it, on both paths: failed for a 5xx, a timeout and a refused
// connection, not for a 4xx; the latency the backend took.
func TestJudgeSeesEveryRequest(t *testing.T) {
	const delay, timeout = 60 * time.Millisecond, 250 * time.Millisecond
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	handle := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			time.Sleep(delay)
			io.WriteString(w, "ok")
		case "/missing":
			http.NotFound(w, r)
		case "/fail":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}
	for _, front := range judgeFronts {
		t.Run(front.name, func(t *testing.T) {
			_, stable := backendServer(t, "v1", handle)
			_, canary := backendServer(t, "v2", handle)
			s, reg := splitBetween(t, Config{Timeout: timeout}, stable, canary, 1)
			j := &countingJudge{}
			s.SetJudge(j)
			addr, check := front.start(t, s)

			type step struct {
				path    string
				status  int
				track   Track
				failed  bool
				atLeast time.Duration // the latency the judge must be told, at least
			}
			var want []judgeCall
			var mins []time.Duration
			run := func(steps ...step) {
				t.Helper()
				for _, st := range steps {
					a := send(t, addr, st.path)
					if a.Status != st.status || a.Header.Get(HeaderTrack) != string(st.track) {
						t.Fatalf("GET %s = %d from %s, want %d from %s", st.path, a.Status, a.Header.Get(HeaderTrack), st.status, st.track)
					}
					want = append(want, judgeCall{st.track, st.failed})
					mins = append(mins, st.atLeast)
				}
			}
			run(
				step{"/ok", 200, TrackCanary, false, delay},
				step{"/missing", 404, TrackCanary, false, 0},
				step{"/fail", 500, TrackCanary, true, 0},
				step{"/slow", 504, TrackCanary, true, timeout},
			)
			if err := s.SetCanary(new(refusedBackend(t, "v2")), 1); err != nil {
				t.Fatal(err)
			}
			run(step{"/ok", 502, TrackCanary, true, 0})
			if err := s.SetCanary(&canary, 0); err != nil {
				t.Fatal(err)
			}
			run(
				step{"/ok", 200, TrackStable, false, delay},
				step{"/missing", 404, TrackStable, false, 0},
				step{"/fail", 500, TrackStable, true, 0},
				step{"/slow", 504, TrackStable, true, timeout},
			)

			got, seconds := j.told()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("the judge was told (-want +got):\n%s", diff)
			}
			for i, sec := range seconds {
				// Near the backend's time: at least it, and not a second
				// more on a machine however busy.
				if d := time.Duration(sec * float64(time.Second)); d < mins[i] || d > mins[i]+time.Second {
					t.Errorf("request %d (%+v): the judge was told %v, want %v or a little more", i, want[i], d, mins[i])
				}
			}
			for _, track := range []Track{TrackStable, TrackCanary} {
				var counted float64
				for _, o := range outcomes {
					counted += requests(t, reg, track, o)
				}
				var told float64
				for _, c := range got {
					if c.Track == track {
						told++
					}
				}
				if counted != told {
					t.Errorf("/metrics counted %v %s requests, the judge was told of %v", counted, track, told)
				}
			}
			if s.Tripped() {
				t.Error("Tripped() = true for a judge that never trips")
			}
			check()
		})
	}
}

// A judge is told neither of a person's requests pinned to the candidate
// by the candidate header (counted on the pinned track) nor of mirrored
// requests (the shadow track), only of the stable request mirrored.
func TestJudgeSkipsPinnedAndMirrored(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	s, reg := splitBetween(t, Config{CandidateHeader: "X-Candidate"}, stable, canary, 0)
	j := &countingJudge{tripAt: 1}
	s.SetJudge(j)
	addr := startSlow(t, s)

	if a := send(t, addr, "/p", "X-Candidate: 1"); a.Header.Get(HeaderVersion) != "v2" || a.Header.Get(HeaderTrack) != "canary" {
		t.Fatalf("a pinned request was answered by %s %s, want the canary v2", a.Header.Get(HeaderTrack), a.Header.Get(HeaderVersion))
	}
	if got, _ := j.told(); len(got) != 0 {
		t.Errorf("after a pinned request the judge was told %+v, want nothing", got)
	}
	if err := s.SetShadow(&canary, 1); err != nil {
		t.Fatal(err)
	}
	if a := send(t, addr, "/p"); a.Header.Get(HeaderTrack) != "stable" {
		t.Fatalf("a request with a shadow was answered by %s, want stable", a.Header.Get(HeaderTrack))
	}
	waitFor(t, "the mirrored request counted", func() bool { return requests(t, reg, TrackShadow, OutcomeOK) == 1 })
	if got, _ := j.told(); !cmp.Equal(got, []judgeCall{{TrackStable, false}}) {
		t.Errorf("after a mirrored request the judge was told %+v, want the stable request only", got)
	}
	if requests(t, reg, TrackPinned, OutcomeOK) != 1 {
		t.Errorf("pinned requests counted = %v, want 1", requests(t, reg, TrackPinned, OutcomeOK))
	}
	if s.Tripped() {
		t.Error("a judge that trips at its first canary request tripped without one")
	}
}

// splitterLog returns a Logger for a splitter's Config and what it wrote.
func splitterLog() (*slog.Logger, *testtool.Buffer) {
	buf := new(testtool.Buffer)
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

const tripLog = "the judge took the canary's traffic away"

// A judge that trips at the 3rd canary request takes the canary's
// traffic away at once, on both paths: every later request goes to
// stable, the weight is 0, and no weight above 0 is taken until the
// judge is detached or replaced.
func TestJudgeTripsTheCanary(t *testing.T) {
	for _, front := range judgeFronts {
		t.Run(front.name, func(t *testing.T) {
			var hits [2]atomic.Int64 // stable, canary
			_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) { hits[0].Add(1) })
			_, canary := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) { hits[1].Add(1) })
			logger, logged := splitterLog()
			s, reg := splitBetween(t, Config{Logger: logger}, stable, canary, 1)
			s.SetJudge(&countingJudge{tripAt: 3})
			addr, check := front.start(t, s)

			var tracks []string
			for range 10 {
				a := send(t, addr, "/p")
				if a.Status != http.StatusOK {
					t.Fatalf("GET /p = %d %s", a.Status, a.Body)
				}
				tracks = append(tracks, a.Header.Get(HeaderTrack))
			}
			want := strings.Split("canary canary canary stable stable stable stable stable stable stable", " ")
			if diff := cmp.Diff(want, tracks); diff != "" {
				t.Errorf("tracks with a judge that trips at the 3rd canary request (-want +got):\n%s", diff)
			}
			if got := hits[1].Load(); got != 3 {
				t.Errorf("the canary backend got %d requests, want 3", got)
			}
			if got := hits[0].Load(); got != 7 {
				t.Errorf("the stable backend got %d requests, want 7", got)
			}
			tripped := func(want bool, weight float64) {
				t.Helper()
				if s.Tripped() != want {
					t.Errorf("Tripped() = %v, want %v", s.Tripped(), want)
				}
				if got := s.Weights(); got != weight {
					t.Errorf("Weights() = %v, want %v", got, weight)
				}
				if v, _ := metric(t, reg, MetricCanaryWeight, map[string]string{LabelModel: "m", LabelEnv: "prod"}); v != weight {
					t.Errorf("%s = %v, want %v", MetricCanaryWeight, v, weight)
				}
			}
			tripped(true, 0)
			if n := strings.Count(logged.String(), tripLog); n != 1 {
				t.Errorf("the log says %q %d times, want once:\n%s", tripLog, n, logged)
			}

			for name, set := range map[string]func() error{
				"SetWeight(0.5)":          func() error { return s.SetWeight(0.5) },
				"SetCanary(canary, 0.5)":  func() error { return s.SetCanary(&canary, 0.5) },
				"SetCanary(another, 0.1)": func() error { return s.SetCanary(new(refusedBackend(t, "v3")), 0.1) },
			} {
				err := set()
				if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(fmt.Sprint(err), tripLog) {
					t.Errorf("%s while tripped = %v, want a Conflict saying %q", name, err, tripLog)
				}
				tripped(true, 0)
			}
			if a := send(t, addr, "/p"); a.Header.Get(HeaderTrack) != "stable" || a.Header.Get(HeaderVersion) != "v1" {
				t.Errorf("after the refused changes a request went to %s %s, want stable v1", a.Header.Get(HeaderTrack), a.Header.Get(HeaderVersion))
			}
			// Weight 0 is what it is already: taken.
			if err := s.SetWeight(0); err != nil {
				t.Errorf("SetWeight(0) while tripped: %v", err)
			}
			if err := s.SetCanary(&canary, 0); err != nil {
				t.Errorf("SetCanary(canary, 0) while tripped: %v", err)
			}

			s.SetJudge(nil)
			tripped(false, 0)
			if err := s.SetWeight(0.5); err != nil {
				t.Fatalf("SetWeight(0.5) after SetJudge(nil): %v", err)
			}
			tripped(false, 0.5)

			// Tripped again, then cleared by a new judge.
			if err := s.SetWeight(1); err != nil {
				t.Fatal(err)
			}
			s.SetJudge(&countingJudge{tripAt: 1})
			if a := send(t, addr, "/p"); a.Header.Get(HeaderTrack) != "canary" {
				t.Fatalf("at weight 1 a request went to %s, want canary", a.Header.Get(HeaderTrack))
			}
			tripped(true, 0)
			s.SetJudge(&countingJudge{})
			tripped(false, 0)
			if err := s.SetCanary(&canary, 0.25); err != nil {
				t.Fatalf("SetCanary(canary, 0.25) with a new judge: %v", err)
			}
			tripped(false, 0.25)
			if n := strings.Count(logged.String(), tripLog); n != 2 {
				t.Errorf("the log says %q %d times, want once per trip (2):\n%s", tripLog, n, logged)
			}
			check()
		})
	}
}

// A client kept on the canary by its sticky header or cookie goes to
// stable once the judge trips.
func TestJudgeTripsStickyClients(t *testing.T) {
	for _, sticky := range []struct {
		name   string
		cfg    Sticky
		client func(id string) string // the request's header line
	}{
		{"header", Sticky{Header: "X-Client-Id"}, func(id string) string { return "X-Client-Id: " + id }},
		{"cookie", Sticky{Cookie: "promote_client"}, func(id string) string { return "Cookie: promote_client=" + id }},
	} {
		for _, front := range judgeFronts {
			t.Run(sticky.name+"/"+front.name, func(t *testing.T) {
				var canaryHits atomic.Int64
				_, stable := backendServer(t, "v1", nil)
				_, canary := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) { canaryHits.Add(1) })
				s, _ := splitBetween(t, Config{Sticky: sticky.cfg}, stable, canary, 0.5)
				s.SetJudge(&countingJudge{tripAt: 3})
				addr, check := front.start(t, s)
				id := ""
				for i := 0; id == ""; i++ {
					if c := fmt.Sprintf("client-%d", i); s.point(c) < 0.5 {
						id = c
					}
				}
				var tracks []string
				for range 8 {
					tracks = append(tracks, send(t, addr, "/p", sticky.client(id)).Header.Get(HeaderTrack))
				}
				want := strings.Split("canary canary canary stable stable stable stable stable", " ")
				if diff := cmp.Diff(want, tracks); diff != "" {
					t.Errorf("client %s, placed on the canary, after the trip at its 3rd request (-want +got):\n%s", id, diff)
				}
				if got := canaryHits.Load(); got != 3 {
					t.Errorf("the canary backend got %d requests, want 3", got)
				}
				check()
			})
		}
	}
}

// barrierJudge holds the verdict on each canary request until n of them
// have come, then trips them all at once.
type barrierJudge struct {
	countingJudge
	n   int
	all chan struct{}
}

func (j *barrierJudge) Canary(failed bool, seconds float64) bool {
	j.countingJudge.Canary(failed, seconds)
	j.mu.Lock()
	if j.canaries == j.n {
		close(j.all)
	}
	j.mu.Unlock()
	select {
	case <-j.all:
	case <-time.After(10 * time.Second):
	}
	return true
}

// Concurrent canary requests that all trip the judge together take the
// traffic away once (one log line), and every request after them goes to
// stable.
func TestJudgeTripsOnceUnderLoad(t *testing.T) {
	const clients = 6
	for _, front := range judgeFronts {
		t.Run(front.name, func(t *testing.T) {
			_, stable := backendServer(t, "v1", nil)
			_, canary := backendServer(t, "v2", nil)
			logger, logged := splitterLog()
			s, _ := splitBetween(t, Config{Logger: logger}, stable, canary, 1)
			j := &barrierJudge{n: clients, all: make(chan struct{})}
			s.SetJudge(j)
			addr, check := front.start(t, s)
			var wg sync.WaitGroup
			tracks := make([][]string, clients)
			for i := range clients {
				wg.Go(func() {
					for range 6 {
						a, err := trySend(addr, "/p")
						if err != nil {
							t.Error(err)
							return
						}
						tracks[i] = append(tracks[i], a.Header.Get(HeaderTrack))
						s.Tripped()
						s.Weights()
					}
				})
			}
			wg.Wait()
			want := strings.Split("canary stable stable stable stable stable", " ")
			for i, got := range tracks {
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("client %d: tracks (-want +got):\n%s", i, diff)
				}
			}
			if !s.Tripped() || s.Weights() != 0 {
				t.Errorf("Tripped() = %v, Weights() = %v; want true, 0", s.Tripped(), s.Weights())
			}
			if n := strings.Count(logged.String(), tripLog); n != 1 {
				t.Errorf("the log says %q %d times, want once:\n%s", tripLog, n, logged)
			}
			check()
		})
	}
}

// gateJudge trips at every canary request, once let go: it says it has a
// request (entered) and waits for release first.
type gateJudge struct {
	entered, release chan struct{}
}

func (j gateJudge) Canary(bool, float64) bool {
	j.entered <- struct{}{}
	<-j.release
	return true
}

func (gateJudge) Stable(bool, float64) {}

// A judge detached while it judges a request takes nothing away when it
// trips then: its verdict is no longer the splitter's.
func TestJudgeDetachedWhileJudging(t *testing.T) {
	for _, front := range judgeFronts {
		t.Run(front.name, func(t *testing.T) {
			_, stable := backendServer(t, "v1", nil)
			_, canary := backendServer(t, "v2", nil)
			s, _ := splitBetween(t, Config{}, stable, canary, 1)
			j := gateJudge{entered: make(chan struct{}), release: make(chan struct{})}
			s.SetJudge(j)
			addr, check := front.start(t, s)
			answered := make(chan answer, 1)
			go func() {
				a, err := trySend(addr, "/p")
				if err != nil {
					t.Error(err)
				}
				answered <- a
			}()
			select {
			case <-j.entered:
			case a := <-answered:
				t.Fatalf("the request was answered (%d %s) without the judge", a.Status, a.Body)
			}
			s.SetJudge(nil)
			close(j.release)
			if a := <-answered; a.Header.Get(HeaderTrack) != "canary" {
				t.Fatalf("the request went to %s, want canary", a.Header.Get(HeaderTrack))
			}
			if s.Tripped() || s.Weights() != 1 {
				t.Errorf("after a detached judge tripped: Tripped() = %v, Weights() = %v; want false, 1", s.Tripped(), s.Weights())
			}
			if err := s.SetWeight(0.5); err != nil {
				t.Errorf("SetWeight(0.5) after a detached judge tripped: %v", err)
			}
			check()
		})
	}
}

// TestMoveCanaryKeepsTheWeight checks MoveCanary, which the agent uses
// when a candidate's endpoint moves: the new backend takes the canary's
// share as it is under the splitter's lock. A weight read before a judge
// tripped and written back with SetCanary is refused; MoveCanary keeps
// the 0 the judge set, and the move succeeds.
func TestMoveCanaryKeepsTheWeight(t *testing.T) {
	var hits [3]atomic.Int64 // stable, canary, moved
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) { hits[0].Add(1) })
	_, canary := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) { hits[1].Add(1) })
	_, moved := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) { hits[2].Add(1) })
	s, _ := splitBetween(t, Config{}, stable, canary, 1)
	addr := startSlow(t, s)

	if err := s.MoveCanary(nil); err == nil {
		t.Error("MoveCanary(nil) = nil, want an error")
	}
	if err := s.MoveCanary(&moved); err != nil {
		t.Fatalf("MoveCanary: %v", err)
	}
	if got := s.Weights(); got != 1 {
		t.Errorf("Weights() after MoveCanary = %v, want 1, as before", got)
	}
	if a := send(t, addr, "/p"); a.Header.Get(HeaderTrack) != "canary" || hits[2].Load() != 1 || hits[1].Load() != 0 {
		t.Errorf("after MoveCanary a request went to %s (hits %d %d %d), want the moved canary", a.Header.Get(HeaderTrack),
			hits[0].Load(), hits[1].Load(), hits[2].Load())
	}

	// The agent's old way raced with a trip: read, trip, write back.
	read := s.Weights()
	s.SetJudge(&countingJudge{tripAt: 1})
	send(t, addr, "/p")
	if !s.Tripped() {
		t.Fatal("the judge did not trip")
	}
	if err := s.SetCanary(&canary, read); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("SetCanary with the weight read before the trip = %v, want a Conflict", err)
	}
	if err := s.MoveCanary(&canary); err != nil {
		t.Errorf("MoveCanary after the trip: %v", err)
	}
	if got := s.Weights(); got != 0 || !s.Tripped() {
		t.Errorf("after MoveCanary: weight %v, tripped %v; want 0, true", got, s.Tripped())
	}
	before := hits[0].Load()
	if a := send(t, addr, "/p"); a.Header.Get(HeaderTrack) != "stable" || hits[0].Load() != before+1 {
		t.Errorf("after the trip and the move a request went to %s, want stable", a.Header.Get(HeaderTrack))
	}
}
