package rollout

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// A paused rollout whose environment's policy now rolls out by another
// strategy (an edit and a restart) is one no plan carries on: the next
// tick would pause it again. Its resumption is refused as a go on a
// rollout waiting for a person is, with the reason the controller gives
// for that (Next's refusal, which WithNext carries for the API and the
// web UI), and changes nothing: not the rollout, its weight, nor the
// audit log. Paused by a person (at its weight) or by the controller
// (at 0), canary now a shadow or shadow now a canary.
func TestResumeOfARolloutWhosePolicyChangedStrategy(t *testing.T) {
	loadPlan := func(t *testing.T, policyYAML string) *policy.Rollout {
		t.Helper()
		p, err := policy.Load("policy.yaml", []byte(policyYAML))
		if err != nil {
			t.Fatal(err)
		}
		return p.Rollout("prod")
	}
	tests := []struct {
		name string
		// start returns a world whose rollout of prod runs, and the
		// controller that runs it.
		start func(t *testing.T) (*world, *Controller)
		// edited is prod's policy after the edit.
		edited string
		// tick has the restarted controller judge the rollout before
		// the resumption: it pauses it at 0, as it cannot judge it.
		tick bool
		want string
	}{
		{"canary now a shadow, paused by a person", func(t *testing.T) (*world, *Controller) {
			w := newWorld(t)
			return w, w.ctl
		}, shadowPolicy, false, "the policy of prod now rolls out by shadow; this rollout began as a canary"},
		{"canary now a shadow, paused by the controller", func(t *testing.T) (*world, *Controller) {
			w := newWorld(t)
			return w, w.ctl
		}, shadowPolicy, true, "the policy of prod now rolls out by shadow; this rollout began as a canary"},
		{"shadow now a canary, paused by a person", func(t *testing.T) (*world, *Controller) {
			w, ctl, _, _ := mirroringShadow(t)
			return w, ctl
		}, testPolicy, false, "the policy of prod now rolls out by canary; this rollout began as a shadow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, ctl := tt.start(t)
			r := w.pump(t, ctl, 1)
			if r.State != promote.RolloutRunning {
				t.Fatalf("rollout = %s (%s), want running", r.State, r.Reason)
			}
			if !tt.tick {
				if r, err := ctl.Pause(t.Context(), lena, r.PromotionID, "a look"); err != nil || r.State != promote.RolloutPaused {
					t.Fatalf("Pause = %s, %v", r.State, err)
				}
			}
			cfg := ctl.cfg
			cfg.Plans = map[string]*policy.Rollout{"prod": loadPlan(t, tt.edited)}
			restarted, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tt.tick {
				if err := w.tick(t, restarted); err != nil {
					t.Fatal(err)
				}
			}
			paused := w.rollout(t)
			if paused.State != promote.RolloutPaused {
				t.Fatalf("rollout = %s (%s), want paused", paused.State, paused.Reason)
			}
			events := func() int {
				t.Helper()
				list, err := w.svc.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: paused.PromotionID})
				if err != nil {
					t.Fatal(err)
				}
				return len(list)
			}
			weight, logged := w.splitter.Weights(), events()

			_, err = restarted.Resume(t.Context(), lena, paused.PromotionID, "go on")
			if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), tt.want) ||
				!strings.Contains(err.Error(), "promote rollout abort "+paused.PromotionID) {
				t.Fatalf("Resume = %v; want a Conflict saying %q and what to do instead", err, tt.want)
			}
			// The reason the API and the web UI show for the rollout.
			shown := restarted.WithNext(paused)
			if shown.Next == nil || shown.Next.Refused != err.Error() {
				t.Errorf("WithNext(the paused rollout).Next = %+v, want it to refuse with %q", shown.Next, err)
			}
			after := w.rollout(t)
			if after.State != promote.RolloutPaused || after.Revision != paused.Revision || after.Weight != paused.Weight || w.splitter.Weights() != weight {
				t.Errorf("after the refused resumption the rollout is %s at revision %d, weight %g, splitter %g; want paused at revision %d, %g, %g",
					after.State, after.Revision, after.Weight, w.splitter.Weights(), paused.Revision, paused.Weight, weight)
			}
			if got := events(); got != logged {
				t.Errorf("the refused resumption wrote %d audit events, want none", got-logged)
			}
		})
	}
}

