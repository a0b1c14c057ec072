package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

func TestWatchLine(t *testing.T) {
	v := analysis.Verdict{Decision: analysis.Continue, Tests: []analysis.TestResult{
		{Name: analysis.TestErrorRate, Sequential: true, CanaryRequests: 200, CanaryEvents: 1, StableRequests: 1800, StableEvents: 9},
		{Name: analysis.TestLatency, Sequential: true, LatencyThreshold: 0.1, CanaryRequests: 200, CanaryEvents: 24, StableRequests: 1800, StableEvents: 180},
	}}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	r := promote.Rollout{State: promote.RolloutRunning, Step: 0, Weight: 0.1, Verdict: raw}
	last := &promote.RolloutSample{Canary: promote.TrackSample{Requests: 20, LatencyP95: 0.0624}, Stable: promote.TrackSample{Requests: 180, LatencyP95: 0.051}}
	want := "[##..................] running step 1 weight 10% | canary 200 req, 0.50% errors | stable 1800 req, 0.50% errors" +
		" | p95 canary 62.4 ms, stable 51 ms | slower than 0.1s: canary 12.00%, stable 10.00% | continue"
	if got := watchLine(r, last, true, time.Time{}); got != want {
		t.Errorf("watchLine =\n%s\nwant\n%s", got, want)
	}
	// A shadow: no step, weight or bar; its track is the shadow.
	shadow := promote.Rollout{State: promote.RolloutRunning, Strategy: policy.StrategyShadow, StepStartedAt: time.Date(2026, 11, 26, 11, 42, 3, 0, time.UTC), Verdict: raw}
	want = "running shadow, mirroring since 11:42:03 UTC | shadow 200 req, 0.50% errors | stable 1800 req, 0.50% errors" +
		" | p95 shadow 62.4 ms, stable 51 ms | slower than 0.1s: shadow 12.00%, stable 10.00% | continue"
	if got := watchLine(shadow, last, true, time.Time{}); got != want {
		t.Errorf("watchLine of a shadow =\n%s\nwant\n%s", got, want)
	}
	// A paused rollout's reason, a person's words, ends the line with its
	// control characters shown as escapes and its line breaks as spaces:
	// the line is redrawn in place, and an escape sequence in the reason
	// would act on the terminal.
	paused := promote.Rollout{State: promote.RolloutPaused, Weight: 0.1, Verdict: raw, Reason: "paused by lena: look\nat \x1b[2Jthe p95"}
	if got := watchLine(paused, last, false, time.Time{}); !strings.HasSuffix(got, ` | paused by lena: look at \x1b[2Jthe p95`) {
		t.Errorf("watchLine of a paused rollout = %q, want it to end with the reason, its control characters escaped", got)
	}
	// Before the first sample, and without a bar.
	if got := watchLine(r, nil, false, time.Time{}); strings.Contains(got, "p95") || strings.HasPrefix(got, "[") || !strings.HasPrefix(got, "running step 1") {
		t.Errorf("watchLine without a sample or a bar = %s", got)
	}
}

// watch refuses what it cannot do before it asks the server anything.
func TestWatchUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "watch", "pr_1", "--every", "0s"}, "--every 0s: want a positive duration"},
		{[]string{"rollout", "watch", "pr_1", "-o", "yaml"}, `--output "yaml": want table or json`},
	} {
		code, _, stderr := run(t, "", append(tt.args, "--server", "http://127.0.0.1:1")...)
		if code != ExitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, %s; want %d and %q", tt.args, code, stderr, ExitUsage, tt.want)
		}
	}
}

