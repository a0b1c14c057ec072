package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/wait"
	"github.com/promote-ml/promote/promote"
)

// environments are the pipeline's, in order.
var environments = []string{"dev", "staging", "prod"}

// register creates the model and registers the three versions.
func (r *run) register(ctx context.Context) error {
	r.n.Step("Registering v1, v2 and v3 as CI would: artifact digest, signature, metrics.json, lineage")
	if _, err := r.ci.CreateModel(ctx, ModelName, "Loan default classifier (promote demo)"); err != nil {
		return fmt.Errorf("create the model: %w", err)
	}
	for _, spec := range specs {
		b := r.versions[spec.Version]
		v, err := r.ci.RegisterVersion(ctx, registry.RegisterRequest{
			Model: ModelName, Version: spec.Version, ArtifactURI: "file://" + b.artifact, Digest: b.digest,
			Signature: string(b.sig), Metrics: b.metrics,
			Lineage: promote.Lineage{DatasetDigest: b.model.Training.Dataset, TrainingRun: fmt.Sprintf("demo-seed%d-v%s", Seed, spec.Version)},
		})
		if err != nil {
			return fmt.Errorf("register v%s: %w", spec.Version, err)
		}
		signed := "NOT signed"
		for _, s := range v.Signatures {
			if s.Verified {
				signed = "signature verified with " + s.KeyID
			}
		}
		r.n.Say("v%s  %s  %s", v.Version, short(strings.TrimPrefix(v.Digest, "sha256:")), signed)
	}
	return nil
}

// walk takes a version through every environment.
func (r *run) walk(ctx context.Context, version string) error {
	envs, err := r.ci.Environments(ctx)
	if err != nil {
		return err
	}
	soak := map[string]time.Duration{}
	for _, e := range envs {
		soak[e.Name] = time.Duration(e.Soak)
	}
	for i, env := range environments {
		r.n.Step("v%s -> %s", version, env)
		if i > 0 && soak[env] > 0 {
			r.n.Say("soak: %s takes a version only %s after it succeeded in %s; waiting", env, soak[env], environments[i-1])
			if err := wait.Sleep(ctx, soak[env]+200*time.Millisecond); err != nil {
				return err
			}
		}
		if err := r.promote(ctx, version, env); err != nil {
			return err
		}
	}
	return nil
}

