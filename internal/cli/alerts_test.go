package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/promtest"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/internal/webui"
)

// alertRules is the alerting rule file shipped for Prometheus, and
// dashboard the Grafana dashboard.
var (
	alertRules = filepath.Join("..", "..", "deploy", "prometheus", "promote-rules.yaml")
	dashboard  = filepath.Join("..", "..", "deploy", "grafana", "promote.json")
)

// alertExprs returns the expression of every rule in the shipped rule
// file, by alert name.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", alertRules, err)
	}
	exprs := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
		}
	}
	if len(exprs) == 0 {
		t.Fatalf("%s holds no rules", alertRules)
	}
	return exprs
}

// dashboardExprs returns every query of the shipped dashboard, its
// variables given the values Grafana gives them, by where it is.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	d, err := promtest.ParseDashboard(data)
	if err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	qs, err := d.Queries()
	if err != nil || len(qs) == 0 {
		t.Fatalf("%s: %d queries (%v)", dashboard, len(qs), err)
	}
	exprs := map[string]string{}
	for _, q := range qs {
		if exprs[q.Where], err = d.Instantiate(q.Expr); err != nil {
			t.Fatalf("%s: %s: %v", dashboard, q.Where, err)
		}
	}
	return exprs
}

// TestServeExportsWhatTheAlertsRead runs promote serve as the alerts
// expect it (GitOps, the local agent with live traffic, a canary that
// waits for a person and is then paused, webhooks) under a real Prometheus, and checks that every metric the
// shipped alerting rules and Grafana dashboard read is scraped from it,
// and that Prometheus takes every rule's and every panel's expression. It
// also checks /metrics itself: promtool check metrics passes it, each
// family has its help and type, a counter's name ends in _total, and
// every Promote family is documented under docs/.
func TestServeExportsWhatTheAlertsRead(t *testing.T) {
	exprs := map[string]string{}
	for alert, expr := range alertExprs(t) {
		exprs[alertRules+": "+alert] = expr
	}
	for where, expr := range dashboardExprs(t) {
		exprs[dashboard+": "+where] = expr
	}
	var names []string
	for where, expr := range exprs {
		got, err := promtest.MetricNames(expr)
		if err != nil || len(got) == 0 {
			t.Fatalf("%s reads no metric (%v):\n%s", where, err, expr)
		}
		for _, n := range got {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)

	// The first step waits for a person once it has served its requests.
	confirmFirst := strings.Replace(slowCanaryPolicy, "      minRequests: 50\n    - weight: 50\n", "      minRequests: 50\n      confirm: true\n    - weight: 50\n", 1)
	if confirmFirst == slowCanaryPolicy {
		t.Fatal("slowCanaryPolicy has no first step of 50 requests to confirm")
	}
	c := newCanarySetup(t, confirmFirst)
	addr := freeAddr(t)
	prom := promtest.Launch(t, addr)
	hooks := newHookReceiver(t)
	args := append(slices.Clone(c.args), "--addr", addr, "--webhooks", hooks.config(t), "--rollout-interval", "1h")
	server, serveErr := startServe(t, args...)
	prom.WaitUp(t, 1)
	run, must := clientOf(t, server)
	c.load(t)
	must(0, c.ci, "models", "create", "credit-risk")
	c.awaitPromotion(t, must, c.request(t, must, "1"), "succeeded", serveErr)
	// Each metric counts once Prometheus has had it: the oldest wait for a
	// person goes when the rollout is paused, which the oldest pause needs.
	seen := map[string]bool{}
	missing := func(names ...string) []string {
		var out []string
		for _, n := range names {
			if seen[n] {
				continue
			}
			if k, err := prom.Count(fmt.Sprintf(`count({__name__=%q, job=%q})`, n, promtest.Job)); err != nil || k == 0 {
				out = append(out, fmt.Sprintf("%s (%v)", n, err))
				continue
			}
			seen[n] = true
		}
		return out
	}
	// A rollout waiting for a person, for the age of the oldest wait:
	// version 2's canary at its first step, which asks for one. Then
	// paused, for the age of the oldest pause.
	id2 := c.request(t, must, "2")
	waitFor(t, 60*time.Second, "the canary of 2 to wait for a person", func() (bool, string) {
		var r struct {
			State     string `json:"state"`
			StepNeeds struct {
				WaitingForPerson bool `json:"waiting_for_person"`
			} `json:"step_needs"`
		}
		_, out, _ := run(c.ci, "rollout", "show", id2, "-o", "json")
		json.Unmarshal([]byte(out), &r)
		return r.State == "running" && r.StepNeeds.WaitingForPerson, out + tail(serveErr.String(), 10)
	})
	waitFor(t, 30*time.Second, "Prometheus to have the oldest wait for a person", func() (bool, string) {
		m := missing(rollout.MetricWaitingOldest)
		return len(m) == 0, "missing: " + strings.Join(m, ", ")
	})
	must(0, c.lead, "rollout", "pause", id2, "--reason", "a look at the dashboards")

	waitFor(t, 30*time.Second, "Prometheus to have every metric the alerts and the dashboard read", func() (bool, string) {
		m := missing(names...)
		return len(m) == 0, "missing: " + strings.Join(m, ", ")
	})
	for where, expr := range exprs {
		if _, err := prom.Count(expr); err != nil {
			t.Errorf("%s: Prometheus refuses the expression: %v", where, err)
		}
	}

	resp, err := http.Get(server + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Prometheus' own linter of an exposition finds nothing to say of it
	// (the registry refuses the rest of the conventions when a family is
	// made: internal/telemetry).
	lint := exec.Command(promtest.Promtool(t), "check", "metrics")
	lint.Stdin = bytes.NewReader(body)
	if out, err := lint.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics on /metrics: %v\n%s", err, out)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics: %v\n%s", err, body)
	}
	var docs strings.Builder
	mds, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	for _, md := range mds {
		b, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
	}
	for name, mf := range families {
		if mf.GetHelp() == "" {
			t.Errorf("/metrics: %s has no HELP", name)
		}
		if mf.Type == nil {
			t.Errorf("/metrics: %s has no TYPE", name)
		}
		if mf.GetType().String() == "COUNTER" && !strings.HasSuffix(name, "_total") {
			t.Errorf("/metrics: the counter %s does not end in _total", name)
		}
		if strings.HasPrefix(name, "promote_") && !strings.Contains(docs.String(), "`"+name) {
			t.Errorf("/metrics: %s is documented nowhere under docs/", name)
		}
	}
}

// The audit alerts' windows follow serve's default --audit-verify-every:
// PromoteAuditChainNotVerified waits three full verifications,
// PromoteAuditChainBroken looks back over two, as docs/operations.md
// says. A change of the default that leaves them behind fails here.
func TestAuditAlertsFollowVerifyInterval(t *testing.T) {
	exprs := alertExprs(t)
	every := webui.DefaultVerifyInterval
	for alert, want := range map[string]string{
		"PromoteAuditChainNotVerified": fmt.Sprintf("> 3 * %d", int64(every/time.Second)),
		"PromoteAuditChainBroken":      fmt.Sprintf("[%s]", strings.TrimSuffix(strings.TrimSuffix((2*every).String(), "0s"), "0m")),
	} {
		if !strings.Contains(exprs[alert], want) {
			t.Errorf("%s = %q, want it to hold %q: its window follows --audit-verify-every's default %s", alert, exprs[alert], want, every)
		}
	}
	if c := defaultServerConfig(); c.AuditVerifyEvery != every {
		t.Errorf("serve's --audit-verify-every defaults to %s, want webui.DefaultVerifyInterval %s", c.AuditVerifyEvery, every)
	}
}
