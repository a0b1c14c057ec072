package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// TestServeCanarySurvivesKills rolls out one version after another by
// canary, healthy and faulty in turn, under steady traffic through the
// agent, each time killing the server (kill -9) at a random moment of the
// rollout (before it starts, in the middle of a step, around the
// analysis's decision, right after the rollout ends) and restarting it on
// the same data. Every rollout must end as its version deserves: a healthy
// one succeeded with all the traffic; a faulty one rolled back once, with
// one rollback commit, one hold, and the stable version serving alone. Each
// step is recorded once, no rollout is left active, the audit chain
// verifies, and no request reaches a version after its rollback was
// recorded. gittest.Kills reads the number of rounds (default 4) and the
// seed of the moments from the environment.
func TestServeCanarySurvivesKills(t *testing.T) {
	rounds, rng := gittest.Kills(t, 4)
	c := newCanarySetup(t, canaryPolicy)
	// Versions 2, 3, 4… roll out in turn over version 1: the even ones
	// are healthy, the odd ones fail one answer in ten, as the fixture's
	// 3 does.
	faulty := func(v string) bool { n, _ := strconv.Atoi(v); return n > 1 && n%2 == 1 }
	moreBackends(t, c, rounds+1, faulty)
	serve := func() (*child, string) { return startServer(t, c.args...) }

	srv, server := serve()
	_, must := clientOf(t, server)
	must(0, c.ci, "models", "create", "credit-risk")
	request := func(v string) string { return c.request(t, must, v) }
	state := func(id string) string {
		var p struct {
			State string `json:"state"`
		}
		_, out, _ := callServer(server, c.ci, "promotions", "show", id, "-o", "json")
		json.Unmarshal([]byte(out), &p)
		return p.State
	}
	id1 := request("1")
	waitFor(t, 30*time.Second, "version 1 to be live", func() (bool, string) {
		return state(id1) == "succeeded", serverLog(srv.stderr.String(), 20)
	})
	stable := "1"
	for i := 1; i <= rounds; i++ {
		v := strconv.Itoa(i + 1)
		bad := faulty(v)
		load := startLoad(t, c.agentAddr)
		id := request(v)
		moment := killMoment(t, rng, c, server, id, load, bad)
		down := time.Now()
		srv.kill(t)
		logs := srv.stderr.String()
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond) // down a while, under traffic
		up := time.Now()
		srv, server = serve()
		_, must = clientOf(t, server)
		what := fmt.Sprintf("round %d, version %s (faulty %t), killed %s", i, v, bad, moment)
		want := "succeeded"
		if bad {
			want = "rolled_back"
		}
		waitFor(t, 30*time.Second, what+": the promotion to be "+want, func() (bool, string) {
			s := state(id)
			_, show, _ := callServer(server, c.ci, "rollout", "show", id)
			return s == want, s + "\n" + show + "\nbefore the kill:\n" + serverLog(logs, 30) + "\nafter:\n" + serverLog(srv.stderr.String(), 30)
		})
		if bad {
			waitFor(t, 30*time.Second, what+": the rollback commit", func() (bool, string) {
				got := gittest.Run(t, c.bare, "rev-list", "--count", "--grep=^Rollback-Of: "+v+"$", "main")
				return got == "1", got + " rollback commits\n" + serverLog(srv.stderr.String(), 20)
			})
			// The commit lands once: give a second push the time to show.
			waitFor(t, 10*time.Second, what+": the agent to apply the rollback commit", func() (bool, string) {
				return agentApplied(c.agentAddr, gittest.Run(t, c.bare, "rev-parse", "main"))
			})
			if seen := served(c.agentAddr, 40); seen[stable] != 40 {
				t.Errorf("%s: once the rollback commit is applied prod served %v, want %s (stable) alone", what, seen, stable)
			}
			if got := gittest.Run(t, c.bare, "rev-list", "--count", "--grep=^Rollback-Of: "+v+"$", "main"); got != "1" {
				t.Errorf("%s: %s rollback commits of %s on the remote, want 1", what, got, v)
			}
			var holds []promote.Hold
			json.Unmarshal([]byte(must(0, c.ci, "holds", "list", "--model", "credit-risk", "--env", "prod", "-o", "json")), &holds)
			n := 0
			for _, h := range holds {
				if h.Version == v && h.Active() {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: %d active holds on %s in prod, want 1: %+v", what, n, v, holds)
			}
		} else {
			waitFor(t, 20*time.Second, what+": prod to serve "+v+" alone", func() (bool, string) {
				seen := served(c.agentAddr, 40)
				return seen[v] == 40, fmt.Sprint(seen)
			})
			stable = v
		}
		answers := load.stop()

		var events []promote.AuditEvent
		json.Unmarshal([]byte(must(0, c.ci, "audit", "list", "--promotion", id, "-o", "json")), &events)
		seen := map[string]int{}
		var rolledBack time.Time
		for _, e := range events {
			if !strings.HasPrefix(e.Action, "rollout.") {
				continue
			}
			seen[e.Action+" "+e.Decision]++
			if e.Action == promote.ActionRolloutStep && e.Decision == "rolled_back" {
				rolledBack = e.Time
			}
		}
		for d, n := range seen {
			if n != 1 && !strings.HasSuffix(d, " paused") {
				t.Errorf("%s: %q recorded %d times, want once: %v", what, d, n, seen)
			}
		}
		end := "rollout.finished succeeded"
		if bad {
			end = "rollout.step rolled_back"
		}
		if seen[end] != 1 {
			t.Errorf("%s: %q recorded %d times, want once: %v", what, end, seen[end], seen)
		}
		if bad {
			// The rolled-back candidate never answers a request sent
			// after its rollback was recorded: not before the kill, not
			// after the restart.
			var before, after, refused, all int
			for _, a := range answers {
				if a.version == v {
					all++
				}
				if a.err {
					if a.sent.After(down) && a.sent.Before(up) {
						refused++
					}
					continue
				}
				if a.version == v && a.sent.After(rolledBack) {
					if a.sent.Before(down) {
						before++
					} else {
						after++
					}
				}
			}
			t.Logf("%s: %d requests, %d unanswered while down; %s answered %d, %d of them after its rollback before the kill, %d after the restart",
				what, len(answers), refused, v, all, before, after)
			if before+after > 0 {
				t.Errorf("%s: %s answered %d requests sent after its rollback was recorded at %s (%d before the kill at %s, %d after the restart at %s)",
					what, v, before+after, rolledBack.Format(time.StampMicro), before, down.Format(time.StampMicro), after, up.Format(time.StampMicro))
			}
		}
		if !bad {
			t.Logf("%s: %d requests, succeeded", what, len(answers))
		}
		var active []json.RawMessage
		json.Unmarshal([]byte(must(0, c.ci, "rollout", "list", "--active", "-o", "json")), &active)
		if len(active) != 0 {
			t.Errorf("%s: %d rollouts left active", what, len(active))
		}
		if t.Failed() {
			t.Fatalf("%s: stopping; the server's log after the restart:\n%s", what, serverLog(srv.stderr.String(), 40))
		}
	}
	if out := must(0, c.ci, "audit", "verify"); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify: %s", out)
	}
}

