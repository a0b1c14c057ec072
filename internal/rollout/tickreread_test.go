package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// splitters is a traffic layer of one splitter per model, as the local
// agent keeps one per model and environment; it logs what it sets.
type splitters struct {
	by  map[string]*traffic.Splitter
	mu  sync.Mutex
	set []string // "model weight"
}

func (s *splitters) log(model string, v float64) {
	s.mu.Lock()
	s.set = append(s.set, fmt.Sprintf("%s %g", model, v))
	s.mu.Unlock()
}

func (s *splitters) SetWeight(_ context.Context, model, _ string, weight float64) error {
	s.log(model, weight)
	return s.by[model].SetWeight(weight)
}

func (s *splitters) SetShadow(_ context.Context, model, _ string, share float64) error {
	s.log(model, share)
	return s.by[model].SetShadow(nil, 0)
}

func (s *splitters) Ready(context.Context, string, string, string) bool { return true }

func (s *splitters) SetPinned(_ context.Context, model, _ string, on bool) error {
	s.by[model].SetPinned(on)
	return nil
}

// since returns what was set since the log was cleared, and clears it.
func (s *splitters) since() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.set
	s.set = nil
	return out
}

// heldFirst is a metrics reader that, once held, holds the next read of a
// canary's counts, whichever rollout's it is, until released, and says
// whose it held.
type heldFirst struct {
	*metrics.Poller
	hold    atomic.Bool
	model   string // the model whose read was held, set before entered closes
	entered chan struct{}
	release chan struct{}
}

func (h *heldFirst) Read(ctx context.Context, q metrics.Query) metrics.Reading {
	rd := h.Poller.Read(ctx, q)
	if q.Track == trackCanary && h.hold.CompareAndSwap(true, false) {
		h.model = q.Model
		close(h.entered)
		<-h.release
	}
	return rd
}

const fraudDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: fraud
spec:
  selector:
    matchLabels: {app: fraud}
  template:
    metadata:
      labels: {app: fraud}
    spec:
      containers:
        - name: model
          image: registry.example.com/models/fraud
