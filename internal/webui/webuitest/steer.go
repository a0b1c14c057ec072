package webuitest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// Steering is a rollout that waits for a person, and the rollout
// controller that people steer it through.
type Steering struct {
	// ID is the promotion of credit-risk 2 to prod, whose canary waits
	// for a person at 10% (step 1 of 3).
	ID         string
	Controller *rollout.Controller
	// Splitter is prod's traffic splitter of credit-risk, whose weight
	// the controller sets.
	Splitter *traffic.Splitter
	metrics  *metrics.Poller
}

// Close stops the splitter.
func (s *Steering) Close() error { return s.Splitter.Close() }

// splitterTraffic is the traffic layer of one splitter (rollout.Traffic).
type splitterTraffic struct{ sp *traffic.Splitter }

func (t splitterTraffic) SetWeight(_ context.Context, _, _ string, weight float64) error {
	return t.sp.SetWeight(weight)
}

func (t splitterTraffic) SetShadow(context.Context, string, string, float64) error {
	return errors.New("the demo rolls out by canary only")
}

func (t splitterTraffic) Ready(context.Context, string, string, string) bool { return true }

func (t splitterTraffic) SetPinned(_ context.Context, _, _ string, on bool) error {
	t.sp.SetPinned(on)
	return nil
}

// ConfirmPlan is prod's rollout plan of the demo with confirm on its
// first two steps: each waits for a person once it has served its
// minimums.
func (e *Env) ConfirmPlan() (*policy.Rollout, error) {
	pol, err := policy.Load(filepath.Join(e.dir, "policies", "prod.yaml"), []byte(Policies["prod"]))
	if err != nil {
		return nil, err
	}
	plan := *pol.Rollout("prod")
	plan.Steps = slices.Clone(plan.Steps)
	for i := range plan.Steps[:len(plan.Steps)-1] {
		plan.Steps[i].Confirm = true
	}
	return &plan, nil
}

// Steer approves the demo's promotion of credit-risk 2 to prod (d.Awaiting)
// as bob, delivers its commit and starts its canary, which it records
// waiting for a person at its first step, as the controller records a
// step with confirm that has served its minimums. It returns a rollout
// controller over the service, with ConfirmPlan as prod's plan, and a
// splitter for its traffic. The caller closes the Steering.
func (e *Env) Steer(ctx context.Context, d Demo) (*Steering, error) {
	if err := e.approve(ctx, d.Awaiting, "bob"); err != nil {
		return nil, err
	}
	if err := e.deliver(ctx, d.Awaiting); err != nil {
		return nil, err
	}
	plan, err := e.ConfirmPlan()
	if err != nil {
		return nil, err
	}
	r, err := e.Service.StartRollout(ctx, d.Awaiting)
	if err != nil {
		return nil, err
	}
	first := plan.Steps[0]
	e.Clock.Advance(first.MinDuration)
	r.Weight, r.StepRequests = float64(first.Weight)/100, float64(first.MinRequests)
	r.StepNeeds = &promote.StepNeeds{Steps: len(plan.Steps), MinRequests: first.MinRequests, MinDuration: first.MinDuration.Seconds(),
		Confirm: true, WaitingForPerson: true}
	if _, err := e.Service.RecordRollout(ctx, registry.RolloutActor, r, fmt.Sprintf("waiting for a person at %d%% (step 1)", first.Weight)); err != nil {
		return nil, err
	}

	reg := telemetry.NewRegistry()
	sp, err := traffic.New(traffic.Config{Model: r.Model, Env: r.Environment, Registry: reg})
	if err != nil {
		return nil, err
	}
	// Nothing is sent through the splitter: its backends need not run.
	if err := sp.SetStable(traffic.Backend{Version: r.Stable, URL: &url.URL{Scheme: "http", Host: "127.0.0.1:9"}}); err != nil {
		sp.Close()
		return nil, err
	}
	if err := sp.SetCanary(&traffic.Backend{Version: r.Version, URL: &url.URL{Scheme: "http", Host: "127.0.0.1:9"}}, r.Weight); err != nil {
		sp.Close()
		return nil, err
	}
	poller, err := metrics.NewPoller(metrics.NewBuiltin(reg), metrics.PollerOptions{})
	if err != nil {
		sp.Close()
		return nil, err
	}
	st := &Steering{ID: d.Awaiting, Splitter: sp, metrics: poller}
	if st.Controller, err = st.controller(e.Service, map[string]*policy.Rollout{"prod": plan}, e.Clock); err != nil {
		sp.Close()
		return nil, err
	}
	return st, nil
}

