package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// userMessage is the message of err's domain error: what the API and the
// web UI show.
func userMessage(err error) string {
	var pe *promote.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return ""
}

// auditCount is how many audit events the store holds.
func (f *fixture) auditCount(t *testing.T) int {
	t.Helper()
	events, err := f.svc.AuditEvents(context.Background(), promote.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

// Cancelling a promotion that is past cancelling (finished, or its change
// already committed) is a Conflict that names the promotion and its state
// and says what to do instead, and changes nothing.
func TestCancelFinishedPromotionSaysWhy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	done := f.toStaging(t, "1")
	if done.State != promote.StateSucceeded {
		t.Fatalf("staging promotion = %s, want succeeded", done.State)
	}
	before := f.auditCount(t)
	_, err := f.svc.Cancel(ctx, submitter, done.ID, "too late")
	if promote.ErrorCode(err) != promote.Conflict {
		t.Fatalf("Cancel(succeeded) = %v, want Conflict", err)
	}
	for _, want := range []string{done.ID, "succeeded", "roll"} {
		if msg := userMessage(err); !strings.Contains(msg, want) {
			t.Errorf("Cancel(succeeded) says %q, want it to name %q", msg, want)
		}
	}
	if n := f.auditCount(t); n != before {
		t.Errorf("audit events after a refused cancel = %d, want %d", n, before)
	}
}
