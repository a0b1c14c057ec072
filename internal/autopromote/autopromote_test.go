package autopromote_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/autopromote"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// pipelineYAML promotes by itself into staging, an hour after a version
// succeeds in dev, and into prod a day after it succeeds in staging.
const pipelineYAML = `apiVersion: promote.dev/v1
kind: Pipeline
environments:
  - name: dev
    policy: policy.yaml
  - name: staging
    from: dev
    policy: policy.yaml
    soak: 1h
    autoPromote: true
  - name: prod
    from: staging
    policy: policy.yaml
    soak: 24h
    autoPromote: true
`

// policyYAML lets a version through dev with a latency of up to 180 ms,
// through staging up to 150 ms, and into prod with an approval.
const policyYAML = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
  metrics:
    latency_p95_ms: "<= 180"
environments:
  dev: {}
  staging:
    gate:
      metrics:
        latency_p95_ms: "<= 150"
  prod:
    gate:
      approvals:
        min: 1
`

var (
	submitter = promote.Principal{Name: "ci", Role: promote.RoleSubmitter}
	approver  = promote.Principal{Name: "lena", Role: promote.RoleApprover}
)

// world is a registry on SQLite whose clock the test moves, and a
// controller that runs on it, each of whose passes the test reads.
type world struct {
	svc    *registry.Service
	ctl    *autopromote.Controller
	passes chan []string
	clock  *webuitest.Clock
}

// observed is the registry as the controller sees it: each pass's
// requests are handed to the test, as "VERSION→ENV:STATE", before the
// controller goes on.
type observed struct {
	*registry.Service
	passes chan<- []string
}

func (o observed) AutoPromote(ctx context.Context) (registry.AutoPass, error) {
	pass, err := o.Service.AutoPromote(ctx)
	got := []string{}
	for _, v := range pass.Requested {
		got = append(got, fmt.Sprintf("%s→%s:%s", v.Version, v.Environment, v.State))
	}
	if err != nil {
		got = append(got, "error: "+err.Error())
	}
	select {
	case o.passes <- got:
	case <-ctx.Done():
	}
	return pass, err
}

// newWorld starts a controller whose interval is a day, so that only its
// first pass and Trigger make passes within a test (a pass's Due brings
// one after a wait in real time, as long as in the registry's time); it
// ends with the test.
func newWorld(t *testing.T) *world {
	t.Helper()
	clock := webuitest.NewClock(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	w := newRegistry(t, clock.Now)
	w.clock, w.passes = clock, make(chan []string)
	var err error
	if w.ctl, err = autopromote.New(autopromote.Config{Registry: observed{w.svc, w.passes}, Interval: 24 * time.Hour, Now: clock.Now}); err != nil {
		t.Fatal(err)
	}
	run(t, w.ctl)
	w.wantPass(t, "the first pass, at start")
	return w
}

// newRegistry returns a world with only its registry, on SQLite, with
// the clock now (time.Now when nil), and the model credit-risk.
func newRegistry(t *testing.T, now func() time.Time) *world {
	t.Helper()
	store := registrytest.SQLite(t, t.TempDir())
	w := &world{svc: registrytest.Load(t, pipelineYAML, policyYAML).New(t, store, registry.Config{Now: now})}
	if _, err := w.svc.CreateModel(t.Context(), submitter, "credit-risk", "scores loans"); err != nil {
		t.Fatal(err)
	}
	return w
}

// run runs ctl until the test ends, and checks that Run then returns nil.
func run(t *testing.T, ctl *autopromote.Controller) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil once its context ends", err)
		}
	})
}

func (w *world) advance(d time.Duration) { w.clock.Advance(d) }

// wantPass waits for the controller's next pass and checks what it
// requested.
func (w *world) wantPass(t *testing.T, what string, want ...string) {
	t.Helper()
	select {
	case got := <-w.passes:
		if want == nil {
			want = []string{}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: the pass requested (-want +got):\n%s", what, diff)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no pass within 30s", what)
	}
}

// cue triggers a pass and checks what it requested.
func (w *world) cue(t *testing.T, what string, want ...string) {
	t.Helper()
	w.ctl.Trigger()
	w.wantPass(t, what, want...)
}

// register registers version with the p95 latency given, its tests passed.
func (w *world) register(t *testing.T, version string, latency int) {
	t.Helper()
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("weights of "+version)))
	_, err := w.svc.RegisterVersion(t.Context(), submitter, registry.RegisterRequest{
		Model: "credit-risk", Version: version, ArtifactURI: "s3://models/credit-risk/" + version, Digest: digest,
		Metrics: fmt.Appendf(nil, `{"latency_p95_ms": %d, "checks": {"tests_passed": true}}`, latency),
	})
	if err != nil {
		t.Fatalf("RegisterVersion(%s): %v", version, err)
	}
}

// request has the submitter request version into env, which must end in
// state want.
func (w *world) request(t *testing.T, version, env string, want promote.State) registry.PromotionView {
	t.Helper()
	v, err := w.svc.RequestPromotion(t.Context(), submitter, registry.PromoteRequest{Model: "credit-risk", Version: version, Environment: env})
	if err != nil || v.State != want {
		t.Fatalf("RequestPromotion(%s → %s) = %s (%s), %v; want %s", version, env, v.State, v.Reason, err, want)
	}
	return v
}

// promotions lists the promotions of credit-risk, oldest first, as
// "VERSION→ENV:STATE:REQUESTER".
func (w *world) promotions(t *testing.T) []string {
	t.Helper()
	ps, err := w.svc.Promotions(t.Context(), promote.PromotionFilter{Model: "credit-risk", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for i := len(ps) - 1; i >= 0; i-- {
		out = append(out, fmt.Sprintf("%s→%s:%s:%s", ps[i].Version, ps[i].Environment, ps[i].State, ps[i].RequestedBy))
	}
	return out
}

func (w *world) wantPromotions(t *testing.T, what string, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, w.promotions(t)); diff != "" {
		t.Errorf("%s: promotions (-want +got):\n%s", what, diff)
	}
}

// A version that succeeded in dev is requested in staging by the
// controller once its hour of soak there is served, not a minute before,
// and once; then in prod a day later, where it awaits its approver.
func TestRequestsOnceTheSoakIsServed(t *testing.T) {
	w := newWorld(t)
	w.register(t, "1", 120)
	w.request(t, "1", "dev", promote.StateSucceeded)
	w.cue(t, "right after dev")
	w.advance(59 * time.Minute)
	w.cue(t, "a minute before the soak is served")
	w.wantPromotions(t, "during the soak", "1→dev:succeeded:ci")
	w.advance(time.Minute)
	w.cue(t, "the soak served", "1→staging:succeeded")
	w.cue(t, "live in staging")
	w.advance(24*time.Hour - time.Minute)
	w.cue(t, "a minute before staging's soak is served")
	w.advance(time.Minute)
	w.cue(t, "staging's soak served", "1→prod:awaiting_approval")
	w.advance(time.Hour)
	w.cue(t, "awaiting approval in prod")
	w.wantPromotions(t, "at the end",
		"1→dev:succeeded:ci", "1→staging:succeeded:auto-promote", "1→prod:awaiting_approval:auto-promote")
}

// The controller wakes when a soak ends, not at its next interval: with
// passes every ten minutes, a version whose hour in dev ends at 1h01m is
// requested in staging then, not at 1h10m. Time is the test bubble's.
func TestActsWhenTheSoakEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newRegistry(t, nil)
		ctl, err := autopromote.New(autopromote.Config{Registry: w.svc, Interval: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		run(t, ctl)
		time.Sleep(time.Minute)
		w.register(t, "1", 120)
		dev := w.request(t, "1", "dev", promote.StateSucceeded)
		// Not cued: the pass at 10m learns when the soak ends.
		time.Sleep(time.Hour - time.Nanosecond)
		synctest.Wait()
		w.wantPromotions(t, "a nanosecond before the soak is served", "1→dev:succeeded:ci")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		w.wantPromotions(t, "the soak served", "1→dev:succeeded:ci", "1→staging:succeeded:auto-promote")
		ps, err := w.svc.Promotions(t.Context(), promote.PromotionFilter{Model: "credit-risk", Environment: "staging"})
		if err != nil || len(ps) != 1 {
			t.Fatalf("staging promotions = %v, %v", ps, err)
		}
		if got, want := ps[0].RequestedAt.Sub(dev.UpdatedAt), time.Hour; got != want {
			t.Errorf("staging requested %s after dev succeeded, want %s", got, want)
		}
	})
}

// Trigger makes a pass at once, however long the interval; cues that
// arrive before the pass starts make one pass, not one each.
func TestTriggerPassesAtOnce(t *testing.T) {
	w := newWorld(t)
	w.register(t, "1", 120)
	w.request(t, "1", "dev", promote.StateSucceeded)
	w.advance(time.Hour)
	// The controller waits for the day's interval: only a cue brings the
	// pass that requests version 1.
	w.cue(t, "cued", "1→staging:succeeded")
	w.wantPromotions(t, "after the cue", "1→dev:succeeded:ci", "1→staging:succeeded:auto-promote")
}

// A version whose automatic request ended blocked, rejected, cancelled or
// rolled back is not requested again, however many passes follow, and
// does not go further down the pipeline. Each case starts with version 1
// requested into staging by the controller.
func TestNeverAgainAfterItEnds(t *testing.T) {
	// second has version 2, with the latency given, succeed in dev and
	// be requested, an hour later, into staging, in state want.
	second := func(t *testing.T, w *world, latency int, want string) {
		w.register(t, "2", latency)
		w.request(t, "2", "dev", promote.StateSucceeded)
		w.advance(time.Hour)
		w.cue(t, "version 2 soaked in dev", want)
	}
	// inProd has version 1 requested into prod, where it awaits
	// approval, and returns the promotion's ID.
	inProd := func(t *testing.T, w *world) string {
		w.advance(24 * time.Hour)
		w.cue(t, "soaked in staging", "1→prod:awaiting_approval")
		ps, err := w.svc.Promotions(t.Context(), promote.PromotionFilter{Model: "credit-risk", Environment: "prod", ActiveOnly: true})
		if err != nil || len(ps) != 1 {
			t.Fatalf("active prod promotions = %v, %v; want the automatic one", ps, err)
		}
		return ps[0].ID
	}
	start := []string{"1→dev:succeeded:ci", "1→staging:succeeded:auto-promote"}
	for _, tc := range []struct {
		name string
		// end brings an automatic request to its end.
		end func(t *testing.T, w *world)
		// dayOne is what the pass a day after the end requests.
		dayOne []string
		want   []string
	}{
		{
			name: "blocked by the gate",
			end: func(t *testing.T, w *world) {
				second(t, w, 170, "2→staging:blocked") // through dev's 180 ms, not staging's 150
			},
			// Version 1 is still the newest success in staging.
			dayOne: []string{"1→prod:awaiting_approval"},
			want:   []string{"2→dev:succeeded:ci", "2→staging:blocked:auto-promote", "1→prod:awaiting_approval:auto-promote"},
		},
		{
			name: "rolled back",
			end: func(t *testing.T, w *world) {
				second(t, w, 120, "2→staging:succeeded")
				_, err := w.svc.Rollback(t.Context(), approver, registry.RollbackRequest{Model: "credit-risk", Environment: "staging", Reason: "error rate up"})
				if err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"2→dev:succeeded:ci", "2→staging:succeeded:auto-promote"},
		},
		{
			name: "rejected",
			end: func(t *testing.T, w *world) {
				if v, err := w.svc.Reject(t.Context(), approver, inProd(t, w), "not with this data"); err != nil || v.State != promote.StateCancelled {
					t.Fatalf("Reject = %s, %v; want cancelled", v.State, err)
				}
			},
			want: []string{"1→prod:cancelled:auto-promote"},
		},
		{
			name: "cancelled",
			end: func(t *testing.T, w *world) {
				if v, err := w.svc.Cancel(t.Context(), approver, inProd(t, w), "not this week"); err != nil || v.State != promote.StateCancelled {
					t.Fatalf("Cancel = %s, %v; want cancelled", v.State, err)
				}
			},
			want: []string{"1→prod:cancelled:auto-promote"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.register(t, "1", 120)
			w.request(t, "1", "dev", promote.StateSucceeded)
			w.advance(time.Hour)
			w.cue(t, "version 1 soaked in dev", "1→staging:succeeded")
			tc.end(t, w)
			for i := range 3 {
				w.advance(24 * time.Hour)
				var want []string
				if i == 0 {
					want = tc.dayOne
				}
				w.cue(t, fmt.Sprintf("day %d after the end", i+1), want...)
			}
			w.wantPromotions(t, "at the end", append(slices.Clone(start), tc.want...)...)
		})
	}
}

// New refuses a configuration it cannot run, naming what is wrong.
func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  autopromote.Config
		want string
	}{
		{"no registry", autopromote.Config{}, "autopromote: no registry"},
		{"negative interval", autopromote.Config{Registry: &registry.Service{}, Interval: -time.Second}, "autopromote: interval -1s: want a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := autopromote.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%s) = %v, want an error containing %q", tc.name, err, tc.want)
			}
		})
	}
}

// pastDue is a registry whose every pass says a version was due an hour
// ago, as one whose clock runs behind the controller's would.
type pastDue struct{ calls *int }

func (p pastDue) AutoPromote(context.Context) (registry.AutoPass, error) {
	*p.calls++
	return registry.AutoPass{Due: time.Now().Add(-time.Hour)}, nil
}

// A due time that stays in the past makes a pass a second, not a busy
// loop.
func TestPastDueIsNotABusyLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		ctl, err := autopromote.New(autopromote.Config{Registry: pastDue{&calls}, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- ctl.Run(ctx) }()
		time.Sleep(10 * time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		if calls < 5 || calls > 12 {
			t.Errorf("passes in 10s with a due time always past = %d, want about one a second", calls)
		}
	})
}
