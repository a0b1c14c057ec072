package notify

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
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
	svc, dir := newApprovalService(t, s, approvalPolicy)
	d, hooks := runningDispatcher(t, s, "")

	const note = "retrained on March data;\nsee the fairness report"
	v, _ := requestAwaiting(t, svc, dir, `{"accuracy": 0.91, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`, note)
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
	// The requester's note, as given, on the request and on the wait.
	for _, typ := range []string{TypePromotionRequested, TypePromotionAwaitingApproval} {
		if i := slices.IndexFunc(got, func(ev Event) bool { return ev.Type == typ }); i < 0 || got[i].Note != note {
			t.Errorf("the %s notification's note = %q, want %q", typ, got[max(i, 0)].Note, note)
		}
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
	// of the same kinds, at every level. The test's server has no
	// external URL; the documented one has.
	withURL := ev
	withURL.URL = "https://promote.example.com/ui/promotions/" + ev.PromotionID
	checkDocumented(t, "promotion.awaiting_approval event", awaitingExamples(t)[0], withURL)
	// Other events carry no approval request.
	for _, other := range got {
		if other.Type != TypePromotionAwaitingApproval && other.Approval != nil {
			t.Errorf("%s carries an approval request %+v", other.Type, other.Approval)
		}
	}
}

// rolePolicy needs two approvers holding the ml-lead role.
const rolePolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  approvals:
    min: 2
    roles: [ml-lead]