// An interrupt ends a watch as interrupted, whether it comes between two
// reads or during one: neither a rollback (1) nor a usage error (2).
func TestWatchInterrupted(t *testing.T) {
	for _, tt := range []struct {
		name   string
		during bool // the interrupt comes while the second read is under way
	}{{"between reads", false}, {"during a read", true}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var reads atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if strings.HasSuffix(r.URL.Path, "/samples") {
					fmt.Fprint(w, `[]`)
					return
				}
				if reads.Add(1) > 1 {
					cancel()
				}
				json.NewEncoder(w).Encode(promote.Rollout{PromotionID: "pr_1", Model: "credit-risk", Version: "2", Environment: "prod",
					State: promote.RolloutRunning, Weight: 0.1})
			}))
			defer srv.Close()
			every := "10ms"
			out := &cancelOnWrite{}
			if !tt.during {
				every, out.cancel = "1h", cancel // Ctrl-C once the first line is drawn
			}
			var errOut bytes.Buffer
			code := Main(ctx, []string{"rollout", "watch", "pr_1", "--every", every, "--server", srv.URL, "--token", "prm_t"},
				strings.NewReader(""), out, &errOut)
			if code != ExitInterrupted || strings.TrimSpace(errOut.String()) != "promote: interrupted" {
				t.Errorf("an interrupted watch = exit %d, stderr %q; want %d, %q", code, errOut.String(), ExitInterrupted, "promote: interrupted")
			}
			if !strings.HasPrefix(out.String(), "running step 1 weight 10%") {
				t.Errorf("an interrupted watch printed %q, want its first line", out.String())
			}
		})
	}
}

// cancelOnWrite is a buffer that calls cancel, when set, at its first
// write.
type cancelOnWrite struct {
	bytes.Buffer
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	if c.cancel != nil {
		c.cancel()
	}
	return c.Buffer.Write(p)
}