`

// A tick judges its rollouts one after the other, reading each one's
// counts without holding off people's operations. A person who pauses or
// aborts one rollout while the tick reads another's counts is not undone
// when that rollout's turn comes in the same tick: the tick reads it again
// (ready), and so neither sets its traffic from what it read before the
// operation nor judges it. Without that, an aborted canary got its step's
// weight back until the next tick (a pause is also kept by the revision
// check when the stale judgement is stored, and by prepare re-applying
// the pause's traffic).
func TestTickReadsARolloutAgainAfterAnOperationOnItDuringAnother(t *testing.T) {
	for _, tt := range []struct {
		op     string
		state  promote.RolloutState
		weight float64
	}{
		{"abort", promote.RolloutRolledBack, 0},
		{"pause", promote.RolloutPaused, 0.1},
	} {
		t.Run(tt.op, func(t *testing.T) {
			w := newWorld(t)
			// A second model in prod, behind its own splitter over the
			// same two model servers.
			fraud, err := traffic.New(traffic.Config{Model: "fraud", Env: "prod", Metrics: w.metrics})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fraud.Close() })
			if err := fraud.SetStable(traffic.Backend{Version: "1", URL: w.v1}); err != nil {
				t.Fatal(err)
			}
			fraudFront := httptest.NewServer(fraud)
			t.Cleanup(fraudFront.Close)
			tl := &splitters{by: map[string]*traffic.Splitter{"credit-risk": w.splitter, "fraud": fraud}}
			held := &heldFirst{Poller: w.ctl.cfg.Metrics.(*metrics.Poller), entered: make(chan struct{}), release: make(chan struct{})}
			cfg := w.ctl.cfg
			cfg.Traffic, cfg.Metrics = tl, held
			ctl, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The prod overlay declares the second model's image and
			// config, as one that deploys both does.
			clone := filepath.Join(t.TempDir(), "clone")
			gittest.Run(t, "", "clone", "-q", w.bare, clone)
			kust := filepath.Join(clone, "deploy", "overlays", "prod", "kustomization.yaml")
			k, err := os.ReadFile(kust)
			if err != nil {
				t.Fatal(err)
			}
			k = []byte(strings.NewReplacer("images:\n", "images:\n  - name: registry.example.com/models/fraud\n    digest: sha256:"+strings.Repeat("0", 64)+"\n",
				"resources:\n", "resources:\n  - fraud.yaml\n").Replace(string(k)) +
				"  - name: model-fraud\n    behavior: create\n    envs:\n      - models/fraud.env\n")
			if err := os.WriteFile(filepath.Join(clone, "deploy", "overlays", "prod", "fraud.yaml"), []byte(fraudDeployment), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(kust, k, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(clone, "deploy", "overlays", "prod", "models", "fraud.env"), []byte("MODEL_VERSION=0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			gittest.Run(t, clone, "add", "-A")
			gittest.Run(t, clone, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "deploy fraud in prod")
			gittest.Run(t, clone, "push", "-q", "origin", "main")
			if _, err := w.svc.CreateModel(t.Context(), submitter, "fraud", ""); err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{"1", "2"} {
				sum := sha256.Sum256([]byte("fraud weights " + v))
				if _, err := w.svc.RegisterVersion(t.Context(), submitter, registry.RegisterRequest{Model: "fraud", Version: v,
					ArtifactURI: "s3://models/fraud-" + v + ".bin", Digest: "sha256:" + hex.EncodeToString(sum[:]),
					Metrics: []byte(`{"checks": {"tests_passed": true}}`)}); err != nil {
					t.Fatal(err)
				}
				view, err := w.svc.RequestPromotion(t.Context(), submitter, registry.PromoteRequest{Model: "fraud", Version: v, Environment: "prod"})
				if err != nil || view.Promotion.State != promote.StateApproved {
					t.Fatalf("request fraud %s: %s, %v", v, view.Promotion.State, err)
				}
				if _, err := w.rec.Reconcile(t.Context(), "fraud", "prod"); err != nil {
					t.Fatal(err)
				}
				if v == "1" {
					if err := ctl.Tick(t.Context()); err != nil { // fraud 1: the first version
						t.Fatal(err)
					}
					if err := fraud.SetCanary(&traffic.Backend{Version: "2", URL: w.v2}, 0); err != nil {
						t.Fatal(err)
					}
				}
			}

			// Both canaries run at their first step, with enough requests
			// that a judgement would take each to its next.
			rollouts := func() map[string]promote.Rollout {
				t.Helper()
				list, err := w.svc.Rollouts(t.Context(), promote.RolloutFilter{ActiveOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]promote.Rollout{}
				for _, r := range list {
					out[r.Model] = r
				}
				return out
			}
			send := func(n int) {
				for range n {
					for _, front := range []*httptest.Server{w.front, fraudFront} {
						resp, err := front.Client().Get(front.URL + "/predict")
						if err != nil {
							t.Fatal(err)
						}
						resp.Body.Close()
					}
				}
			}
			for range 2 {
				send(50)
				if err := ctl.Tick(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			before := rollouts()
			for _, m := range []string{"credit-risk", "fraud"} {
				if r := before[m]; r.State != promote.RolloutRunning || r.Step != 0 || tl.by[m].Weights() != 0.1 {
					t.Fatalf("rollout of %s = %s at step %d, its splitter %g; want running at step 0, 0.1", m, r.State, r.Step, tl.by[m].Weights())
				}
			}
			send(1500)

			// The tick reads the first rollout's counts; meanwhile a
			// person operates on the other one, whose turn is next.
			held.hold.Store(true)
			ticked := make(chan error, 1)
			go func() { ticked <- ctl.Tick(t.Context()) }()
			<-held.entered
			other := "fraud"
			if held.model == "fraud" {
				other = "credit-risk"
			}
			r := before[other]
			if tt.op == "abort" {
				_, err = ctl.Abort(t.Context(), lena, r.PromotionID, "wrong flags")
			} else {
				_, err = ctl.Pause(t.Context(), lena, r.PromotionID, "checking a dashboard")
			}
			if err != nil {
				close(held.release)
				<-ticked
				t.Fatalf("%s of %s during the tick: %v", tt.op, other, err)
			}
			done, err := w.svc.Rollout(t.Context(), r.PromotionID)
			if err != nil || done.State != tt.state || tl.by[other].Weights() != tt.weight {
				close(held.release)
				<-ticked
				t.Fatalf("after the %s: rollout of %s = %s, the splitter %g (%v); want %s, %g", tt.op, other, done.State, tl.by[other].Weights(), err, tt.state, tt.weight)
			}
			tl.since()

			close(held.release)
			if err := <-ticked; err != nil {
				t.Errorf("the tick during the %s of %s: %v", tt.op, other, err)
			}
			after, err := w.svc.Rollout(t.Context(), r.PromotionID)
			if err != nil {
				t.Fatal(err)
			}
			if after.State != tt.state || after.Revision != done.Revision || after.Step != done.Step || tl.by[other].Weights() != tt.weight {
				t.Errorf("after the tick: rollout of %s = %s at step %d, revision %d, the splitter %g; want %s at step %d, revision %d, %g",
					other, after.State, after.Step, after.Revision, tl.by[other].Weights(), tt.state, done.Step, done.Revision, tt.weight)
			}
			// A paused rollout's traffic is set again to what its pause
			// says at every tick; nothing else is set for it.
			for _, s := range tl.since() {
				if strings.HasPrefix(s, other+" ") && s != fmt.Sprintf("%s %g", other, tt.weight) {
					t.Errorf("the tick set the traffic of %s after the %s: %s", other, tt.op, s)
				}
			}
			// The rollout whose counts were read was judged with them.
			if r := rollouts()[held.model]; r.Step != 1 || tl.by[held.model].Weights() != 0.5 {
				t.Errorf("the rollout of %s, read during the %s, = %s at step %d, the splitter %g; want step 1, 0.5",
					held.model, tt.op, r.State, r.Step, tl.by[held.model].Weights())
			}
		})
	}
}
