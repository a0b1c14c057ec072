package metrics

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/promtest"
)

// TestScrapeConfigDoc runs a real Prometheus with the scrape configuration
// of docs/rollouts.md, as written but for its target, given a target label
// env as many clusters put on every target: the default queries must count
// each environment's requests, not every environment's together (the
// target's env would otherwise win over the splitter's, renamed
// exported_env).
func TestScrapeConfigDoc(t *testing.T) {
	const model = "credit-risk"
	s := newTestSplitter(t)
	since := time.Now()
	for _, env := range []string{"prod", "staging"} {
		s.touch(model, env, TrackStable)
	}
	target := httptest.NewServer(s.reg.Handler(nil))
	t.Cleanup(target.Close)

	yml := string(docQueries(t, "# prometheus.yml"))
	const written = `- targets: ["127.0.0.1:8080"]`
	if !strings.Contains(yml, written) {
		t.Fatalf("the scrape configuration of docs/rollouts.md has no %s:\n%s", written, yml)
	}
	yml = strings.Replace(yml, written, fmt.Sprintf(`- targets: [%q]
        labels:
          env: prod`, strings.TrimPrefix(target.URL, "http://")), 1)
	prom := promtest.LaunchConfig(t, yml)
	waitFor(t, 20*time.Second, "the first scrape", func() (bool, string) {
		n, err := prom.Count(`up{job="promote"} == 1`)
		return err == nil && n == 1, fmt.Sprint(n, err)
	})

	s.serve(model, "prod", TrackStable, OutcomeOK, 100, 0.02)
	s.serve(model, "staging", TrackStable, OutcomeOK, 40, 0.02)
	src, err := NewPrometheus(PrometheusOptions{URL: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	for env, want := range map[string]float64{"prod": 100, "staging": 40} {
		q := Query{Model: model, Env: env, Track: TrackStable, Since: since}
		var c Counts
		waitFor(t, 20*time.Second, fmt.Sprintf("the requests of %s scraped", env), func() (bool, string) {
			c, err = src.Counts(t.Context(), q)
			return err == nil && c.Requests >= want, fmt.Sprint(c.Requests, err)
		})
		if c.Requests != want {
			t.Errorf("requests of %s in %s = %g, want %g", model, env, c.Requests, want)
		}
	}
}
