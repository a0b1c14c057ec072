package gitops

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// A branch ahead of the store — the store restored from an older backup,
// or a pin a person wrote — pins an artifact the registry does not have.
// The reconciler used to commit the registry's live version over it,
// taking the environment back to what the backup knew; it now leaves the
// overlay alone and says why at every pass, until the overlay is put back.
func TestReconcileLeavesAPinTheRegistryDoesNotHave(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	v2 := f.register(t, "2", "0.91")
	f.promote(t, "2", "dev")
	w := newWriter(t, bare, nil)
	r := newReconciler(t, w, f.svc)
	if diff := cmp.Diff([]string{"dev/2:committed"}, kinds(reconcile(t, r, "credit-risk", "dev"))); diff != "" {
		t.Fatalf("first reconcile (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		name string
		pin  overlay.Pin
		want string
	}{
		{"a version it never registered", overlay.Pin{Model: "credit-risk", Version: "3", URI: v2.ArtifactURI, Digest: "sha256:" + strings.Repeat("3", 64)},
			"the dev overlay pins credit-risk 3 (sha256:3333"},
		{"a version of another digest", overlay.Pin{Model: "credit-risk", Version: "2", URI: v2.ArtifactURI, Digest: "sha256:" + strings.Repeat("4", 64)},
			"the dev overlay pins credit-risk 2 with digest sha256:4444"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := w.Promote(t.Context(), Change{Environment: "dev", Pin: tt.pin, PromotionID: "pr_00000000000000aa", Gate: "allowed"}); err != nil {
				t.Fatalf("the newer commit: %v", err)
			}
			n := commitCount(t, bare, "main")
			for range 2 {
				out := reconcile(t, r, "credit-risk", "dev")
				if len(out.Actions) != 1 || out.Actions[0].Kind != ActionRetry || !strings.Contains(out.Actions[0].Err.Error(), tt.want) ||
					!strings.Contains(out.Actions[0].Err.Error(), "does not commit over it") || ReasonOf(out.Actions[0].Err) != ReasonConflict {
					t.Fatalf("reconcile = %v, want a retry saying %q and that nothing is committed over it, counted as a conflict", kinds(out), tt.want)
				}
			}
			if got := commitCount(t, bare, "main"); got != n {
				t.Errorf("main has %d commits, want %d: nothing committed over the newer pin", got, n)
			}
			if got := pinsOnBranch(t, bare, "dev")["credit-risk"]; got != tt.pin {
				t.Errorf("dev pins %+v, want the newer pin %+v kept", got, tt.pin)
			}
			// A person puts the overlay back: in sync again.
			if _, err := w.Promote(t.Context(), Change{Environment: "dev", Pin: overlay.Pin{Model: "credit-risk", Version: "2", URI: v2.ArtifactURI, Digest: v2.Digest},
				PromotionID: "pr_00000000000000bb", Gate: "allowed"}); err != nil {
				t.Fatal(err)
			}
			if out := reconcile(t, r, "credit-risk", "dev"); len(out.Actions) != 0 || out.InSync != 1 {
				t.Errorf("reconcile after the overlay was put back = %v, %d in sync; want in sync", kinds(out), out.InSync)
			}
		})
	}
	f.verify(t)
}

