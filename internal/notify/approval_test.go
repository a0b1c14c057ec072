package notify

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// approvalPolicy needs two approvers for prod, beside a check, a metric
// and a warn-only rule the candidate fails.
const approvalPolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
  metrics:
    accuracy: ">= 0.80"
    latency_p95_ms: {threshold: "<= 100", severity: warn}
  approvals:
    min: 2
`

// A promotion.awaiting_approval tells approvers, without the page, what
// they decide on: the artifact's digest, the gate's counts, the rules
// still failing and the approvals still needed. The registry records the
// promotion; the dispatcher sends it to a receiver that checks it.
func TestAwaitingApprovalCarriesWhatApproversNeed(t *testing.T) {
	s := openStore(t)
	dir := t.TempDir()
	pl, err := pipeline.Parse("promote.yaml", []byte("apiVersion: promote.dev/v1\nkind: Pipeline\nenvironments:\n  - name: prod\n    policy: policy.yaml\n"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load("policy.yaml", []byte(approvalPolicy))
	if err != nil {
		t.Fatal(err)
	}
	gate, err := pol.Gate("prod")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := registry.New(s, registry.Config{Pipeline: pl, Gates: map[string]*policy.Gate{"prod": gate}, ArtifactRoots: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	var hooks hookLog
	srv := httptest.NewServer(hooks.handler(nil))
	t.Cleanup(srv.Close)
	d := startedDispatcher(t, dispatcherConfig(s, srv.URL))
	runDispatcher(t, t.Context(), d)

	ci := promote.Principal{Name: "ci", Role: promote.RoleSubmitter}
	if _, err := svc.CreateModel(t.Context(), ci, "credit-risk", ""); err != nil {
		t.Fatal(err)
	}
	artifact := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(artifact, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := svc.RegisterVersion(t.Context(), ci, registry.RegisterRequest{Model: "credit-risk", Version: "2", ArtifactURI: "file://" + artifact,
		Metrics: []byte(`{"accuracy": 0.91, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`)})
	if err != nil {
		t.Fatal(err)
	}
	view, err := svc.RequestPromotion(t.Context(), ci, registry.PromoteRequest{Model: "credit-risk", Version: "2", Environment: "prod"})
	if err != nil || view.Promotion.State != promote.StateAwaitingApproval {
		t.Fatalf("RequestPromotion = %s, %v; want awaiting approval", view.Promotion.State, err)
	}
	d.Wake()
	var got []Event
	waitFor(t, "the promotion.awaiting_approval notification", func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		got = slices.Clone(hooks.events)
		return slices.ContainsFunc(got, func(ev Event) bool { return ev.Type == TypePromotionAwaitingApproval })
	})
	i := slices.IndexFunc(got, func(ev Event) bool { return ev.Type == TypePromotionAwaitingApproval })
	ev := got[i]
	if ev.Digest == "" || ev.Digest != v.Digest {
		t.Errorf("digest = %q, want the artifact's %q", ev.Digest, v.Digest)
	}
	want := &ApprovalRequest{
		Gate:      GateCounts{Passed: 2, Failed: 1, Warnings: 1},
		Failing:   []FailingRule{{Rule: "approvals", Message: "0 of 2 distinct approvers (none)"}},
		Approvals: ApprovalCount{Approved: 0, Required: 2, ApprovedBy: []string{}},
	}
	if diff := cmp.Diff(want, ev.Approval); diff != "" {
		t.Errorf("approval (-want +got):\n%s", diff)
	}
	if ev.Summary != "0 of 2 distinct approvers (none)" {
		t.Errorf("summary = %q, want the approvals needed, once", ev.Summary)
	}
	// Small: no metrics beyond the rules' messages.
	body, err := Body(ev, FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatal(err)
	}
	if _, ok := fields["metrics"]; ok {
		t.Errorf("the event carries metrics: %s", body)
	}
	// docs/webhooks.md shows the event as it is sent: the same fields,
	// of the same kinds, at every level.
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "\n### Awaiting approval\n")
	m := regexp.MustCompile("(?s)\n```json\n(.*?)```").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("docs/webhooks.md shows no promotion.awaiting_approval event")
	}
	var documented, sent any
	if err := json.Unmarshal([]byte(m[1]), &documented); err != nil {
		t.Fatalf("docs/webhooks.md's promotion.awaiting_approval event: %v", err)
	}
	// The test's server has no external URL; the documented one has.
	withURL := ev
	withURL.URL = "https://promote.example.com/ui/promotions/" + ev.PromotionID
	if body, err = Body(withURL, FormatJSON); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &sent); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shapeOf(sent), shapeOf(documented)); diff != "" {
		t.Errorf("docs/webhooks.md's promotion.awaiting_approval event differs from the one sent (-sent +documented):\n%s", diff)
	}
	// Other events carry no approval request.
	for _, other := range got {
		if other.Type != TypePromotionAwaitingApproval && other.Approval != nil {
			t.Errorf("%s carries an approval request %+v", other.Type, other.Approval)
		}
	}
}

// shapeOf replaces every value of a decoded JSON document by its kind,
// keeping objects' keys and an array's first element, so that documents
// with other IDs, times and digests compare equal.
func shapeOf(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = shapeOf(x)
		}
		return out
	case []any:
		if len(v) == 0 {
			return []any{}
		}
		return []any{shapeOf(v[0])}
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}