// rollout show names a shadow's candidate track and says it answers no
// user; a canary's shows its step and weight.
func TestDescribeRollout(t *testing.T) {
	raw, err := json.Marshal(analysis.Verdict{Decision: analysis.Continue, Tests: []analysis.TestResult{
		{Name: analysis.TestErrorRate, Status: analysis.StatusOK, Sequential: true, CanaryRequests: 200, CanaryEvents: 1, StableRequests: 1800, StableEvents: 9, PValue: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		strategy  string
		want, not []string
	}{
		{policy.StrategyCanary, []string{"Revision\t7", "Step\t1, weight 10%", "canary 1/200, stable 9/1800"}, []string{"Mirroring", "shadow 1/200"}},
		{policy.StrategyShadow, []string{"Mirroring\tsince", "shadow 1/200, stable 9/1800"}, []string{"Step\t", "canary 1/200"}},
	} {
		var b bytes.Buffer
		describeRollout(&b, promote.Rollout{Strategy: tt.strategy, State: promote.RolloutRunning, Weight: 0.1, Verdict: raw, Revision: 7}, time.Now())
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: describeRollout lacks %q:\n%s", tt.strategy, w, b.String())
			}
		}
		for _, n := range tt.not {
			if strings.Contains(b.String(), n) {
				t.Errorf("%s: describeRollout has %q:\n%s", tt.strategy, n, b.String())
			}
		}
	}
}

// rollout show and watch give a history test's counts against stable's
// past rate and its bound, not against stable's counts now, which a
// history test does not compare with; a skipped one says why.
func TestDescribeRolloutHistory(t *testing.T) {
	raw, err := json.Marshal(analysis.Verdict{Decision: analysis.Continue, Tests: []analysis.TestResult{
		{Name: analysis.TestErrorRate, Status: analysis.StatusOK, Sequential: true, CanaryRequests: 200, CanaryEvents: 1, StableRequests: 1800, StableEvents: 9, PValue: 1},
		{Name: analysis.TestHistoryErrorRate, Status: analysis.StatusOK, Sequential: true, CanaryRequests: 200, CanaryEvents: 1,
			StableRequests: 1800, StableEvents: 9, PastRate: 0.005, PastBound: 0.0052734, PValue: 0.8},
		{Name: analysis.TestHistoryLatency, Status: analysis.StatusSkipped, Sequential: true, PValue: 1, Detail: "the history has no latency histogram"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := promote.Rollout{Strategy: policy.StrategyCanary, State: promote.RolloutRunning, Weight: 0.1, Verdict: raw}
	var b bytes.Buffer
	describeRollout(&b, r, time.Now())
	for _, want := range []string{
		"history_error_rate\tok canary 1/200 against stable's past 0.5% (bound 0.527%), p 0.8",
		"history_latency\tskipped the history has no latency histogram",
		"error_rate\tok canary 1/200, stable 9/1800",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("describeRollout lacks %q:\n%s", want, b.String())
		}
	}
	if line := watchLine(r, nil, false, time.Now()); !strings.Contains(line, "canary errors 0.50% | stable's past 0.5%, bound 0.527%") {
		t.Errorf("watch line %q lacks the history test's past", line)
	}
}

// rollout show of the first version in an environment, which has no
// stable version, says so rather than "against stable " and nothing; an
// SLO guard that holds shows the canary's counts it judged, as a
// comparison with stable does, rather than its status alone.
func TestDescribeRolloutFirstVersionAndGuards(t *testing.T) {
	raw, err := json.Marshal(analysis.Verdict{Decision: analysis.Continue, Tests: []analysis.TestResult{
		{Name: analysis.TestSLOErrorRate, Status: analysis.StatusOK, CanaryRequests: 325, CanaryEvents: 2, StableRequests: 765, PValue: 1},
		{Name: analysis.TestSLOLatency, Status: analysis.StatusPending, PValue: 1, Detail: "waiting for 100 canary requests in the latency histogram, have 1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, stable string
		want         []string
	}{
		{"first version", "", []string{"Strategy\tcanary (no stable version: the first version in prod)\n"}},
		{"after a stable one", "1", []string{"Strategy\tcanary against stable 1\n"}},
	} {
		var b bytes.Buffer
		describeRollout(&b, promote.Rollout{Strategy: policy.StrategyCanary, Environment: "prod", Stable: tt.stable, State: promote.RolloutSucceeded, Weight: 1, Verdict: raw}, time.Now())
		want := append(tt.want, "  slo_error_rate\tok canary 2/325, p 1\n",
			"  slo_latency_p95\tpending waiting for 100 canary requests in the latency histogram, have 1\n")
		for _, w := range want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: describeRollout lacks %q:\n%s", tt.name, w, b.String())
			}
		}
	}
}

// The rollout commands' help says what they do: the operations need the
// approver role (not a group), a paused shadow mirrors nothing, and watch
// names every exit code it has.
func TestRolloutHelpSaysWhatItDoes(t *testing.T) {
	for _, tt := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"rollout"}, []string{"need an approver's token"}, []string{"ml-lead"}},
		{[]string{"rollout", "pause"}, []string{"a shadow stops mirroring until it is resumed"}, nil},
		{[]string{"rollout", "watch"}, []string{"Exits 0 when the rollout succeeds, 1 when it is rolled back, 130 when interrupted",
			"an unknown promotion, or one that ended without a rollout, is bad input (exit 2)"}, nil},
	} {
		code, out, errOut := run(t, "", append(tt.args, "--help")...)
		if code != ExitOK {
			t.Fatalf("promote %s --help = exit %d: %s", strings.Join(tt.args, " "), code, errOut)
		}
		flat := strings.Join(strings.Fields(out), " ")
		for _, w := range tt.want {
			if !strings.Contains(flat, w) {
				t.Errorf("promote %s --help lacks %q:\n%s", strings.Join(tt.args, " "), w, out)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(flat, n) {
				t.Errorf("promote %s --help says %q:\n%s", strings.Join(tt.args, " "), n, out)
			}
		}
	}
}

// A line redrawn in a terminal fits it: the details go, the last first,
// and the bar before a detail; the step, the weight and the decision stay.
func TestWatchLineFit(t *testing.T) {
	raw, err := json.Marshal(analysis.Verdict{Decision: analysis.Continue, Tests: []analysis.TestResult{
		{Name: analysis.TestErrorRate, Sequential: true, CanaryRequests: 208, StableRequests: 1890, StableEvents: 8},
		{Name: analysis.TestLatency, Sequential: true, LatencyThreshold: 0.1, CanaryRequests: 208, CanaryEvents: 20, StableRequests: 1890, StableEvents: 190},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := promote.Rollout{State: promote.RolloutRunning, Weight: 0.1, Verdict: raw}
	last := &promote.RolloutSample{Canary: promote.TrackSample{LatencyP95: 0.0612}, Stable: promote.TrackSample{LatencyP95: 0.0589}}
	f := watchFieldsOf(r, last, true, time.Time{})
	for _, tt := range []struct {
		width int
		want  string
	}{
		{300, "[##..................] running step 1 weight 10% | canary 208 req, 0.00% errors | stable 1890 req, 0.42% errors" +
			" | p95 canary 61.2 ms, stable 58.9 ms | slower than 0.1s: canary 9.62%, stable 10.05% | continue"},
		{200, "running step 1 weight 10% | canary 208 req, 0.00% errors | stable 1890 req, 0.42% errors" +
			" | p95 canary 61.2 ms, stable 58.9 ms | slower than 0.1s: canary 9.62%, stable 10.05% | continue"},
		{180, "[##..................] running step 1 weight 10% | canary 208 req, 0.00% errors | stable 1890 req, 0.42% errors" +
			" | p95 canary 61.2 ms, stable 58.9 ms | continue"},
		{120, "running step 1 weight 10% | canary 208 req, 0.00% errors | stable 1890 req, 0.42% errors | continue"},
		{80, "[##..................] running step 1 weight 10% | continue"},
		{40, "running step 1 weight 10% | continue"},
		{20, "running step 1 wei…"},
	} {
		if got := f.fit(tt.width); got != tt.want {
			t.Errorf("fit(%d) = %q, want %q", tt.width, got, tt.want)
		}
	}
	if got, want := f.String(), watchLine(r, last, true, time.Time{}); got != want {
		t.Errorf("String() = %q, want the whole line %q", got, want)
	}
}

// A rollout starts a moment after its promotion is approved, once its
// commit lands: watch run at once ("promote approve ID && promote rollout
// watch ID") waits for it, where it failed as a rollout not found, exit 2.
// A promotion that has ended without a rollout, or none at all, is still
// bad input, named.
func TestWatchWaitsForRollout(t *testing.T) {
	for _, tt := range []struct {
		name      string
		promotion promote.State // "" for no such promotion
		code      int
		out, err  string
	}{
		{"approved, then rolled out", promote.StateApproved, ExitOK, "promotion pr_1 is approved: waiting for its rollout to start\nsucceeded step 1 weight 100%", ""},
		{"ended without a rollout", promote.StateBlocked, ExitUsage, "", `promotion pr_1 is blocked and has no rollout`},
		{"no such promotion", "", ExitUsage, "", `promotion "pr_1" not found`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var rolloutReads atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case strings.HasSuffix(r.URL.Path, "/samples"):
					fmt.Fprint(w, `[]`)
				case strings.HasPrefix(r.URL.Path, "/api/v1/rollouts/"):
					if tt.promotion == promote.StateApproved && rolloutReads.Add(1) > 2 {
						json.NewEncoder(w).Encode(promote.Rollout{PromotionID: "pr_1", State: promote.RolloutSucceeded, Weight: 1})
						return
					}
					w.WriteHeader(http.StatusNotFound)
					fmt.Fprint(w, `{"error":{"code":"not_found","message":"rollout of promotion \"pr_1\" not found"}}`)
				case tt.promotion != "":
					json.NewEncoder(w).Encode(promote.Promotion{ID: "pr_1", State: tt.promotion})
				default:
					w.WriteHeader(http.StatusNotFound)
					fmt.Fprint(w, `{"error":{"code":"not_found","message":"promotion \"pr_1\" not found"}}`)
				}
			}))
			defer srv.Close()
			code, stdout, stderr := run(t, "", "rollout", "watch", "pr_1", "--every", "5ms", "--server", srv.URL, "--token", "prm_t")
			if code != tt.code || !strings.Contains(stdout, tt.out) || !strings.Contains(stderr, tt.err) {
				t.Errorf("watch = exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout, stderr, tt.code, tt.out, tt.err)
			}
		})
	}
}

// A server that cannot be reached for a moment (a restart, an upgrade, a
// replica's failover) does not end the watch: exit 1 says the rollout was
// rolled back, and a delivery pipeline would act on it. Watch says so and
// reads again; an outage longer than the limit ends it.
func TestWatchRidesOutOutage(t *testing.T) {
	var reads, down atomic.Int64
	down.Store(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/samples") && reads.Add(1) <= down.Load() {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // no answer at all, as from a server going down
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/samples") {
			fmt.Fprint(w, `[]`)
			return
		}
		json.NewEncoder(w).Encode(promote.Rollout{PromotionID: "pr_1", State: promote.RolloutSucceeded, Weight: 1})
	}))
	defer srv.Close()
	code, stdout, stderr := run(t, "", "rollout", "watch", "pr_1", "--every", "5ms", "--server", srv.URL, "--token", "prm_t")
	if code != ExitOK || !strings.Contains(stdout, "cannot reach the Promote server") || !strings.Contains(stdout, "succeeded step 1 weight 100%") {
		t.Errorf("a watch through an outage = exit %d, stdout %q, stderr %q; want 0, the outage, then the end", code, stdout, stderr)
	}
	if !regexp.MustCompile(`\(since \d\d:\d\d:\d\d UTC\)`).MatchString(stdout) {
		t.Errorf("a watch through an outage: stdout %q; want the outage's start in UTC, saying so", stdout)
	}

	// An outage longer than the limit ends the watch, exit 1.
	reads.Store(0)
	down.Store(1 << 40)
	var out bytes.Buffer
	err := watchRollout(t.Context(), httpapi.NewClient(srv.URL, "prm_t", nil), "pr_1", 5*time.Millisecond, 50*time.Millisecond, &lineView{w: &out})
	var ee *exitError
	if !errors.As(clientError(err), &ee) || ee.code != ExitBlocked || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("a watch through a long outage = %v; want exit 1 naming the outage", err)
	}
}

