package registry_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// restartWith runs the fixture's store under a new service whose pipeline
// is pipelineDoc with every environment gated by policyDoc, as
// `promote serve` does after promote.yaml changed and the server restarted.
func (f *fixture) restartWith(t *testing.T, pipelineDoc, policyDoc string) {
	t.Helper()
	f.serve(t, pipelineDoc, policyDoc)
}

// A promotion waiting for approval in an environment that the pipeline no
// longer has after a restart (renamed or removed) cannot be approved or
// rejected: there is no gate to judge it by. Each is a Conflict that names
// the environment and says to cancel, and changes nothing; cancelling
// still works.
func TestQueuedPromotionInEnvironmentNoLongerInPipeline(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	if p.State != promote.StateAwaitingApproval {
		t.Fatalf("prod promotion = %s (%s)", p.State, p.Reason)
	}
	renamed := strings.Replace(pipelineYAML, "name: prod", "name: production", 1)
	f.restartWith(t, renamed, strings.Replace(policyYAML, "  prod:", "  production:", 1))
	before := f.auditCount(t)
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"approve", func() error {
			_, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest})
			return err
		}},
		{"reject", func() error {
			_, err := f.svc.Reject(ctx, lead, p.ID, "no")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s panicked: %v", tc.name, r)
					}
				}()
				err = tc.do()
			}()
			if promote.ErrorCode(err) != promote.Conflict {
				t.Fatalf("%s = %v, want Conflict", tc.name, err)
			}
			for _, want := range []string{p.ID, "prod", "no longer in the pipeline", "dev, staging, production", "cancel"} {
				if msg := userMessage(err); !strings.Contains(msg, want) {
					t.Errorf("%s says %q, want it to name %q", tc.name, msg, want)
				}
			}
		})
	}
	if n := f.auditCount(t); n != before {
		t.Errorf("audit events after refused decisions = %d, want %d", n, before)
	}
	got, err := f.svc.Cancel(ctx, submitter, p.ID, "prod is production now")
	if err != nil || got.State != promote.StateCancelled {
		t.Fatalf("Cancel = %s, %v; want cancelled", got.State, err)
	}
	f.verify(t)
}

// A request blocked by soak says from when the version may go, as a
// moment, not only how long was left when it was asked; the time counts
// from the upstream success recorded in the store, so a restart in
// between changes nothing.
func TestSoakSaysWhenItMayGo(t *testing.T) {
	f := newFixture(t)
	f.register(t, "1", goodMetrics)
	if got := f.request(t, submitter, "1", "dev"); got.State != promote.StateSucceeded {
		t.Fatalf("dev promotion = %s (%s)", got.State, got.Reason)
	}
	f.advance(10*time.Minute + 300*time.Millisecond)
	f.restartWith(t, pipelineYAML, policyYAML)
	got := f.request(t, submitter, "1", "staging")
	want := "soak: version 1 has soaked in dev for 10m0s of the 1h0m0s required: it may enter staging from 2026-11-25T11:00:00Z (50m0s to go)"
	if got.State != promote.StateBlocked || got.Reason != "blocked: "+want {
		t.Fatalf("early staging promotion = %s, %q; want blocked, %q", got.State, got.Reason, want)
	}
	f.advance(50 * time.Minute)
	got = f.request(t, submitter, "1", "staging")
	if got.State != promote.StateSucceeded {
		t.Fatalf("staging promotion at the time the message named = %s (%s)", got.State, got.Reason)
	}
	// Served, the soak stays among the gate's results, as passed, for
	// whoever decides: how long the version ran upstream.
	want = "version 1 has soaked in dev for 1h0m0s, at least the 1h0m0s required (succeeded there at 2026-11-25T10:00:00Z)"
	if got.Gate == nil || len(got.Gate.Results) == 0 || got.Gate.Results[0].Rule != "soak" ||
		got.Gate.Results[0].Status != policy.StatusPass || got.Gate.Results[0].Message != want {
		t.Fatalf("staging promotion's gate = %+v, want a first result soak passed: %q", got.Gate, want)
	}
	if !got.Gate.Allowed || got.Gate.Summary.Fail != 0 {
		t.Errorf("staging promotion's gate allowed %t with %+v, want allowed, no failure", got.Gate.Allowed, got.Gate.Summary)
	}
}

// A freeze override's reason goes whole into the audit trail, so it is
// bounded as every other reason is, and one too long changes nothing.
func TestFreezeOverrideReasonIsBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	f.toStaging(t, "1")
	f.clk.Set(time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC)) // in prod's year-end freeze
	before := f.auditCount(t)
	req := registry.PromoteRequest{Model: "credit-risk", Version: "1", Environment: "prod", Override: true, Reason: strings.Repeat("x", 1025)}
	_, err := f.svc.RequestPromotion(ctx, admin, req)
	if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(userMessage(err), "at most 1024") {
		t.Fatalf("override with a 1,025-character reason = %v, want Invalid naming the limit", err)
	}
	if n := f.auditCount(t); n != before {
		t.Errorf("audit events after a refused override = %d, want %d", n, before)
	}
	req.Reason = strings.Repeat("x", 1024)
	if got, err := f.svc.RequestPromotion(ctx, admin, req); err != nil || !got.Override {
		t.Fatalf("override with a 1,024-character reason = %+v, %v; want it accepted", got.Promotion, err)
	}
}

