package traffic

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/telemetry"
)

// TestMetricsContract pins the metric names, types and labels that PromQL
// queries depend on.
func TestMetricsContract(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	_, shadow := backendServer(t, "v3", nil)
	s, reg := newSplitter(t, Config{Model: "credit-risk", Env: "staging"})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, 0.5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 1); err != nil {
		t.Fatal(err)
	}
	serve(s, httptest.NewRequest(http.MethodGet, "/", nil))

	type family struct {
		Type   string
		Labels []string
		Values map[string][]string // label: values seen
	}
	help := map[string]string{}
	families := func() map[string]family {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]family{}
		for _, mf := range mfs {
			help[mf.GetName()] = mf.GetHelp()
			f := family{Type: mf.GetType().String(), Values: map[string][]string{}}
			for _, m := range mf.GetMetric() {
				var names []string
				for _, l := range m.GetLabel() {
					names = append(names, l.GetName())
					if !slices.Contains(f.Values[l.GetName()], l.GetValue()) {
						f.Values[l.GetName()] = append(f.Values[l.GetName()], l.GetValue())
					}
				}
				slices.Sort(names)
				if f.Labels != nil && !slices.Equal(f.Labels, names) {
					t.Errorf("%s: series with labels %v and %v", mf.GetName(), f.Labels, names)
				}
				f.Labels = names
			}
			for _, v := range f.Values {
				slices.Sort(v)
			}
			if len(mf.GetMetric()) > 0 {
				got[mf.GetName()] = f
			}
		}
		return got
	}
	// The gauges while the splitter routes; the counters once Close has
	// waited for the mirror. Close removes the gauges' series.
	open := families()
	s.Close()
	got := families()
	for _, name := range []string{"promote_traffic_canary_weight_ratio", "promote_traffic_backend_healthy"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s still has series after Close", name)
		}
		got[name] = open[name]
	}
	one := []string{"credit-risk"}
	env := []string{"staging"}
	tracks := []string{"canary", "shadow", "stable"}
	want := map[string]family{
		"promote_traffic_requests_total": {"COUNTER", []string{"env", "model", "outcome", "track"}, map[string][]string{
			"model": one, "env": env, "track": tracks,
			"outcome": {"client_error", "connection_error", "mismatch", "ok", "server_error", "timeout"}}},
		"promote_traffic_request_duration_seconds": {"HISTOGRAM", []string{"env", "model", "track"}, map[string][]string{
			"model": one, "env": env, "track": tracks}},
		"promote_traffic_canary_weight_ratio": {"GAUGE", []string{"env", "model"}, map[string][]string{"model": one, "env": env}},
		"promote_traffic_backend_healthy": {"GAUGE", []string{"env", "model", "track"}, map[string][]string{
			"model": one, "env": env, "track": tracks}},
		"promote_traffic_shadow_comparisons_total": {"COUNTER", []string{"env", "model", "result"}, map[string][]string{
			"model": one, "env": env, "result": {"body_mismatch", "error", "match", "status_mismatch"}}},
		"promote_traffic_shadow_dropped_total": {"COUNTER", []string{"env", "model"}, map[string][]string{"model": one, "env": env}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	// A help text names each value of the labels it lists.
	for name, f := range got {
		for _, label := range []string{"outcome", "result"} {
			for _, v := range f.Values[label] {
				if !strings.Contains(help[name], v) {
					t.Errorf("%s's help %q does not name %s %q", name, help[name], label, v)
				}
			}
		}
	}
	for name, c := range map[string]string{
		MetricRequests: "promote_traffic_requests_total", MetricRequestDuration: "promote_traffic_request_duration_seconds",
		MetricCanaryWeight: "promote_traffic_canary_weight_ratio", MetricBackendHealthy: "promote_traffic_backend_healthy",
		MetricShadowComparisons: "promote_traffic_shadow_comparisons_total", MetricShadowDropped: "promote_traffic_shadow_dropped_total",
	} {
		if name != c {
			t.Errorf("constant %q, want %q", name, c)
		}
	}
}

func TestMetricsShared(t *testing.T) {
	reg := telemetry.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	_, stable := backendServer(t, "v1", nil)
	// One Metrics for two models, and a third splitter that registers on
	// the same registry by itself.
	var splitters []*Splitter
	for _, cfg := range []Config{
		{Model: "a", Env: "prod", Metrics: m},
		{Model: "b", Env: "prod", Metrics: m},
		{Model: "c", Env: "prod", Registry: reg},
	} {
		s, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%s): %v", cfg.Model, err)
		}
		defer s.Close()
		if err := s.SetStable(stable); err != nil {
			t.Fatal(err)
		}
		splitters = append(splitters, s)
	}
	for i, s := range splitters {
		for range i + 1 {
			serve(s, httptest.NewRequest(http.MethodGet, "/", nil))
		}
	}
	for i, model := range []string{"a", "b", "c"} {
		v, _ := metric(t, reg, MetricRequests, map[string]string{LabelModel: model, LabelTrack: "stable", LabelOutcome: "ok"})
		if v != float64(i+1) {
			t.Errorf("requests{model=%s} = %v, want %d", model, v, i+1)
		}
	}
}

func TestNewMetricsConflict(t *testing.T) {
	reg := telemetry.NewRegistry()
	if _, err := reg.Counter(MetricRequests, "something else"); err != nil {
		t.Fatal(err)
	}
	_, err := NewMetrics(reg)
	if err == nil || !strings.Contains(err.Error(), "traffic metrics") {
		t.Errorf("NewMetrics over a conflicting collector = %v, want an error", err)
	}
	if _, err := NewMetrics(nil); err == nil {
		t.Error("NewMetrics(nil) = nil error, want one")
	}
}

// TestOnCandidate checks that the hook is called once per canary and
// shadow request counted, never for stable's, and no more once removed.
func TestOnCandidate(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	_, shadow := backendServer(t, "v3", nil)
	s, reg := newSplitter(t, Config{Rand: seeded(3)})
	var calls atomic.Int64
	s.metrics.OnCandidate(func() { calls.Add(1) })
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, 0.3); err != nil {
		t.Fatal(err)
	}
	got := tracks(t, s, 200)
	if got["canary"] == 0 || got["stable"] == 0 {
		t.Fatalf("tracks = %v, want both", got)
	}
	if n := calls.Load(); n != int64(got["canary"]) {
		t.Errorf("OnCandidate called %d times for %d canary requests (and %d stable)", n, got["canary"], got["stable"])
	}
	if err := s.SetCanary(nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 1); err != nil {
		t.Fatal(err)
	}
	calls.Store(0)
	tracks(t, s, 20)
	s.Close() // waits for the mirrors
	if mirrored := requests(t, reg, TrackShadow, OutcomeOK); float64(calls.Load()) != mirrored || mirrored == 0 {
		t.Errorf("OnCandidate called %d times for %v mirrored requests", calls.Load(), mirrored)
	}
	s.metrics.OnCandidate(nil)
	calls.Store(0)
	tracks(t, s, 20)
	if n := calls.Load(); n != 0 {
		t.Errorf("OnCandidate(nil) still called %d times", n)
	}
}
