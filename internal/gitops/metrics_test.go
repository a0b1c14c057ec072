package gitops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/promote"
)

// series reads the GitOps metrics of reg: each sample by its name and
// label values, e.g. "promote_gitops_delivery_failures_total{dev,push_rejected}".
func series(t *testing.T, reg *telemetry.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "promote_gitops_") {
			continue
		}
		for _, m := range f.Metric {
			var values []string
			for _, l := range m.Label {
				values = append(values, l.GetValue())
			}
			v := m.GetGauge().GetValue()
			if m.Counter != nil {
				v = m.GetCounter().GetValue()
			}
			out[fmt.Sprintf("%s{%s}", f.GetName(), strings.Join(values, ","))] = v
		}
	}
	return out
}

// failures is the failures series of env: 0 for each reason but those
// given.
func failures(env string, n map[Reason]float64) map[string]float64 {
	out := map[string]float64{}
	for _, r := range reasons {
		out[fmt.Sprintf("%s{%s,%s}", MetricDeliveryFailures, env, r)] = n[r]
	}
	return out
}

func newObservedReconciler(t *testing.T, w *Writer, reg Registry, now func() time.Time) (*Reconciler, *telemetry.Registry) {
	t.Helper()
	tr := telemetry.NewRegistry()
	m, err := NewMetrics(tr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReconciler(ReconcilerConfig{Writer: w, Registry: reg, RetryDelay: 10 * time.Millisecond, Metrics: m, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return r, tr
}

// While the remote refuses a change's push, the change waits for its
// commit: the metrics count it and each refusal, and the change's status
// says why, since the first refusal. Once the remote takes the push, the
// error is gone and the commit's time is there.
func TestReconcileShowsARefusedCommit(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	f.register(t, "3", "0.92")
	clock := time.Unix(1_750_000_000, 0)
	r, reg := newObservedReconciler(t, newWriter(t, bare, nil), f.svc, func() time.Time { return clock })

	f.promote(t, "2", "dev")
	reconcile(t, r, "", "")
	want := failures("dev", nil)
	want[MetricPendingChanges+"{dev}"] = 0
	want[MetricLastCommit+"{dev}"] = float64(clock.Unix())
	if diff := cmp.Diff(want, series(t, reg)); diff != "" {
		t.Fatalf("metrics after the first commit (-want +got):\n%s", diff)
	}

	refusePushes(t, bare, true)
	f.promote(t, "3", "dev")
	before := time.Now()
	for i := 1; i <= 2; i++ {
		clock = clock.Add(time.Minute)
		out := reconcile(t, r, "", "")
		if len(out.Actions) != 1 || out.Actions[0].Kind != ActionRetry {
			t.Fatalf("Reconcile %d with the push refused = %v, want a retry", i, kinds(out))
		}
		want = failures("dev", map[Reason]float64{ReasonPushRejected: float64(i)})
		want[MetricPendingChanges+"{dev}"] = 1
		want[MetricLastCommit+"{dev}"] = float64(clock.Add(-time.Duration(i) * time.Minute).Unix())
		if diff := cmp.Diff(want, series(t, reg)); diff != "" {
			t.Errorf("metrics after refusal %d (-want +got):\n%s", i, diff)
		}
		l, _ := f.live(t, "dev")
		if l.Version != "3" || l.CommitError == nil || !strings.Contains(l.CommitError.Message, "pre-receive hook declined") ||
			!strings.Contains(l.CommitError.Message, "the remote said: the branch is protected") ||
			l.CommitError.Since.Before(before.Add(-time.Second)) || l.CommitError.Since.After(time.Now()) {
			t.Fatalf("live in dev after refusal %d = %+v, want version 3 with the remote's refusal since about %v", i, l, before)
		}
		if strings.Contains(l.CommitError.Message, "\n") {
			t.Errorf("commit error %q has several lines, want one", l.CommitError.Message)
		}
	}
	first, _ := f.live(t, "dev")

	refusePushes(t, bare, false)
	clock = clock.Add(time.Minute)
	if diff := cmp.Diff([]string{"dev/3:committed"}, kinds(reconcile(t, r, "", ""))); diff != "" {
		t.Fatalf("Reconcile once the remote takes pushes (-want +got):\n%s", diff)
	}
	if l, _ := f.live(t, "dev"); l.Commit == "" || l.CommitError != nil {
		t.Errorf("live in dev after the commit = %+v, want the commit and no commit error", l)
	}
	want = failures("dev", map[Reason]float64{ReasonPushRejected: 2})
	want[MetricPendingChanges+"{dev}"] = 0
	want[MetricLastCommit+"{dev}"] = float64(clock.Unix())
	if diff := cmp.Diff(want, series(t, reg)); diff != "" {
		t.Errorf("metrics after the commit landed (-want +got):\n%s", diff)
	}
	if first.CommitError.Since.After(before.Add(time.Minute)) {
		t.Errorf("commit error since %v after two refusals, want the first refusal's time", first.CommitError.Since)
	}

	// A replica that stops reconciling shows no GitOps series.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := series(t, reg); len(got) != 0 {
		t.Errorf("metrics after Run returned = %v, want none", got)
	}
	f.verify(t)
}

// A remote that does not answer: every environment of the pass counts an
// unreachable attempt, and each change waiting for its commit says why.
func TestReconcileShowsAnUnreachableRemote(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	r, _ := newObservedReconciler(t, newWriter(t, bare, nil), f.svc, nil)
	f.promote(t, "2", "dev")
	reconcile(t, r, "", "")
	f.promote(t, "2", "staging")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/gitops.git"
	ln.Close()
	r, reg := newObservedReconciler(t, newWriter(t, closed, nil), f.svc, nil)
	if _, err := r.Reconcile(t.Context(), "", ""); err == nil {
		t.Fatal("Reconcile with the remote unreachable succeeded, want an error")
	}
	want := failures("dev", map[Reason]float64{ReasonUnreachable: 1})
	for k, v := range failures("staging", map[Reason]float64{ReasonUnreachable: 1}) {
		want[k] = v
	}
	want[MetricPendingChanges+"{dev}"] = 0
	want[MetricPendingChanges+"{staging}"] = 1
	if diff := cmp.Diff(want, series(t, reg)); diff != "" {
		t.Errorf("metrics with the remote unreachable (-want +got):\n%s", diff)
	}
	if l, _ := f.live(t, "staging"); l.CommitError == nil || !strings.Contains(l.CommitError.Message, "connection refused") {
		t.Errorf("live in staging = %+v, want a commit error saying the connection was refused", l)
	}
	if l, _ := f.live(t, "dev"); l.CommitError != nil {
		t.Errorf("live in dev = %+v, want no commit error: its change is committed", l)
	}
}

func TestReasonOf(t *testing.T) {
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		err  error
		want Reason
	}{
		{"render", fmt.Errorf("%w: kustomize: missing.yaml", ErrRender), ReasonRender},
		{"overlay", overlayError("pin", promote.Errorf(promote.Invalid, "no such model")), ReasonRender},
		{"conflict", fmt.Errorf("push: %w", ErrConflict), ReasonConflict},
		{"closed pull request", fmt.Errorf("pull request #3 was %w", errPRClosed), ReasonConflict},
		{"refused credentials", fmt.Errorf("fetch main: %w", transport.ErrAuthenticationRequired), ReasonAuth},
		{"refused push", &pushError{errors.New("command error on refs/heads/main: pre-receive hook declined")}, ReasonPushRejected},
		{"push that met the network", &pushError{opErr}, ReasonUnreachable},
		{"fetch that met the network", fmt.Errorf("fetch main: %w", opErr), ReasonUnreachable},
		{"API down", &apiError{Method: "GET", Path: "/pulls/3", Status: 503}, ReasonUnreachable},
		{"API token refused", &apiError{Method: "POST", Path: "/pulls", Status: 401}, ReasonAuth},
		{"anything else", errors.New("gitops: read the new commit"), ReasonOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReasonOf(tt.err); got != tt.want {
				t.Errorf("ReasonOf(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}