`

// newApprovalService returns a registry over s whose one environment,
// prod, is gated by the policy text pol, and the directory its
// artifacts may be in.
func newApprovalService(t *testing.T, s promote.Store, pol string) (*registry.Service, string) {
	t.Helper()
	dir := t.TempDir()
	setup := registrytest.Load(t, "apiVersion: promote.dev/v1\nkind: Pipeline\nenvironments:\n  - name: prod\n    policy: policy.yaml\n", pol)
	svc := setup.New(t, s, registry.Config{ArtifactRoots: []string{dir}})
	return svc, dir
}

// requestAwaiting registers version 2 of credit-risk, with metrics, in
// svc and requests its promotion to prod, with note for the approvers,
// which must then await approval; it returns the version and the promotion's ID.
func requestAwaiting(t *testing.T, svc *registry.Service, dir, metrics, note string) (promote.Version, string) {
	t.Helper()
	ci := promote.Principal{Name: "ci", Role: promote.RoleSubmitter}
	if _, err := svc.CreateModel(t.Context(), ci, "credit-risk", ""); err != nil {
		t.Fatal(err)
	}
	artifact := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(artifact, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := svc.RegisterVersion(t.Context(), ci, registry.RegisterRequest{Model: "credit-risk", Version: "2", ArtifactURI: "file://" + artifact,
		Metrics: []byte(metrics)})
	if err != nil {
		t.Fatal(err)
	}
	view, err := svc.RequestPromotion(t.Context(), ci, registry.PromoteRequest{Model: "credit-risk", Version: "2", Environment: "prod", Note: note})
	if err != nil || view.Promotion.State != promote.StateAwaitingApproval {
		t.Fatalf("RequestPromotion = %s, %v; want awaiting approval", view.Promotion.State, err)
	}
	return v, view.Promotion.ID
}

// An approval that leaves a promotion short of its quorum is sent as a
// promotion.awaiting_approval again, so that the approvers still needed
// hear of it: by whom it was approved, how many are still needed and
// where to decide. The approval that completes the quorum is a
// promotion.approved, and no longer an awaiting_approval.
func TestPartialApprovalTellsTheNextApprover(t *testing.T) {
	s := openStore(t)
	svc, dir := newApprovalService(t, s, rolePolicy)
	d, hooks := runningDispatcher(t, s, "https://promote.example.com")

	v, id := requestAwaiting(t, svc, dir, `{"accuracy": 0.91, "checks": {"tests_passed": true}}`, "see the fairness report")
	lena := promote.Principal{Name: "lena", Role: promote.RoleApprover, Groups: []string{"ml-lead"}}
	if view, err := svc.Approve(t.Context(), lena, id, registry.ApproveRequest{Digest: v.Digest, Comment: "metrics read"}); err != nil || view.Promotion.State != promote.StateAwaitingApproval {
		t.Fatalf("Approve(lena) = %s, %v; want still awaiting approval", view.Promotion.State, err)
	}
	waiting := func() []Event {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		var out []Event
		for _, ev := range hooks.events {
			if ev.Type == TypePromotionAwaitingApproval {
				out = append(out, ev)
			}
		}
		return out
	}
	d.Wake()
	waitFor(t, "two promotion.awaiting_approval notifications", func() bool { return len(waiting()) >= 2 })
	got := waiting()
	first, second := got[0], got[1]
	if first.Approval == nil || first.Approval.Approvals.Required != 2 || first.Approval.Approvals.Approved != 0 {
		t.Errorf("the first notification's approval = %+v, want 0 of 2", first.Approval)
	}
	want := &ApprovalRequest{
		Gate:      GateCounts{Passed: 1, Failed: 1},
		Failing:   []FailingRule{{Rule: "approvals", Message: "1 of 2 distinct approvers (lena)"}},
		Approvals: ApprovalCount{Approved: 1, Required: 2, ApprovedBy: []string{"lena"}},
	}
	if diff := cmp.Diff(want, second.Approval); diff != "" {
		t.Errorf("the approval after lena's (-want +got):\n%s", diff)
	}
	if second.Actor != "lena" || second.PromotionID != id || second.Digest != v.Digest || second.Summary != "1 of 2 distinct approvers (lena)" ||
		second.Note != "see the fairness report" {
		t.Errorf("the notification after lena's approval = actor %q, promotion %q, digest %q, summary %q, note %q; want lena, %s, %s, the approvals needed and the requester's note",
			second.Actor, second.PromotionID, second.Digest, second.Summary, second.Note, id, v.Digest)
	}
	if want := "https://promote.example.com/ui/promotions/" + id; second.URL != want {
		t.Errorf("url = %q, want %q", second.URL, want)
	}
	var data struct {
		Roles   []string `json:"roles"`
		Comment string   `json:"comment"`
		Gate    any      `json:"gate"`
	}
	if err := json.Unmarshal(second.Data, &data); err != nil || data.Comment != "metrics read" || data.Gate != nil {
		t.Errorf("data = %s (%v), want lena's roles and comment, and no gate results", second.Data, err)
	}
	// docs/webhooks.md shows this one too.
	checkDocumented(t, "promotion.awaiting_approval event after an approval", awaitingExamples(t)[1], second)

	// The second approval completes the quorum: promotion.approved, and
	// no third awaiting_approval.
	omar := promote.Principal{Name: "omar", Role: promote.RoleApprover, Groups: []string{"ml-lead"}}
	if view, err := svc.Approve(t.Context(), omar, id, registry.ApproveRequest{Digest: v.Digest}); err != nil || view.Promotion.State != promote.StateSucceeded {
		t.Fatalf("Approve(omar) = %s, %v; want succeeded", view.Promotion.State, err)
	}
	d.Wake()
	waitFor(t, "the promotion.succeeded notification", func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		return slices.ContainsFunc(hooks.events, func(ev Event) bool { return ev.Type == TypePromotionSucceeded })
	})
	if n := len(waiting()); n != 2 {
		t.Errorf("%d promotion.awaiting_approval notifications, want 2: the approval that completed the quorum sent one", n)
	}
}

// viewCounter is a store that counts its read transactions.
type viewCounter struct {
	promote.Store
	views atomic.Int64
}

func (s *viewCounter) View(ctx context.Context, fn func(promote.Tx) error) error {
	s.views.Add(1)
	return s.Store.View(ctx, fn)
}

// A promotion.awaiting_approval notification reads what it adds to its
// audit event (the gate's results and approvals, the requester's note)
// in one read transaction: the registry's own awaiting event and that of
// an approval short of the quorum alike.
func TestAwaitingApprovalReadsOnce(t *testing.T) {
	s := openStore(t)
	svc, dir := newApprovalService(t, s, rolePolicy)
	const note = "see the fairness report"
	v, id := requestAwaiting(t, svc, dir, `{"accuracy": 0.91, "checks": {"tests_passed": true}}`, note)
	lena := promote.Principal{Name: "lena", Role: promote.RoleApprover, Groups: []string{"ml-lead"}}
	if view, err := svc.Approve(t.Context(), lena, id, registry.ApproveRequest{Digest: v.Digest}); err != nil || view.Promotion.State != promote.StateAwaitingApproval {
		t.Fatalf("Approve(lena) = %s, %v; want still awaiting approval", view.Promotion.State, err)
	}
	counted := &viewCounter{Store: s}
	d, err := NewDispatcher(dispatcherConfig(counted, "http://127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	var events []promote.AuditEvent
	if err := s.View(t.Context(), func(tx promote.Tx) (err error) {
		events, err = tx.AuditEvents(promote.AuditFilter{PromotionID: id})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		ev, ok := FromAudit(e)
		if !ok || ev.Type != TypePromotionAwaitingApproval {
			continue
		}
		actions = append(actions, e.Action)
		before := counted.views.Load()
		if err := d.complete(t.Context(), e, &ev); err != nil {
			t.Fatalf("complete(%s %d): %v", e.Action, e.Seq, err)
		}
		if n := counted.views.Load() - before; n != 1 {
			t.Errorf("complete(%s %d) opened %d read transactions, want 1", e.Action, e.Seq, n)
		}
		if ev.Approval == nil || ev.Note != note {
			t.Errorf("complete(%s %d) = approval %+v, note %q; want the gate's approvals and %q", e.Action, e.Seq, ev.Approval, ev.Note, note)
		}
	}
	want := []string{promote.ActionPromotionApproval, promote.ActionPromotionState} // newest first
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Errorf("the awaiting_approval notifications' events (-want +got):\n%s", diff)
	}
}

// The approvals a notification reports are the gate's, as the policy's
// approval settings count them, not its threshold's text or every
// approval recorded: an approver the policy's roles leave out (the
// policy changed since they approved) is not among those counted.
func TestApprovalRequestCountsAsThePolicy(t *testing.T) {
	pol, err := policy.Load("policy.yaml", []byte(rolePolicy))
	if err != nil {
		t.Fatal(err)
	}
	gate, err := pol.Gate("prod")
	if err != nil {
		t.Fatal(err)
	}
	d := gate.Evaluate(policy.Input{
		Candidate:   &policy.Evidence{Checks: map[string]bool{"tests_passed": true}},
		RequestedBy: "ci",
		Approvers:   []policy.Approver{{Name: "lena", Roles: []string{"approver"}}, {Name: "omar", Roles: []string{"approver", "ml-lead"}}},
	})
	results, err := json.Marshal(d.Results)
	if err != nil {
		t.Fatal(err)
	}
	recorded := []promote.Approval{{Approver: "lena", Approve: true}, {Approver: "omar", Approve: true}}
	got, ok := approvalRequest(results, recorded)
	if !ok {
		t.Fatalf("approvalRequest(%s) = false", results)
	}
	want := ApprovalCount{Approved: 1, Required: 2, ApprovedBy: []string{"omar"}}
	if diff := cmp.Diff(want, got.Approvals); diff != "" {
		t.Errorf("approvalRequest(%s).Approvals (-want +got):\n%s", results, diff)
	}
}

// awaitingExamples returns the JSON examples of docs/webhooks.md's
// section on the promotion.awaiting_approval event: the first one, then
// the one after an approval.
func awaitingExamples(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "\n### Awaiting approval\n")
	section, _, _ = strings.Cut(section, "\n#")
	var out []string
	for _, m := range regexp.MustCompile("(?s)\n```json\n(.*?)```").FindAllStringSubmatch(section, -1) {
		out = append(out, m[1])
	}
	if len(out) != 2 {
		t.Fatalf("docs/webhooks.md shows %d promotion.awaiting_approval events, want 2: the first, and one after an approval", len(out))
	}
	return out
}

// checkDocumented compares the shape of ev, as sent, with the JSON
// example docs/webhooks.md gives of it, what: the same fields, of the
// same kinds, at every level.
func checkDocumented(t *testing.T, what, example string, ev Event) {
	t.Helper()
	var documented, sent any
	if err := json.Unmarshal([]byte(example), &documented); err != nil {
		t.Fatalf("docs/webhooks.md's %s: %v", what, err)
	}
	body, err := Body(ev, FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &sent); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shapeOf(sent), shapeOf(documented)); diff != "" {
		t.Errorf("docs/webhooks.md's %s differs from the one sent (-sent +documented):\n%s", what, diff)
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
