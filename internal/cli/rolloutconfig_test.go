package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/traffic"
)

// down is a metric source whose every query fails.
type down struct{}

func (down) Counts(context.Context, metrics.Query) (metrics.Counts, error) {
	return metrics.Counts{}, errors.New("connection refused")
}

// The error budget comes from the policy's maxQueryErrors, else from
// --rollout-error-budget, else the poller's default.
func TestRolloutPollersTakeThePolicyThenTheFlags(t *testing.T) {
	plans := map[string]*policy.Rollout{
		"prod":    {Analysis: policy.Analysis{MaxQueryErrors: 2}},
		"staging": {},
	}
	tests := []struct {
		name   string
		budget int // the flag
		env    string
		want   int // failed reads tolerated before the reading is failed
	}{
		{name: "policy beats the flag", budget: 7, env: "prod", want: 2},
		{name: "flag when the policy is silent", budget: 7, env: "staging", want: 7},
		{name: "default without either", env: "staging", want: metrics.DefaultErrorBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rolloutConfig{ErrorBudget: tt.budget}
			ps, err := c.pollers(down{}, plans)
			if err != nil {
				t.Fatal(err)
			}
			q := metrics.Query{Model: "credit-risk", Env: tt.env, Track: metrics.TrackCanary, Since: time.Now()}
			tolerated := 0
			for ps.Read(t.Context(), q).Status == metrics.StatusRetrying {
				if tolerated++; tolerated > 100 {
					t.Fatal("the poller never gave up")
				}
			}
			if tolerated != tt.want {
				t.Errorf("%s tolerated %d failed reads, want %d", tt.env, tolerated, tt.want)
			}
		})
	}
}

func TestRolloutIntervalFromTheEnvironment(t *testing.T) {
	for _, tt := range []struct {
		value   string
		want    time.Duration
		problem string
	}{
		{value: "250ms", want: 250 * time.Millisecond},
		{value: "abc", problem: `$PROMOTE_ROLLOUT_INTERVAL "abc": want a positive duration`},
		{value: "-1s", problem: `$PROMOTE_ROLLOUT_INTERVAL "-1s": want a positive duration`},
	} {
		var c rolloutConfig
		c.env(func(name string) string {
			if name == "PROMOTE_ROLLOUT_INTERVAL" {
				return tt.value
			}
			return ""
		})
		err := errors.Join(c.problems()...)
		switch {
		case tt.problem == "" && (err != nil || c.Interval != tt.want):
			t.Errorf("PROMOTE_ROLLOUT_INTERVAL=%s: interval %s, problems %v; want %s, none", tt.value, c.Interval, err, tt.want)
		case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
			t.Errorf("PROMOTE_ROLLOUT_INTERVAL=%s: problems %v, want one saying %q", tt.value, err, tt.problem)
		}
	}
}

func TestSplitterSettingsFromThePlan(t *testing.T) {
	pol, err := policy.Load("p.yaml", []byte(`gate: {require: [tests_passed]}
rollout:
  strategy: shadow
  shadow: {compareBodies: true}
  traffic: {stickyHeader: X-User, stickyCookie: promote-track, healthPath: /healthz, candidateHeader: X-Promote-Candidate}
`))
	if err != nil {
		t.Fatal(err)
	}
	var c traffic.Config
	splitterSettings(pol.Rollout("prod"), &c)
	if c.Sticky != (traffic.Sticky{Header: "X-User", Cookie: "promote-track"}) || c.HealthPath != "/healthz" || !c.Shadow.CompareBodies || c.CandidateHeader != "X-Promote-Candidate" {
		t.Errorf("splitter settings = sticky %+v, health path %q, compare bodies %v, candidate header %q; want the plan's",
			c.Sticky, c.HealthPath, c.Shadow.CompareBodies, c.CandidateHeader)
	}
	var none traffic.Config
	splitterSettings(nil, &none)
	if none.Sticky != (traffic.Sticky{}) || none.HealthPath != "" || none.Shadow.CompareBodies {
		t.Errorf("no plan: settings %+v, want none", none)
	}
}

func TestPrometheusQueriesFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "queries.yaml")
	os.WriteFile(good, []byte(`requests: sum(increase(mesh_requests_total{workload="{{.Model}}-{{.Track}}"}[{{.Window}}]))
errors: sum(increase(mesh_requests_total{workload="{{.Model}}-{{.Track}}",code=~"5.."}[{{.Window}}]))
`), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("requests: x\nerors: y\n"), 0o644)

	c := rolloutConfig{PrometheusURL: "http://127.0.0.1:9090", PrometheusQueries: good}
	if _, err := c.prometheus(); err != nil {
		t.Errorf("prometheus() with %s: %v", good, err)
	}
	for _, tt := range []struct {
		c    rolloutConfig
		want string
	}{
		{rolloutConfig{PrometheusURL: "http://127.0.0.1:9090", PrometheusQueries: bad}, "--prometheus-queries: " + bad + ":2:1"},
		{rolloutConfig{PrometheusURL: "http://127.0.0.1:9090", PrometheusQueries: filepath.Join(dir, "missing.yaml")}, "--prometheus-queries: open"},
	} {
		if _, err := tt.c.prometheus(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("prometheus() with %s: %v, want an error saying %q", tt.c.PrometheusQueries, err, tt.want)
		}
	}
	noURL := rolloutConfig{PrometheusQueries: good}
	if err := errors.Join(noURL.problems()...); err == nil || !strings.Contains(err.Error(), "--prometheus-queries needs --prometheus-url") {
		t.Errorf("queries without a URL: problems %v", err)
	}
}