// promote requests one promotion and carries it to its end, narrating.
func (r *run) promote(ctx context.Context, version, env string) error {
	b := r.versions[version]
	if env == "prod" && version == "3" {
		v2 := r.versions["2"]
		r.n.Say("offline, v3 is the best yet: F1 %.4f against v2's %.4f, AUC %.4f against %.4f, its serving tests pass.",
			b.eval.F1, v2.eval.F1, b.eval.AUC, v2.eval.AUC)
		r.n.Say("What no offline test shows: its artifact was exported without the imputer for missing inputs, and")
		r.n.Say("the test set has none. In live traffic, %.0f%% of applicants have no credit history on record.", thinFile*100)
	}
	view, err := r.ci.RequestPromotion(ctx, registry.PromoteRequest{Model: ModelName, Version: version, Environment: env})
	if err != nil {
		return fmt.Errorf("request v%s to %s: %w", version, env, err)
	}
	switch view.State {
	case promote.StateBlocked:
		r.n.Say("%s requests it: %s", Submitter, gateLine(view.Gate))
		return fmt.Errorf("v%s to %s was blocked: %s", version, env, view.Reason)
	case promote.StateAwaitingApproval:
		r.n.Say("%s requests it (promotion %s): the gate's rules pass; it awaits one approval by an ml-lead", Submitter, view.ID)
		if version == "1" {
			_, err := r.ci.Approve(ctx, view.ID, registry.ApproveRequest{Digest: view.Digest})
			if err == nil {
				return fmt.Errorf("the requester approved its own promotion %s", view.ID)
			}
			r.n.Say("%s tries to approve its own request: refused (%v)", Submitter, err)
		}
		if view, err = r.lead.Approve(ctx, view.ID, registry.ApproveRequest{Digest: view.Digest, Comment: "read the gate report"}); err != nil {
			return fmt.Errorf("approve v%s to %s: %w", version, env, err)
		}
		r.n.Say("%s (ml-lead) approves it, bound to the artifact digest %s", Approver, short(strings.TrimPrefix(view.Digest, "sha256:")))
		r.n.Say("%s", gateLine(view.Gate))
	default:
		r.n.Say("%s requests it (promotion %s): %s", Submitter, view.ID, gateLine(view.Gate))
	}

	// The approval moved the live alias; the reconciler commits it.
	view, err = r.waitPromotion(ctx, view.ID, func(s promote.State) bool { return s != promote.StateApproved && s != promote.StateGated })
	if err != nil {
		return err
	}
	if view.State == promote.StateFailed || view.State == promote.StateCancelled {
		return fmt.Errorf("v%s to %s %s: %s", version, env, view.State, view.Reason)
	}
	commit, err := r.commitOf(ctx, view.ID, env)
	if err != nil {
		return err
	}
	r.n.Say("commit %s %q on gitops.git", short(commit.Hash), commit.Subject)

	if env == "prod" {
		var ro promote.Rollout
		if view, ro, err = r.followRollout(ctx, view.ID); err != nil {
			return err
		}
		switch {
		case view.State == promote.StateSucceeded && version == "1":
			r.n.Say("v1 is prod's first version: nothing to compare it with, so it takes all traffic at once")
			return r.startLoad(ctx)
		case view.State == promote.StateSucceeded:
			r.n.Say("the canary passed every step: v%s takes all of prod's traffic", version)
			return nil
		case view.State == promote.StateRolledBack && version == "3":
			r.n.Say("ROLLED BACK automatically at step %d: %s", ro.Step+1, ro.Reason)
			return nil
		default:
			return fmt.Errorf("v%s in prod ended %s: %s", version, view.State, view.Reason)
		}
	}
	if view.State != promote.StateSucceeded {
		if view, err = r.waitPromotion(ctx, view.ID, promote.State.Terminal); err != nil {
			return err
		}
	}
	if view.State != promote.StateSucceeded {
		return fmt.Errorf("v%s to %s ended %s: %s", version, env, view.State, view.Reason)
	}
	p, err := r.waitServing(ctx, env, version)
	if err != nil {
		return err
	}
	r.n.Say("the agent deployed it: %s/%s/%s/predict answers from v%s (a sample application: %s, p=%.3f)", r.agent, env, ModelName,
		version, p.Decision, p.Probability)
	return nil
}

// waitPromotion polls a promotion until done says its state is reached.
func (r *run) waitPromotion(ctx context.Context, id string, done func(promote.State) bool) (registry.PromotionView, error) {
	deadline := time.Now().Add(stepDeadline)
	for {
		view, err := r.ci.Promotion(ctx, id)
		if err != nil {
			return view, err
		}
		if done(view.State) {
			return view, nil
		}
		if time.Now().After(deadline) {
			return view, fmt.Errorf("promotion %s is still %s after %s (see promote.log)", id, view.State, stepDeadline)
		}
		if err := wait.Sleep(ctx, 100*time.Millisecond); err != nil {
			return view, err
		}
	}
}