// A paused rollout that its policy still carries on says in its Next
// what a resumption does, from the decision the resumption itself takes:
// its step again at that step's weight by the policy the server runs
// now; the policy's last step (all traffic here) when the policy lost
// the rollout's step since it began. The resumption then puts the
// rollout exactly there. A paused shadow says nothing of steps: its
// resumption mirrors again.
func TestWithNextOfAPausedRolloutThatCanBeResumed(t *testing.T) {
	oneStep := strings.Replace(testPolicy, `    - weight: 10
      minRequests: 100
    - weight: 50
      minRequests: 200
`, "", 1)
	tests := []struct {
		name string
		// edited, when not empty, is prod's policy after an edit and a
		// restart, before the resumption.
		edited string
		// step is the step the rollout is paused at.
		step int
		want *promote.RolloutNext
		// minRequests is what the step it resumes at needs.
		minRequests int
	}{
		{"at its first step", "", 0, &promote.RolloutNext{Steps: 3, Step: 0, Weight: 10, MinRequests: 100}, 100},
		{"at its second step", "", 1, &promote.RolloutNext{Steps: 3, Step: 1, Weight: 50, MinRequests: 200}, 200},
		{"at a step the edited policy no longer has", oneStep, 1, &promote.RolloutNext{Steps: 1, Step: 0, Weight: 100, MinRequests: 100}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			r := w.pumpUntil(t, w.ctl, 40, func(r promote.Rollout) bool { return r.Step >= tt.step })
			if r.State != promote.RolloutRunning || r.Step != tt.step {
				t.Fatalf("rollout = %s at step %d (%s), want running at step %d", r.State, r.Step, r.Reason, tt.step)
			}
			paused, err := w.ctl.Pause(t.Context(), lena, r.PromotionID, "a look")
			if err != nil {
				t.Fatal(err)
			}
			ctl := w.ctl
			if tt.edited != "" {
				p, err := policy.Load("policy.yaml", []byte(tt.edited))
				if err != nil {
					t.Fatal(err)
				}
				cfg := ctl.cfg
				cfg.Plans = map[string]*policy.Rollout{"prod": p.Rollout("prod")}
				if ctl, err = New(cfg); err != nil {
					t.Fatal(err)
				}
			}
			shown := ctl.WithNext(paused)
			got := shown.Next
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("WithNext(a paused rollout its plan carries on).Next (-want +got):\n%s", diff)
			}
			// What the paused step says it needs from its resumption
			// (rollout show's Progress, the watch line, the page) is what
			// the resumption will count: the step it resumes at, by the
			// policy the server runs now, not the step as stored.
			p, ok := Progress(shown, time.Now())
			if want := fmt.Sprintf("needs %d requests from its resumption", tt.minRequests); !ok || p.PausedWords("requests") != want {
				t.Errorf("Progress(the paused rollout).PausedWords = %q (%v), want %q", p.PausedWords("requests"), ok, want)
			}
			resumed, err := ctl.Resume(t.Context(), lena, paused.PromotionID, "go on")
			if err != nil {
				t.Fatal(err)
			}
			if resumed.State != promote.RolloutRunning || resumed.Step != tt.want.Step || resumed.Weight != float64(tt.want.Weight)/100 {
				t.Errorf("Resume = %s at step %d, weight %g; want running at step %d, weight %g, as Next said",
					resumed.State, resumed.Step, resumed.Weight, tt.want.Step, float64(tt.want.Weight)/100)
			}
			// What the step needs is that step's, by the same plan, from
			// the resumption on: not the step it was paused at.
			if n := resumed.StepNeeds; n == nil || n.Steps != tt.want.Steps || n.MinRequests != tt.minRequests || n.WaitingForRequests || n.WaitingForPerson {
				t.Errorf("Resume's StepNeeds = %+v, want %d steps, %d minimum requests, waiting for nothing yet", n, tt.want.Steps, tt.minRequests)
			}
		})
	}
	t.Run("a shadow", func(t *testing.T) {
		_, ctl, _, r := mirroringShadow(t)
		paused, err := ctl.Pause(t.Context(), lena, r.PromotionID, "a look")
		if err != nil {
			t.Fatal(err)
		}
		if got := ctl.WithNext(paused).Next; got != nil {
			t.Errorf("WithNext(a paused shadow its plan carries on).Next = %+v, want nil", got)
		}
		if _, err := ctl.Resume(t.Context(), lena, paused.PromotionID, "go on"); err != nil {
			t.Errorf("Resume(a paused shadow) = %v", err)
		}
	})
}

// The tick that pauses a rollout no plan carries on any more and the
// refusal of a go or a resumption of it (Next, which WithNext shows) say
// why in the same words, whichever path found it: the environment lost
// its plan, or its policy rolls out by the other strategy now.
func TestTickAndNextSayAlikeWhyNoPlanCarriesARollout(t *testing.T) {
	shadow, err := policy.Load("policy.yaml", []byte(shadowPolicy))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		plans map[string]*policy.Rollout
		want  string
	}{
		{"the environment lost its plan", map[string]*policy.Rollout{},
			"environment prod has no rollout plan in its policy; this rollout began as a canary"},
		{"the policy rolls out by the other strategy", map[string]*policy.Rollout{"prod": shadow.Rollout("prod")},
			"the policy of prod now rolls out by shadow; this rollout began as a canary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if r := w.pump(t, w.ctl, 1); r.State != promote.RolloutRunning {
				t.Fatalf("rollout = %s (%s), want running", r.State, r.Reason)
			}
			cfg := w.ctl.cfg
			cfg.Plans = tt.plans
			ctl, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.tick(t, ctl); err != nil {
				t.Fatal(err)
			}
			paused := w.rollout(t)
			if paused.State != promote.RolloutPaused {
				t.Fatalf("rollout = %s (%s), want paused", paused.State, paused.Reason)
			}
			_, refusal := ctl.Next(paused)
			if refusal == nil {
				t.Fatal("Next(the paused rollout) = nil error, want a refusal")
			}
			ticked := strings.TrimSuffix(strings.TrimPrefix(paused.Reason, "cannot judge: "), "; all traffic is back on stable")
			refused, _, _ := strings.Cut(strings.TrimPrefix(refusal.Error(), "the rollout of credit-risk 2 in prod cannot be moved on: "), "; promote it now")
			if ticked != tt.want || refused != tt.want {
				t.Errorf("the tick's pause says %q and the refusal %q; want both to say %q", paused.Reason, refusal, tt.want)
			}
			if shown := ctl.WithNext(paused).Next; shown == nil || shown.Refused != refusal.Error() {
				t.Errorf("WithNext(the paused rollout).Next = %+v, want it to refuse with %q", shown, refusal)
			}
		})
	}
}