// The rollout controller reads stable's history through the server's
// pollers: the splitters' counters of the environment's stable track.
func TestRolloutPollersReadTheHistory(t *testing.T) {
	reg := telemetry.NewRegistry()
	tm, err := traffic.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := traffic.New(traffic.Config{Model: "credit-risk", Env: "prod", Metrics: tm})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	var n int
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n++; n%10 == 0 {
			http.Error(w, "model error", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(model.Close)
	u, _ := url.Parse(model.URL)
	if err := sp.SetStable(traffic.Backend{Version: "1", URL: u}); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(sp)
	t.Cleanup(front.Close)
	for range 30 {
		resp, err := front.Client().Get(front.URL + "/predict")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	var c rolloutConfig
	ps, err := c.pollers(metrics.NewBuiltin(reg), map[string]*policy.Rollout{"prod": {}})
	if err != nil {
		t.Fatal(err)
	}
	var reader interface {
		History(context.Context, metrics.Query, time.Duration) (analysis.History, error)
	} = ps
	q := metrics.Query{Model: "credit-risk", Env: "prod", Track: metrics.TrackStable, Since: time.Now()}
	h, err := reader.History(t.Context(), q, time.Hour)
	if err != nil || h.Requests != 30 || h.Errors != 3 || h.Latency.Count != 30 {
		t.Errorf("History(%s) = %+v, %v; want 30 requests, 3 errors, 30 latencies", q, h, err)
	}
	q.Env = "staging"
	if _, err := reader.History(t.Context(), q, time.Hour); err == nil || !strings.Contains(err.Error(), "staging rolls out without a plan") {
		t.Errorf("History(%s) error = %v, want one naming the environment without a plan", q, err)
	}
}

// --prometheus-timeout bounds each read from Prometheus: a server that
// takes the connection and never answers fails the read after it, saying
// so. Bad values are refused, naming the flag or the variable.
func TestPrometheusTimeoutFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // takes connections, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c := rolloutConfig{PrometheusURL: "http://" + ln.Addr().String(), PrometheusTimeout: 300 * time.Millisecond}
	if errs := c.problems(); len(errs) > 0 {
		t.Fatalf("problems() = %v", errs)
	}
	src, err := c.prometheus()
	if err != nil {
		t.Fatal(err)
	}
	q := metrics.Query{Model: "credit-risk", Env: "prod", Track: metrics.TrackCanary, Since: time.Now().Add(-time.Minute)}
	if _, err := src.Counts(t.Context(), q); err == nil || !strings.Contains(err.Error(), "did not answer within 300ms") {
		t.Errorf("Counts from a Prometheus that never answers = %v, want it to say it did not answer within 300ms", err)
	}

	for _, tt := range []struct {
		name   string
		env    map[string]string
		config rolloutConfig
		want   string
	}{
		{"negative", nil, rolloutConfig{PrometheusURL: c.PrometheusURL, PrometheusTimeout: -time.Second}, "--prometheus-timeout -1s: want a positive duration"},
		{"without a URL", nil, rolloutConfig{PrometheusTimeout: time.Second}, "--prometheus-timeout needs --prometheus-url"},
		{"bad variable", map[string]string{"PROMOTE_PROMETHEUS_TIMEOUT": "soon"}, rolloutConfig{PrometheusURL: c.PrometheusURL}, `$PROMOTE_PROMETHEUS_TIMEOUT "soon": want a positive duration`},
		{"zero variable", map[string]string{"PROMOTE_PROMETHEUS_TIMEOUT": "0s"}, rolloutConfig{PrometheusURL: c.PrometheusURL}, `$PROMOTE_PROMETHEUS_TIMEOUT "0s": want a positive duration`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.config
			cfg.env(func(k string) string { return tt.env[k] })
			var msgs []string
			for _, err := range cfg.problems() {
				msgs = append(msgs, err.Error())
			}
			if got := strings.Join(msgs, "\n"); !strings.Contains(got, tt.want) {
				t.Errorf("problems() = %q, want one saying %q", got, tt.want)
			}
		})
	}
	good := rolloutConfig{PrometheusURL: c.PrometheusURL}
	good.env(func(k string) string { return map[string]string{"PROMOTE_PROMETHEUS_TIMEOUT": "45s"}[k] })
	if good.PrometheusTimeout != 45*time.Second || len(good.problems()) > 0 {
		t.Errorf("$PROMOTE_PROMETHEUS_TIMEOUT=45s: timeout %s, problems %v", good.PrometheusTimeout, good.problems())
	}
}
