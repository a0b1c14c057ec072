package httpapi

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// GET /leader answers what the Leader hook reports, to any token, and a
// NotFound on a server that takes part in no election.
func TestLeader(t *testing.T) {
	want := Leader{Lease: "controllers", Self: "b-2-cafe", Leader: false, Holder: "a-1-beef", Epoch: 7,
		ExpiresAt: time.Date(2025, 6, 1, 12, 0, 15, 0, time.UTC)}
	f := newFixture(t, func(o *Options) { o.Leader = func() Leader { return want } })
	got, err := f.client(f.vera).Leader(t.Context())
	if err != nil {
		t.Fatalf("Leader: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Leader mismatch (-want +got):\n%s", diff)
	}
	if _, err := f.client("prm_wrong").Leader(t.Context()); promote.ErrorCode(err) != promote.Unauthorized {
		t.Errorf("Leader with a wrong token = %v, want Unauthorized", err)
	}

	plain := newFixture(t)
	if _, err := plain.client(plain.vera).Leader(t.Context()); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("Leader without an election = %v, want NotFound", err)
	}
}