// commitOf waits for the commit that carries a promotion (or a rollback)
// in env and returns it as the remote has it.
func (r *run) commitOf(ctx context.Context, promotionID, env string) (Commit, error) {
	deadline := time.Now().Add(stepDeadline)
	for {
		hist, err := History(r.remote)
		if err != nil {
			return Commit{}, err
		}
		for _, c := range hist {
			if c.Trailer("Promotion-Id") == promotionID && c.Trailer("Environment") == env {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			return Commit{}, fmt.Errorf("no commit for %s in %s on %s after %s (see promote.log)", promotionID, env, r.remote, stepDeadline)
		}
		if err := wait.Sleep(ctx, 100*time.Millisecond); err != nil {
			return Commit{}, err
		}
	}
}

// followRollout shows a prod rollout's progress until its promotion ends,
// and returns the promotion and the rollout as they ended.
func (r *run) followRollout(ctx context.Context, id string) (registry.PromotionView, promote.Rollout, error) {
	deadline := time.Now().Add(2 * stepDeadline)
	var base map[string]Tally
	if r.load != nil {
		base, _, _ = r.load.Tallies()
	}
	var ro promote.Rollout
	lastKey, lastLine, lastAt := "", "", time.Time{}
	for {
		view, err := r.ci.Promotion(ctx, id)
		if err != nil {
			return view, ro, err
		}
		if got, err := r.ci.Rollout(ctx, id); err == nil {
			ro = got
			var live map[string]Tally
			if r.load != nil {
				live, _, _ = r.load.Tallies()
				for v, t := range base {
					live[v] = Tally{Requests: live[v].Requests - t.Requests, Errors: live[v].Errors - t.Errors}
				}
			}
			line := rolloutLine(ro, live)
			key := fmt.Sprint(ro.State, ro.Step)
			if r.opts.Terminal || key != lastKey || (line != lastLine && time.Since(lastAt) >= 2*time.Second) {
				r.n.Progress(line)
				lastKey, lastLine, lastAt = key, line, time.Now()
			}
		} else if promote.ErrorCode(err) != promote.NotFound {
			return view, ro, err
		}
		if view.State.Terminal() {
			return view, ro, nil
		}
		if time.Now().After(deadline) {
			return view, ro, fmt.Errorf("the rollout of %s is still %s after %s (see promote.log)", id, view.State, 2*stepDeadline)
		}
		if err := wait.Sleep(ctx, 250*time.Millisecond); err != nil {
			return view, ro, err
		}
	}
}

// rolloutLine is a rollout's progress: the candidate's weight, the live
// requests each version answered since the rollout's commit and the share
// that failed, and the step.
func rolloutLine(ro promote.Rollout, live map[string]Tally) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %3.0f%% v%s", bar(ro.Weight, 10), ro.Weight*100, ro.Version)
	for _, v := range []string{ro.Version, ro.Stable} {
		if t, ok := live[v]; ok && v != "" {
			fmt.Fprintf(&b, " | v%s %4d req %s err", v, t.Requests, rate(t.Errors, t.Requests))
		}
	}
	fmt.Fprintf(&b, " | step %d", ro.Step+1)
	if ro.State != promote.RolloutRunning {
		fmt.Fprintf(&b, " %s", ro.State)
	}
	return b.String()
}

func rate(events, requests int) string {
	if requests == 0 {
		return "    -"
	}
	return fmt.Sprintf("%5.1f%%", 100*float64(events)/float64(requests))
}

// waitServing asks the agent for a prediction from env until the answer
// comes from version.
func (r *run) waitServing(ctx context.Context, env, version string) (Prediction, error) {
	deadline := time.Now().Add(stepDeadline)
	body, _ := json.Marshal(r.completeSample())
	last := ""
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.agent+"/"+env+"/"+ModelName+"/predict", bytes.NewReader(body))
		resp, err := r.hc.Do(req)
		if err == nil {
			var p Prediction
			derr := json.NewDecoder(resp.Body).Decode(&p)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && derr == nil && resp.Header.Get("Promote-Version") == version {
				return p, nil
			}
			last = fmt.Sprintf("%s from version %q", resp.Status, resp.Header.Get("Promote-Version"))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return Prediction{}, fmt.Errorf("%s does not serve v%s after %s: %s (see promote.log)", env, version, stepDeadline, last)
		}
		if err := wait.Sleep(ctx, 100*time.Millisecond); err != nil {
			return Prediction{}, err
		}
	}
}