// Registering the version an overlay pins is not enough to keep it: the
// registry then knows it, as a version that is not the live one, and the
// next pass commits the live one over it. So the error does not send a
// person to register it alone; it says to make it live with GitOps off.
func TestUnknownPinErrorSaysHowToKeepTheVersion(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	f.promote(t, "2", "dev")
	w := newWriter(t, bare, nil)
	r := newReconciler(t, w, f.svc)
	reconcile(t, r, "credit-risk", "dev")
	pin := overlay.Pin{Model: "credit-risk", Version: "3", URI: "s3://models/credit-risk-3.bin", Digest: "sha256:" + strings.Repeat("3", 64)}
	if _, err := w.Promote(t.Context(), Change{Environment: "dev", Pin: pin, PromotionID: "pr_00000000000000aa", Gate: "allowed"}); err != nil {
		t.Fatalf("the newer commit: %v", err)
	}
	out := reconcile(t, r, "credit-risk", "dev")
	if len(out.Actions) != 1 || out.Actions[0].Err == nil {
		t.Fatalf("reconcile = %v, want a retry", kinds(out))
	}
	msg := out.Actions[0].Err.Error()
	for _, want := range []string{"To keep 3, register it and promote it to dev with the server started without --gitops-remote",
		"registered but not live, it is committed over", "to go back to 2, pin it in the overlay by hand"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the unknown pin's error = %q, want it to say %q", msg, want)
		}
	}

	// What it warns of: registered alone, the version is committed over.
	if _, err := f.svc.RegisterVersion(t.Context(), ci, registry.RegisterRequest{Model: "credit-risk", Version: "3", ArtifactURI: pin.URI, Digest: pin.Digest,
		Metrics: []byte(`{"accuracy": 0.93, "checks": {"tests_passed": true}}`)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"dev/2:committed"}, kinds(reconcile(t, r, "credit-risk", "dev"))); diff != "" {
		t.Errorf("reconcile once 3 is registered, not live (-want +got):\n%s", diff)
	}
}

// A store restored from a backup taken while a change waited for its
// commit: the change's commit is on the branch, and the branch has moved
// past it to a version the registry does not have. The change is recorded
// as delivered at its commit, not committed again over the newer pin,
// which the next pass leaves alone.
func TestReconcileRecordsAWaitingChangeTheBranchMovedPast(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	v2 := f.register(t, "2", "0.91")
	view := f.promote(t, "2", "dev")
	w := newWriter(t, bare, nil)
	// The commit lands, and the process stops before the store records it.
	if _, err := newReconciler(t, w, stopAfterPush{f.svc}).Reconcile(t.Context(), "credit-risk", "dev"); err != nil && !errors.Is(err, errStopped) {
		t.Fatalf("Reconcile with the record refused: %v", err)
	}
	landed := runGit(t, bare, "rev-parse", "main")
	if l, _ := f.live(t, "dev"); l.Commit != "" {
		t.Fatalf("live in dev = %+v, want its change still waiting", l)
	}
	newer := overlay.Pin{Model: "credit-risk", Version: "3", URI: v2.ArtifactURI, Digest: "sha256:" + strings.Repeat("3", 64)}
	if _, err := w.Promote(t.Context(), Change{Environment: "dev", Pin: newer, PromotionID: "pr_00000000000000cc", Gate: "allowed"}); err != nil {
		t.Fatal(err)
	}
	n := commitCount(t, bare, "main")

	r := newReconciler(t, newWriter(t, bare, nil), f.svc)
	out := reconcile(t, r, "credit-risk", "dev")
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActionRecorded || out.Actions[0].Commit != landed {
		t.Fatalf("reconcile = %v, want the change recorded at its commit %s", kinds(out), landed)
	}
	if l, _ := f.live(t, "dev"); l.Commit != landed {
		t.Errorf("live in dev = %+v, want commit %s", l, landed)
	}
	if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateSucceeded {
		t.Errorf("promotion is %s, want succeeded", p.State)
	}
	out = reconcile(t, r, "credit-risk", "dev")
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActionRetry || !strings.Contains(out.Actions[0].Err.Error(), "a version the registry does not have") {
		t.Errorf("the next pass = %v, want the newer pin left alone", kinds(out))
	}
	if got := commitCount(t, bare, "main"); got != n {
		t.Errorf("main has %d commits, want %d: nothing committed over the newer pin", got, n)
	}
	if got := pinsOnBranch(t, bare, "dev")["credit-risk"]; got != newer {
		t.Errorf("dev pins %+v, want %+v", got, newer)
	}
	f.verify(t)
}