// The CLI's times of day are in UTC and say so, whatever the local zone.
func TestClockUTC(t *testing.T) {
	at := time.Date(2026, 11, 26, 19, 39, 39, 0, time.FixedZone("UTC+5", 5*3600))
	if got := clockUTC(at); got != "14:39:39 UTC" {
		t.Errorf("clockUTC(19:39:39 at UTC+5) = %q, want 14:39:39 UTC", got)
	}
}

// show and watch say how far a canary's step has come: its requests and
// time against what it needs, and, once its minimum time has passed
// without its requests, that it waits for them, a wait that stays in the
// narrowest line watch draws.
func TestStepProgress(t *testing.T) {
	started := time.Date(2026, 11, 26, 11, 40, 0, 0, time.UTC)
	now := started.Add(2*time.Minute + 10*time.Second)
	raw, err := json.Marshal(analysis.Verdict{Decision: analysis.Continue, Tests: []analysis.TestResult{
		{Name: analysis.TestErrorRate, Sequential: true, CanaryRequests: 6, StableRequests: 54},
	}})
	if err != nil {
		t.Fatal(err)
	}
	judging := promote.Rollout{Strategy: policy.StrategyCanary, State: promote.RolloutRunning, Weight: 0.1, StepStartedAt: started,
		Verdict: raw, StepRequests: 6.7, StepNeeds: &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300}}
	waiting := judging
	waiting.StepNeeds = &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300, WaitingForRequests: true}
	paused := waiting
	paused.State = promote.RolloutPaused
	person := judging
	person.PromotionID, person.Step, person.Weight, person.StepRequests = "pr_1", 1, 0.5, 240
	person.StepNeeds = &promote.StepNeeds{Steps: 3, MinRequests: 200, MinDuration: 300, Confirm: true, WaitingForPerson: true}
	personLast := person
	personLast.Step, personLast.Weight = 2, 1
	pausedPerson := person
	pausedPerson.State = promote.RolloutPaused
	pausedNone := paused
	pausedNone.StepNeeds = &promote.StepNeeds{Steps: 3}
	timeOnly := judging
	timeOnly.StepNeeds = &promote.StepNeeds{Steps: 3, MinDuration: 300}
	for _, tt := range []struct {
		name      string
		r         promote.Rollout
		now       time.Time
		show      []string
		watch     string
		watchFits map[int]string
	}{
		{"judging", judging, now, []string{"Step\t1 of 3, weight 10%", "Progress\t6 of 100 requests, 2m10s of 5m"},
			"running step 1 of 3 weight 10% | step 6 of 100 req, 2m10s of 5m | canary 6 req, 0.00% errors | stable 54 req, 0.00% errors | continue",
			map[int]string{80: "running step 1 of 3 weight 10% | step 6 of 100 req, 2m10s of 5m | continue", 60: "running step 1 of 3 weight 10% | continue"}},
		{"plain lines", judging, time.Time{}, nil,
			"running step 1 of 3 weight 10% | step 6 of 100 req, 5m until 11:45:00 UTC | canary 6 req, 0.00% errors | stable 54 req, 0.00% errors | continue", nil},
		{"waiting", waiting, now, []string{"Step\t1 of 3, weight 10%", "Progress\twaiting for requests: 6 of 100 after 5m"},
			"running step 1 of 3 weight 10% | canary 6 req, 0.00% errors | stable 54 req, 0.00% errors | waiting for requests: 6 of 100 after 5m | continue",
			map[int]string{90: "running step 1 of 3 weight 10% | waiting for requests: 6 of 100 after 5m | continue",
				80: "running step 1 of 3 weight 10% | waiting for requests: 6 of 100 after 5m | con…"}},
		{"waiting for a person", person, now, []string{"Step\t2 of 3, weight 50%", "Progress\twaiting for a person at 50%\n",
			"Waiting for\ta person: promote rollout resume pr_1 moves it on to the next step"},
			"running step 2 of 3 weight 50% | canary 6 req, 0.00% errors | stable 54 req, 0.00% errors | waiting for a person at 50% | continue",
			map[int]string{80: "running step 2 of 3 weight 50% | waiting for a person at 50% | continue"}},
		{"waiting for a person at the last step", personLast, now, []string{"Progress\twaiting for a person at 100%\n", "moves it on to all traffic and success"}, "", nil},
		{"paused where it waited for a person", pausedPerson, now, []string{"Progress\tneeds 200 requests and 5m from its resumption\n"},
			"paused step 2 of 3 weight 50% | step needs 200 req and 5m from its resumption | canary 6 req, 0.00% errors | stable 54 req, 0.00% errors | continue", nil},
		{"a minimum time alone", timeOnly, now, []string{"Progress\t2m10s of 5m\n"},
			"running step 1 of 3 weight 10% | step 2m10s of 5m | canary 6 req, 0.00% errors | stable 54 req, 0.00% errors | continue", nil},
		{"paused at a step without minimums", pausedNone, now, []string{"Progress\tneeds no minimum from its resumption\n"}, "", nil},
		{"paused", paused, now, []string{"Progress\tneeds 100 requests and 5m from its resumption\n"},
			"paused step 1 of 3 weight 10% | step needs 100 req and 5m from its resumption | canary 6 req, 0.00% errors | stable 54 req, 0.00% errors | continue", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.show != nil {
				var b bytes.Buffer
				describeRollout(&b, tt.r, tt.now)
				for _, w := range tt.show {
					if !strings.Contains(b.String(), w) {
						t.Errorf("describeRollout lacks %q:\n%s", w, b.String())
					}
				}
			}
			if got := watchLine(tt.r, nil, false, tt.now); tt.watch != "" && got != tt.watch {
				t.Errorf("watchLine =\n%s\nwant\n%s", got, tt.watch)
			}
			for width, want := range tt.watchFits {
				if got := watchFieldsOf(tt.r, nil, false, tt.now).fit(width); got != want {
					t.Errorf("fit(%d) = %q, want %q", width, got, want)
				}
			}
		})
	}
}

// What rollout show's Resume line says of a paused rollout without a
// step to name: a shadow mirrors again; a canary the server said nothing
// of gets no line.
func TestResumeWordsWithoutAStep(t *testing.T) {
	shadow := promote.Rollout{PromotionID: "pr_1", Strategy: policy.StrategyShadow, State: promote.RolloutPaused}
	if got, want := resumeWords(shadow), "promote rollout resume pr_1 mirrors requests to the candidate again; the shadow's duration counts again"; got != want {
		t.Errorf("resumeWords(a paused shadow) = %q, want %q", got, want)
	}
	canary := shadow
	canary.Strategy = policy.StrategyCanary
	if got := resumeWords(canary); got != "" {
		t.Errorf("resumeWords(a paused canary without next) = %q, want none", got)
	}
	refused := shadow
	refused.Next = &promote.RolloutNext{Refused: "the policy of prod now rolls out by canary"}
	if got := resumeWords(refused); !strings.Contains(got, "is refused: the policy of prod now rolls out by canary") {
		t.Errorf("resumeWords(a paused shadow whose resumption is refused) = %q, want the refusal", got)
	}
}
