package rollout

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/promote"
)

// timedOutErrors reads as the Poller does once Prometheus has timed out on
// the default errors query more often than the budget allows: the
// reading's error quotes the query, some 900 characters of PromQL.
type timedOutErrors struct{}

func (timedOutErrors) Read(_ context.Context, q metrics.Query) metrics.Reading {
	last := fmt.Errorf("prometheus counts for %s: %w", q, &metrics.QueryError{Query: metrics.DefaultErrorsTemplate,
		StatusCode: 422, Type: "execution", Message: "query timed out in expression evaluation"})
	return metrics.Reading{Status: metrics.StatusFailed,
		Err: fmt.Errorf("%w: 4 consecutive failed queries (budget 3), the last: %w", metrics.ErrBudgetExhausted, last)}
}

// A policy that rolls back on query_errors rolls back, however long the
// metric source's error: the reason Promote writes is cut to the 1,024
// characters a reason may have, where the rollback used to be refused for
// it and the rollout paused, the candidate neither reverted nor held.
func TestLongQueryErrorRollsBack(t *testing.T) {
	w := newWorldWith(t, testPipeline, strings.Replace(testPolicy,
		"when: [slo_breach, regression]", "when: [slo_breach, regression, query_errors]", 1))
	if r := w.pump(t, w.ctl, 1); r.State != promote.RolloutRunning {
		t.Fatalf("rollout = %s (%s), want running", r.State, r.Reason)
	}
	cfg := w.ctl.cfg
	cfg.Metrics = timedOutErrors{}
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := w.pump(t, ctl, 1)
	if r.State != promote.RolloutRolledBack || w.splitter.Weights() != 0 {
		t.Fatalf("rollout = %s, splitter %g (%.200s…); want rolled back, no traffic to the canary", r.State, w.splitter.Weights(), r.Reason)
	}
	st, err := w.svc.Status(t.Context(), "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	if st.Live["prod"].Version != "1" || len(st.Holds) != 1 || st.Holds[0].Version != "2" {
		t.Fatalf("after the rollback: live %s, holds %+v; want 1 live and 2 held", st.Live["prod"].Version, st.Holds)
	}
	reason := st.Live["prod"].Reason
	if n := utf8.RuneCountInString(reason); n > 1024 || !strings.HasPrefix(reason, "the metric source kept failing: query error budget exhausted") || !strings.HasSuffix(reason, "…") {
		t.Errorf("the rollback's reason (%d characters) = %q; want the metric source's error cut to 1024 characters", n, reason)
	}
}

// A person's reason for an abort is bounded as any rollback's: a longer
// one than 1,024 characters is refused before the traffic moves, and one
// of 1,024 rolls back, where "aborted by NAME: " before it made the
// rollback refuse it after the canary's traffic had been taken away.
func TestAbortReasonBounded(t *testing.T) {
	w := newWorld(t)
	r := w.pump(t, w.ctl, 1)
	if _, err := w.ctl.Abort(t.Context(), lena, r.PromotionID, strings.Repeat("é", 1025)); promote.ErrorCode(err) != promote.Invalid ||
		!strings.Contains(err.Error(), "the reason is 1025 characters; at most 1024") {
		t.Errorf("Abort with a 1025-character reason = %v, want Invalid, naming its length", err)
	}
	if got, _ := w.ctl.cfg.Registry.Rollout(t.Context(), r.PromotionID); got.State != promote.RolloutRunning || w.splitter.Weights() != 0.1 {
		t.Fatalf("after a refused Abort: rollout %s, splitter %g; want running at 0.1", got.State, w.splitter.Weights())
	}
	reason := strings.Repeat("é", 1024)
	r, err := w.ctl.Abort(t.Context(), lena, r.PromotionID, reason)
	if err != nil || r.State != promote.RolloutRolledBack {
		t.Fatalf("Abort with a 1024-character reason = %s, %v; want rolled back", r.State, err)
	}
}

// A pause, a resumption and a promotion now are bounded as an abort is:
// their reason goes into the audit trail, and one past 1,024 characters is
// refused before anything changes.
func TestOperationReasonsBounded(t *testing.T) {
	w := newWorld(t)
	r := w.pump(t, w.ctl, 1)
	long := strings.Repeat("é", 1025)
	for name, op := range map[string]func(context.Context, promote.Principal, string, string) (promote.Rollout, error){
		"Pause": w.ctl.Pause, "Resume": w.ctl.Resume, "PromoteNow": w.ctl.PromoteNow,
	} {
		if _, err := op(t.Context(), lena, r.PromotionID, long); promote.ErrorCode(err) != promote.Invalid ||
			!strings.Contains(err.Error(), "the reason is 1025 characters; at most 1024") {
			t.Errorf("%s with a 1025-character reason = %v, want Invalid, naming its length", name, err)
		}
		if got, _ := w.ctl.cfg.Registry.Rollout(t.Context(), r.PromotionID); got.State != promote.RolloutRunning || w.splitter.Weights() != 0.1 {
			t.Fatalf("after a refused %s: rollout %s, splitter %g; want running at 0.1", name, got.State, w.splitter.Weights())
		}
	}
	if _, err := w.ctl.Pause(t.Context(), lena, r.PromotionID, strings.Repeat("é", 1024)); err != nil {
		t.Errorf("Pause with a 1024-character reason: %v", err)
	}
}