// controller is a rollout controller over svc with plans, steering s's
// splitter.
func (s *Steering) controller(svc *registry.Service, plans map[string]*policy.Rollout, clock *Clock) (*rollout.Controller, error) {
	return rollout.New(rollout.Config{Registry: svc, Traffic: splitterTraffic{s.Splitter}, Metrics: s.metrics, Plans: plans, Now: clock.Now})
}

// Restart returns a service over the same store and a rollout controller
// over s's splitter, as a server restarted after prod's policy was edited
// to prodPolicy has: both carry prod's rollouts on with its rollout
// section, and the pipeline rolls prod out by its strategy (direct,
// without one).
func (e *Env) Restart(s *Steering, prodPolicy string) (*registry.Service, *rollout.Controller, error) {
	pol, err := policy.Load(filepath.Join(e.dir, "policies", "prod.yaml"), []byte(prodPolicy))
	if err != nil {
		return nil, nil, err
	}
	plan, strategy := pol.Rollout("prod"), ""
	if plan != nil && plan.Strategy != policy.StrategyDirect {
		strategy = "    rollout: " + plan.Strategy + "\n"
	}
	p, err := pipeline.Parse(filepath.Join(e.dir, "promote.yaml"), []byte(strings.Replace(PipelineYAML, "    rollout: canary\n", strategy, 1)))
	if err != nil {
		return nil, nil, err
	}
	cfg := e.cfg
	cfg.Pipeline, cfg.Plans = p, maps.Clone(cfg.Plans)
	delete(cfg.Plans, "prod")
	if strategy != "" {
		cfg.Plans["prod"] = plan
	}
	svc, err := registry.New(e.Store, cfg)
	if err != nil {
		return nil, nil, err
	}
	ctl, err := s.controller(svc, cfg.Plans, e.Clock)
	if err != nil {
		return nil, nil, err
	}
	return svc, ctl, nil
}

// ProdPolicy is the demo's prod policy with rollout, a policy's rollout
// section, in place of its own ("" for none: prod then promotes
// directly), as edited before a Restart.
func ProdPolicy(rollout string) string {
	prod := Policies["prod"]
	return prod[:strings.Index(prod, "rollout:")] + rollout
}

// CanaryRollout is a policy's rollout section of a canary whose steps
// take weights, in percent, each after 10 of the canary's requests, and
// each but the last waiting for a person.
func CanaryRollout(weights ...int) string {
	s := "rollout:\n  strategy: canary\n  steps:\n"
	for i, w := range weights {
		s += "    - weight: " + strconv.Itoa(w) + "\n      minRequests: 10\n"
		if i < len(weights)-1 {
			s += "      confirm: true\n"
		}
	}
	return s
}

// ShadowRollout is a policy's rollout section of a shadow that mirrors
// half the requests for 10 minutes.
const ShadowRollout = "rollout:\n  strategy: shadow\n  shadow:\n    duration: 10m\n    percent: 50\n"

// NewDemo opens the demo in dir (New) and gives it its history
// (SeedDemo). The caller closes the Env's Store.
func NewDemo(ctx context.Context, dir string) (*Env, Demo, error) {
	env, err := New(ctx, dir)
	if err != nil {
		return nil, Demo{}, err
	}
	demo, err := env.SeedDemo(ctx)
	if err != nil {
		env.Store.Close()
		return nil, Demo{}, err
	}
	return env, demo, nil
}

// NewSteering opens the demo in a temporary folder of t (NewDemo) and
// steers its promotion of credit-risk 2 to prod (Steer): a rollout
// waiting for a person at 10%, with a real rollout controller and
// splitter. It fails t when it cannot; the Steering and the Env's Store
// are closed when t ends.
func NewSteering(t testing.TB) (*Env, *Steering) {
	t.Helper()
	env, demo, err := NewDemo(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := env.Steer(t.Context(), demo)
	if err != nil {
		env.Store.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(); env.Store.Close() })
	return env, st
}
