package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// TestFencedWrites checks that the writes of a context carrying a lease's
// fence are checked against the lease in their transaction: they succeed
// while the fence's term lasts, and once another holder has taken the
// lease they fail with Conflict and store nothing, audit events included.
func TestFencedWrites(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testFencedWrites(t, open) })
	}
}

func testFencedWrites(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	f.register(t, "1.0", goodMetrics)
	take := func(holder string, release *promote.Fence) promote.Fence { return f.takeLease(t, holder, release) }
	events := func() int64 { t.Helper(); return f.verify(t).Events }

	a := take("replica-a", nil)
	asA := promote.WithFence(context.Background(), a)
	if _, err := f.svc.CreateModel(asA, submitter, "fraud", "while a leads"); err != nil {
		t.Fatalf("CreateModel with a's current fence: %v", err)
	}
	if _, err := f.svc.Model(context.Background(), "fraud"); err != nil {
		t.Errorf("Model(fraud) written with a's current fence: %v", err)
	}

	// b takes the lease: a's writes are refused and change nothing.
	if err := f.svc.CheckFence(asA); err != nil {
		t.Errorf("CheckFence with a's current fence: %v", err)
	}
	b := take("replica-b", &a)
	wantDeposed(t, "CheckFence with a's stale fence", f.svc.CheckFence(asA), b)
	if err := f.svc.CheckFence(context.Background()); err != nil {
		t.Errorf("CheckFence without a fence: %v", err)
	}
	before := events()
	_, err := f.svc.CreateModel(asA, submitter, "churn", "after a was deposed")
	wantDeposed(t, "CreateModel with a's stale fence", err, b)
	if _, err := f.svc.Model(context.Background(), "churn"); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("Model(churn) after a refused fenced write = %v, want NotFound", err)
	}
	_, err = f.svc.RequestPromotion(asA, submitter, registry.PromoteRequest{Model: "credit-risk", Version: "1.0", Environment: "dev"})
	wantDeposed(t, "RequestPromotion with a's stale fence", err, b)
	if err := f.store.View(context.Background(), func(tx promote.Tx) error {
		got, err := tx.Promotions(promote.PromotionFilter{Model: "credit-risk"})
		if err == nil && len(got) != 0 {
			t.Errorf("Promotions(credit-risk) after a refused fenced request = %+v, want none", got)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if after := events(); after != before {
		t.Errorf("audit events after refused fenced writes = %d, want %d as before", after, before)
	}

	// b's fence, and no fence at all (an API request on any replica),
	// still write.
	asB := promote.WithFence(context.Background(), b)
	view, err := f.svc.RequestPromotion(asB, submitter, registry.PromoteRequest{Model: "credit-risk", Version: "1.0", Environment: "dev"})
	if err != nil {
		t.Fatalf("RequestPromotion with b's current fence: %v", err)
	}
	if view.Promotion.Model != "credit-risk" || view.Promotion.Environment != "dev" {
		t.Errorf("RequestPromotion with b's fence = %+v, want a promotion of credit-risk to dev", view.Promotion)
	}
	if _, err := f.svc.CreateModel(context.Background(), submitter, "churn", "unfenced"); err != nil {
		t.Errorf("CreateModel without a fence: %v", err)
	}
	if after := events(); after <= before {
		t.Errorf("audit events after b's writes = %d, want more than %d", after, before)
	}
}

// wantDeposed fails the test unless err is the Conflict of a fence check
// that names the lease's current term.
// takeLease makes holder the holder of the lease "controllers" for an
// hour, after releasing release's term when it is set, and returns its
// fence.
func (f *fixture) takeLease(t *testing.T, holder string, release *promote.Fence) promote.Fence {
	t.Helper()
	var l promote.Lease
	err := f.store.Update(context.Background(), func(tx promote.Tx) (err error) {
		if release != nil {
			if err := tx.ReleaseLease(release.Name, release.Holder, release.Epoch, f.clock()); err != nil {
				return err
			}
		}
		l, err = tx.AcquireLease("controllers", holder, time.Hour, f.clock())
		return err
	})
	if err != nil {
		t.Fatalf("AcquireLease(%s): %v", holder, err)
	}
	return promote.Fence{Name: l.Name, Holder: l.Holder, Epoch: l.Epoch}
}

func wantDeposed(t *testing.T, what string, err error, current promote.Fence) {
	t.Helper()
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "deposed") ||
		!strings.Contains(err.Error(), current.Holder) {
		t.Errorf("%s = %v, want a Conflict: deposed, naming %s", what, err, current.Holder)
	}
}