// After a restart on a pipeline without prod, Stranded names the
// promotion still waiting there, and nothing else: not finished ones,
// not those of environments the pipeline still has.
func TestStrandedNamesPromotionsInEnvironmentsGone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	waiting := f.toProd(t, "1")
	f.register(t, "2", goodMetrics)
	f.request(t, submitter, "2", "dev")
	queuedStaging := f.request(t, submitter, "2", "staging") // blocked by soak: finished
	if queuedStaging.State != promote.StateBlocked {
		t.Fatalf("staging promotion of 2 = %s, want blocked", queuedStaging.State)
	}
	stranded, err := f.svc.Stranded(ctx)
	if err != nil || len(stranded) != 0 {
		t.Fatalf("Stranded before the change = %+v, %v; want none", stranded, err)
	}
	f.restartWith(t, strings.Replace(pipelineYAML, "name: prod", "name: production", 1), strings.Replace(policyYAML, "  prod:", "  production:", 1))
	stranded, err = f.svc.Stranded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range stranded {
		got = append(got, p.ID+" "+p.Environment+" "+string(p.State))
	}
	if want := []string{waiting.ID + " prod awaiting_approval"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Stranded after prod was renamed = %v, want %v", got, want)
	}
	if _, err := f.svc.Cancel(ctx, submitter, waiting.ID, "prod is production now"); err != nil {
		t.Fatal(err)
	}
	if stranded, err := f.svc.Stranded(ctx); err != nil || len(stranded) != 0 {
		t.Errorf("Stranded after cancelling = %+v, %v; want none", stranded, err)
	}
}

// A hold names its environment: after prod is renamed production, the
// hold on prod no longer keeps the version out, and StrandedHolds names
// it so that a person can set it again.
func TestStrandedHoldsNamesHoldsARenameLifted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	f.toStaging(t, "1")
	h, err := f.svc.SetHold(ctx, lead, "credit-risk", "1", "prod", "fairness review pending")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetHold(ctx, lead, "credit-risk", "1", "staging", "kept"); err != nil {
		t.Fatal(err)
	}
	f.restartWith(t, strings.Replace(pipelineYAML, "name: prod", "name: production", 1), strings.Replace(policyYAML, "  prod:", "  production:", 1))
	holds, err := f.svc.StrandedHolds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(holds) != 1 || holds[0].ID != h.ID || holds[0].Environment != "prod" {
		t.Fatalf("StrandedHolds after prod was renamed = %+v, want hold %d in prod only", holds, h.ID)
	}
	f.advance(24 * time.Hour)
	if got := f.request(t, submitter, "1", "production"); blockingRules(got) != "" {
		t.Errorf("request to production blocked by %s; the hold on prod does not apply there", blockingRules(got))
	}
}

// The history of an environment the pipeline no longer names stays
// readable: the store keeps it. An environment with no history there is
// still the pipeline's error, listing the environments it has.
func TestHistoryOfARenamedEnvironment(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	f.toStaging(t, "1")
	f.restartWith(t, strings.Replace(strings.Replace(pipelineYAML, "name: staging", "name: preprod", 1), "from: staging", "from: preprod", 1),
		strings.Replace(policyYAML, "  staging:", "  preprod:", 1))
	h, err := f.svc.History(ctx, promote.LiveFilter{Model: "credit-risk", Environment: "staging"})
	if err != nil || len(h) != 1 || h[0].Version != "1" {
		t.Errorf("History(staging) after the rename = %+v, %v; want version 1's entry", h, err)
	}
	if _, err := f.svc.History(ctx, promote.LiveFilter{Model: "credit-risk", Environment: "stagign"}); promote.ErrorCode(err) != promote.NotFound || !strings.Contains(err.Error(), "preprod") {
		t.Errorf("History(stagign) = %v, want NotFound listing the pipeline's environments", err)
	}
}

// A model's status lists every active hold, past a store page of 100.
func TestStatusListsEveryHold(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	want := 0
	for v := 1; v <= 34; v++ {
		f.register(t, strconv.Itoa(v), goodMetrics)
		for _, env := range []string{"dev", "staging", "prod"} {
			if _, err := f.svc.SetHold(ctx, lead, "credit-risk", strconv.Itoa(v), env, "review"); err != nil {
				t.Fatal(err)
			}
			want++
		}
	}
	st, err := f.svc.Status(ctx, "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Holds) != want {
		t.Errorf("Status lists %d holds, want %d", len(st.Holds), want)
	}
}