// killMoment waits for a moment of the rollout of promotion id drawn from
// rng, and says which: a time after the request (the commit, the agent's
// sync and the start), a step reached, a number of the candidate's answers
// served (around the analysis's decisions: a faulty candidate's errors, a
// healthy one's requests), or the end of the rollout.
func killMoment(t *testing.T, rng interface{ IntN(int) int }, c *canarySetup, server, id string, load *loadRecorder, bad bool) string {
	t.Helper()
	step := func() string {
		_, out, _ := callServer(server, c.ci, "rollout", "show", id, "-o", "json")
		var r struct {
			State string `json:"state"`
			Step  int    `json:"step"`
		}
		json.Unmarshal([]byte(out), &r)
		if r.State == "" {
			return ""
		}
		return fmt.Sprintf("%s %d", r.State, r.Step+1)
	}
	// until polls cond for at most 20 s: a rollout that ends sooner is
	// killed when it is found ended.
	until := func(cond func() bool) {
		for end := time.Now().Add(20 * time.Second); !cond() && time.Now().Before(end); {
			s := step()
			if s != "" && !strings.HasPrefix(s, "running") {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	switch rng.IntN(4) {
	case 0:
		d := time.Duration(rng.IntN(600)) * time.Millisecond
		time.Sleep(d)
		return fmt.Sprintf("%v after the request", d)
	case 1:
		n := 1 + rng.IntN(3)
		if bad {
			n = 1 // a faulty candidate is rolled back in its first step
		}
		d := time.Duration(rng.IntN(150)) * time.Millisecond
		until(func() bool { return step() == fmt.Sprintf("running %d", n) })
		time.Sleep(d)
		return fmt.Sprintf("%v into step %d (%s)", d, n, step())
	case 2:
		if bad {
			// The analysis fails it after a few errors: the kill falls
			// before, at or after the decision.
			n := 1 + rng.IntN(8)
			until(func() bool { return load.errors() >= n })
			return fmt.Sprintf("at the candidate's error %d (%s)", n, step())
		}
		n := 1 + rng.IntN(250)
		until(func() bool { return load.count(func(a answer) bool { return a.track == "canary" }) >= n })
		return fmt.Sprintf("at the candidate's answer %d (%s)", n, step())
	default:
		d := time.Duration(rng.IntN(50)) * time.Millisecond
		until(func() bool { return false })
		time.Sleep(d)
		return fmt.Sprintf("%v after the rollout ended (%s)", d, step())
	}
}

// callServer runs a client command against server.
func callServer(server, tok string, args ...string) (int, string, string) {
	var out, errOut strings.Builder
	code := Main(context.Background(), append(args, "--server", server, "--token", tok), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// moreBackends adds model servers for versions 4 to last, faulty as said
// (one answer in ten fails), to c's endpoints file, with their artifacts.
func moreBackends(t *testing.T, c *canarySetup, last int, faulty func(string) bool) {
	t.Helper()
	i := slices.Index(c.args, "--agent-endpoints")
	file := c.args[i+1]
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw)
	for n := 4; n <= last; n++ {
		v := strconv.Itoa(n)
		_, d := artifact(t, c.art, v)
		c.digests[v] = d
		body += fmt.Sprintf("  - {model: credit-risk, digest: %q, url: %q}\n", d, modelBackend(t, v, faulty(v)))
	}
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// answer is what a request to prod got: the version and track that
// answered (from the splitter's headers), its status, or an error (the
// agent was down).
type answer struct {
	sent           time.Time
	version, track string
	code           int
	err            bool
}

// loadRecorder sends steady traffic to prod's credit-risk through the
// agent, one request at a time, and records every answer, until stop or
// the end of the test.
type loadRecorder struct {
	stopLoad func()
	wg       sync.WaitGroup
	mu       sync.Mutex
	answers  []answer
}

func startLoad(t *testing.T, agentAddr string) *loadRecorder {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loadRecorder{stopLoad: cancel}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{}}
	l.wg.Go(func() {
		defer client.CloseIdleConnections()
		for ctx.Err() == nil {
			a := answer{sent: time.Now()}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+agentAddr+"/prod/credit-risk/predict", nil)
			resp, err := client.Do(req)
			if err != nil {
				a.err = true
				time.Sleep(5 * time.Millisecond)
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				a.code, a.version, a.track = resp.StatusCode, resp.Header.Get(traffic.HeaderVersion), resp.Header.Get(traffic.HeaderTrack)
				time.Sleep(time.Millisecond)
			}
			if ctx.Err() == nil {
				l.mu.Lock()
				l.answers = append(l.answers, a)
				l.mu.Unlock()
			}
		}
	})
	t.Cleanup(func() { l.stop() }) // when the test stops in the round
	return l
}

// count counts the answers so far that match.
func (l *loadRecorder) count(match func(answer) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.answers {
		if match(a) {
			n++
		}
	}
	return n
}

// errors counts the candidate's failed answers so far.
func (l *loadRecorder) errors() int {
	return l.count(func(a answer) bool { return a.track == "canary" && a.code == http.StatusInternalServerError })
}

// stop ends the traffic and returns every answer.
func (l *loadRecorder) stop() []answer {
	l.stopLoad()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.answers)
}

// served sends n requests to prod's credit-risk and counts the versions
// that answered (the error, for one that did not get an answer).
func served(agentAddr string, n int) map[string]int {
	seen := map[string]int{}
	for range n {
		resp, err := http.Get("http://" + agentAddr + "/prod/credit-risk/predict")
		if err != nil {
			seen[err.Error()]++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		seen[resp.Header.Get(traffic.HeaderVersion)]++
	}
	return seen
}

// agentApplied reports whether the agent at agentAddr applied commit, and
// what its status says.
func agentApplied(agentAddr, commit string) (bool, string) {
	resp, err := http.Get("http://" + agentAddr + "/-/status")
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), commit), string(b)
}

// serverLog is the last n lines of a server's log but for the requests to
// its API, which the test's polling fills it with.
func serverLog(log string, n int) string {
	var keep []string
	for line := range strings.Lines(log) {
		if !strings.Contains(line, "msg=request ") {
			keep = append(keep, line)
		}
	}
	return tail(strings.Join(keep, ""), n)
}