// completeSample is a complete application, as the offline data has.
func (r *run) completeSample() Applicant {
	for _, a := range r.live {
		if a.History != nil {
			return a
		}
	}
	h := 6.0
	return Applicant{Income: 48, DebtRatio: 0.35, LatePayments: 1, History: &h, LoanAmount: 15}
}

// startLoad starts live traffic to prod.
func (r *run) startLoad(ctx context.Context) error {
	r.live = LiveTraffic(Seed+1, liveSamples, thinFile)
	r.load = &Load{URL: r.agent + "/prod/" + ModelName + "/predict", Rate: loadRate, Payloads: r.live, Client: r.hc}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { r.load.Run(lctx) })
	r.stopLoad = func() { cancel(); wg.Wait() }
	r.stops = append(r.stops, func(context.Context) error { r.stopLoad(); return nil })
	r.n.Say("live traffic starts: %.0f loan applications a second to %s, as production clients send them", loadRate, r.load.URL)
	return nil
}

// afterRollback shows what the automatic rollback left: the live alias,
// the commit with its trailers, the hold, prod's traffic, and a new
// request for v3 refused.
func (r *run) afterRollback(ctx context.Context) error {
	r.n.Step("What the rollback did")
	deadline := time.Now().Add(stepDeadline)
	var live promote.Live
	for {
		st, err := r.ci.Status(ctx, ModelName)
		if err != nil {
			return err
		}
		live = st.Live["prod"]
		if live.Version == "2" && live.RollbackOf == "3" && live.Commit != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prod's live version is %s (rollback of %q, commit %q), want 2 after the rollback of 3", live.Version, live.RollbackOf, live.Commit)
		}
		if err := wait.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	hist, err := History(r.remote)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(hist, func(c Commit) bool { return c.Hash == live.Commit })
	if i < 0 {
		return fmt.Errorf("the rollback commit %s is not on %s", live.Commit, Branch)
	}
	c := hist[i]
	r.n.Say("the live alias of prod is v2 again; the rollback is a new commit, history untouched:")
	r.n.Say("  %s %q", short(c.Hash), c.Subject)
	r.n.Say("  Rollback-Of: %s", c.Trailer("Rollback-Of"))
	r.n.Say("  Reason: %s", c.Trailer("Reason"))
	holds, err := r.lead.Holds(ctx, promote.HoldFilter{Model: ModelName, Version: "3", Environment: "prod"})
	if err != nil {
		return err
	}
	if len(holds) == 0 || !holds[0].Active() {
		return fmt.Errorf("no hold on v3 in prod after its rollback")
	}
	h := holds[0]
	r.n.Say("hold %d, set by %s: v3 may not enter prod again until a person clears the hold", h.ID, h.SetBy)

	// Every live application, thin files included, is answered by v2.
	if err := r.waitOnlyVersion(ctx, "prod", "2"); err != nil {
		return err
	}
	r.n.Say("the agent applied the commit: prod answers every application from v2, thin files included")

	view, err := r.ci.RequestPromotion(ctx, registry.PromoteRequest{Model: ModelName, Version: "3", Environment: "prod"})
	if err != nil {
		return fmt.Errorf("request v3 to prod again: %w", err)
	}
	if view.State != promote.StateBlocked {
		return fmt.Errorf("v3 was requested into prod again despite its hold: %s", view.State)
	}
	rules := failing(view.Gate)
	if !slices.Contains(rules, "no_hold") {
		return fmt.Errorf("v3 was blocked from prod, but not by its hold: %s", view.Reason)
	}
	r.n.Say("%s asks for v3 in prod again: blocked by the gate's rule no_hold (the hold stands)", Submitter)
	return nil
}

// waitOnlyVersion waits until twenty live applications in a row, thin
// files among them, are answered by version in env.
func (r *run) waitOnlyVersion(ctx context.Context, env, version string) error {
	deadline := time.Now().Add(stepDeadline)
	url := r.agent + "/" + env + "/" + ModelName + "/predict"
	for k := 0; ; k++ {
		ok := true
		for i := range 20 {
			body, _ := json.Marshal(r.live[(20*k+i)%len(r.live)])
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			resp, err := r.hc.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Promote-Version") != version {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still answers from another version than v%s after %s", env, version, stepDeadline)
		}
		if err := wait.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// summary prints where everything stands and verifies the audit chain.
func (r *run) summary(ctx context.Context) error {
	r.n.Step("Where everything stands")
	if r.load != nil {
		r.stopLoad()
		tally, sent, failed := r.load.Tallies()
		var parts []string
		for _, v := range []string{"1", "2", "3"} {
			if t, ok := tally[v]; ok {
				parts = append(parts, fmt.Sprintf("v%s %d (%d errors)", v, t.Requests, t.Errors))
			}
		}
		r.n.Say("live traffic to prod (stopped now): %d requests, %d errors; answered by %s", sent, failed, strings.Join(parts, ", "))
	}
	st, err := r.ci.Status(ctx, ModelName)
	if err != nil {
		return err
	}
	for _, env := range st.Environments {
		l := st.Live[env]
		note := ""
		if l.RollbackOf != "" {
			note = fmt.Sprintf(" (rolled back from v%s)", l.RollbackOf)
		}
		r.n.Say("%-8s v%s%s  commit %s", env, l.Version, note, short(l.Commit))
	}
	hist, err := History(r.remote)
	if err != nil {
		return err
	}
	r.n.Say("gitops.git, main (oldest first): %d commits", len(hist))
	for _, c := range slices.Backward(hist) {
		extra := ""
		if rb := c.Trailer("Rollback-Of"); rb != "" {
			extra = "  Rollback-Of: " + rb
		} else if by := c.Trailer("Approved-By"); by != "" {
			extra = "  Approved-By: " + by
		}
		r.n.Say("  %s %s%s", c.Hash[:7], c.Subject, extra)
	}
	res, err := r.ci.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("the audit chain is broken: %+v", res.Broken)
	}
	r.n.Say("audit chain verified: OK, %d events, every hash recomputed, head #%d %s", res.Events, res.HeadSeq, short(res.HeadHash))
	return nil
}

// gateLine is a gate's decision in one line: the verdict and each rule.
func gateLine(d *policy.Decision) string {
	if d == nil {
		return "no gate decision"
	}
	verdict := "gate allowed"
	if !d.Allowed {
		verdict = "gate BLOCKED"
	}
	var parts []string
	for _, res := range d.Results {
		name := res.Rule
		if res.Metric != "" {
			name = res.Metric
		}
		var s string
		switch {
		case res.Kind == policy.KindRequire:
			s = name
		case res.Actual == nil:
			s = name + " n/a (no baseline)"
		default:
			s = fmt.Sprintf("%s %s (%s)", name, formatActual(name, res.Actual), res.Threshold)
		}
		if res.Status != policy.StatusPass {
			s += " " + strings.ToUpper(string(res.Status))
		}
		parts = append(parts, s)
	}
	return verdict + ": " + strings.Join(parts, ", ")
}

// failing names the rules of a decision that failed.
func failing(d *policy.Decision) []string {
	var out []string
	if d != nil {
		for _, res := range d.Results {
			if res.Status == policy.StatusFail || res.Status == policy.StatusError {
				out = append(out, res.Rule)
			}
		}
	}
	return out
}

func formatActual(name string, v any) string {
	f, ok := v.(float64)
	if !ok {
		return fmt.Sprint(v)
	}
	if strings.HasSuffix(name, "_delta") {
		return fmt.Sprintf("%+.4g", f)
	}
	return fmt.Sprintf("%.4g", f)
}
