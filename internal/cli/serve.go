package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/promote-ml/promote/internal/agent"
	"github.com/promote-ml/promote/internal/autopromote"
	"github.com/promote-ml/promote/internal/gitclone"
	"github.com/promote-ml/promote/internal/gitops"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/leader"
	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/internal/webui"
	"github.com/promote-ml/promote/promote"
)

func newServeCmd(s *streams) *cobra.Command {
	cfg := defaultServerConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry and promotion server (REST API, metrics, health)",
		Long: `Run Promote's server: the registry of models and versions, promotions gated by each
environment's policy, approvals, holds and the audit log, over a REST API under /api/v1
(OpenAPI document at /api/v1/openapi.json), with /healthz, /readyz and /metrics, and a web UI
under /ui/ (docs/ui.md).

The store is SQLite in --data by default (one server per data directory: a second one
is refused), or PostgreSQL with --database. The pipeline
file names the environments, their policies and the trusted signing keys. Create the
first token with 'promote token create --name ada --role admin'.

With --gitops-remote, every change of a live version (an approved promotion, a
rollback) is committed to the environment's overlay in that repository and pushed, or
proposed as a pull request with --gitops-mode pull-request; the promotion completes
when the commit is on the branch. A reconciler compares the registry with the overlays
at start and every --gitops-interval, so a change interrupted by a crash is committed
once at restart. Credentials come from $PROMOTE_GITOPS_TOKEN (or --gitops-token-file)
and $PROMOTE_GITOPS_PASSWORD, never from flags.

With --agent-addr, the local agent watches the repository and routes /ENV/MODEL/... on
that address to the local endpoint serving the artifact each overlay pins
(--agent-endpoints): without Kubernetes, a commit is what changes what serves.

Several replicas may share one PostgreSQL database: every one serves the API and
the UI, and the one holding the lease --lease-name runs the reconciler, the
rollout controller, automatic promotion and the webhooks; when it dies another
takes over within --lease-ttl (docs/leader-election.md).

An environment with autoPromote in the pipeline file gets, by itself, the version
that last succeeded in its upstream environment once its soak there is served,
requested as auto-promote through the same gate and approvals: the leader looks
right after a promotion ends or a hold is cleared (through any replica), when a
soak or a freeze ends, and at least every --auto-promote-every (docs/pipeline.md).`,
		Example: `  promote serve --data ./promote-data --pipeline promote.yaml
  PROMOTE_DATABASE=postgres://promote@db/promote promote serve --addr :8080
  promote serve --gitops-remote ../gitops.git --agent-addr 127.0.0.1:8081 --agent-endpoints endpoints.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), s, cfg)
		},
	}
	cfg.env(getenv)
	fl := cmd.Flags()
	cfg.storeFlags(fl)
	fl.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen `ADDRESS` ($PROMOTE_ADDR)")
	fl.StringSliceVar(&cfg.ArtifactRoots, "artifact-root", cfg.ArtifactRoots, "`DIR` whose files the server may read to compute artifact digests (repeatable; default: the working directory, unless it is /; $PROMOTE_ARTIFACT_ROOTS)")
	fl.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error ($PROMOTE_LOG_LEVEL)")
	cfg.GitOps.flags(fl)
	cfg.Rollout.flags(fl)
	cfg.Lease.flags(fl)
	fl.BoolVar(&cfg.UISecureCookies, "ui-secure-cookies", cfg.UISecureCookies, "mark the web UI's cookies Secure even on plain HTTP, for a server behind a proxy that terminates TLS ($PROMOTE_UI_SECURE_COOKIES)")
	fl.DurationVar(&cfg.AutoPromoteEvery, "auto-promote-every", cfg.AutoPromoteEvery, "how often, at least, the leader requests the promotions that environments with autoPromote call for (docs/pipeline.md#autopromote), besides right after a promotion ends or a hold is cleared and when a soak or a freeze ends ($PROMOTE_AUTO_PROMOTE_EVERY)")
	fl.DurationVar(&cfg.AuditVerifyEvery, "audit-verify-every", cfg.AuditVerifyEvery, "how often to verify the whole audit chain again after start; 0: only at start; the alert PromoteAuditChainNotVerified assumes the default ($PROMOTE_AUDIT_VERIFY_EVERY)")
	fl.StringVar(&cfg.Webhooks, "webhooks", cfg.Webhooks, "`FILE` of webhook endpoints notified of promotions, commits, rollout steps and rollbacks (docs/webhooks.md; $PROMOTE_WEBHOOKS)")
	fl.StringVar(&cfg.ExternalURL, "external-url", cfg.ExternalURL, "the `URL` people reach this server at (behind any proxy), which webhooks link to: https://promote.example.com ($PROMOTE_EXTERNAL_URL)")
	return cmd
}

func runServe(ctx context.Context, s *streams, cfg serverConfig) error {
	// Bad settings and files are refused before anything is created: the
	// data directory, its lock, the store.
	if err := cfg.validate(); err != nil {
		return usageError(err)
	}
	log := newLogger(s.err, cfg.LogLevel)
	// The reconciler and the rollout controller need the service, and the
	// service their cues: the cues are bound before anything runs.
	var rec *gitops.Reconciler
	var ag *agent.Agent
	var ctl *rollout.Controller
	var hooks serviceHooks
	if cfg.GitOps.enabled() {
		hooks.changed = func(model, env string) { rec.Trigger(model, env) }
	}
	rollouts := cfg.GitOps.enabled() && cfg.GitOps.agentEnabled()
	if !rollouts && cfg.Rollout.PrometheusURL != "" {
		log.Warn("serve: --prometheus-url is not used: rollouts run only with GitOps (--gitops-remote) and the local agent (--agent-addr)")
	}
	if rollouts {
		hooks.rolloutCue = func(string) {
			if ag != nil {
				ag.Trigger()
			}
			ctl.Trigger()
		}
	}
	if cfg.Database == "" && cfg.Data != "" {
		unlock, err := lockDataDir(cfg.Data)
		if err != nil {
			return usageError(err)
		}
		defer unlock()
	}
	// Webhooks are sent from the audit log by the leader's dispatcher
	// (docs/webhooks.md); a write through this replica wakes it at once
	// when this replica leads.
	var disp *notify.Dispatcher
	var deliveries interface { // notify.StoreLog, read by the API and the UI
		httpapi.Deliveries
		webui.Deliveries
	}
	var resender httpapi.Resender
	var endpoints []notify.Endpoint
	if cfg.Webhooks != "" {
		var err error
		if endpoints, err = loadWebhooks(cfg.Webhooks, getenv); err != nil {
			return usageError(err)
		}
	}
	// Automatic promotion runs on the leader; what may let it request a
	// promotion (autopromote.Cues) cues it at once when it happens through
	// this replica and this replica leads, and within a second of being
	// recorded when it happens through another (controllers.cue).
	var auto *autopromote.Controller
	hooks.audited = func(e promote.AuditEvent) {
		if disp != nil {
			disp.Wake()
		}
		if auto != nil && autopromote.Cues(e) {
			auto.Trigger()
		}
	}
	reg := telemetry.NewRegistry()
	if err := telemetry.RegisterRuntime(reg); err != nil {
		return err
	}
	// Every replica counts the gates' decisions on the requests it serves.
	gateMetrics, err := registry.NewMetrics(reg)
	if err != nil {
		return err
	}
	hooks.metrics = gateMetrics
	svc, store, lp, err := openService(ctx, cfg, log, hooks)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := warnReservedTokens(ctx, svc, log); err != nil {
		return err
	}
	if cfg.Webhooks != "" {
		wm, err := notify.NewMetrics(reg)
		if err != nil {
			return err
		}
		if disp, err = notify.NewDispatcher(notify.DispatcherConfig{Config: notify.Config{Endpoints: endpoints, Logger: log}, Store: store, Metrics: wm,
			ExternalURL: cfg.ExternalURL}); err != nil {
			return usageError(err)
		}
		// Endpoints new to the store start at the head of the audit log,
		// before this replica serves a request: they receive what happens
		// from now on, not the history.
		if err := disp.Start(ctx); err != nil {
			return err
		}
		deliveries, resender = notify.NewStoreLog(store), disp
	}
	if cfg.GitOps.enabled() {
		wcfg, err := cfg.GitOps.writerConfig(cfg.Data, getenv, log)
		if err != nil {
			return usageError(err)
		}
		// A replica that lost its leadership must not push: its fence is
		// checked right before each push.
		wcfg.BeforePush = svc.CheckFence
		w, err := gitops.New(wcfg)
		if err != nil {
			return usageError(err)
		}
		// The reconciler's series are on /metrics while it runs: on the
		// replica that leads.
		gm, err := gitops.NewMetrics(reg)
		if err != nil {
			return err
		}
		if rec, err = gitops.NewReconciler(gitops.ReconcilerConfig{Writer: w, Registry: svc, Interval: cfg.GitOps.Interval, Logger: log,
			Metrics: gm,
			Committed: func(promote.Deployment, string) {
				if ag != nil {
					ag.Trigger()
				}
			}}); err != nil {
			return usageError(err)
		}
	}
	var agentSrv *traffic.Server
	var agentLn net.Listener
	var trafficMetrics *traffic.Metrics
	if cfg.GitOps.agentEnabled() {
		// The agent serves model traffic on a listener of its own, its
		// status at /-/status (no environment name starts with "-"),
		// through splitters whose metrics, and its sync's, are on
		// /metrics.
		acfg := cfg.GitOps.agentConfig(cfg.Data, svc.Pipeline().Names(), getenv, log)
		if acfg.Traffic, err = traffic.NewMetrics(reg); err != nil {
			return err
		}
		trafficMetrics = acfg.Traffic
		if acfg.Metrics, err = agent.NewMetrics(reg); err != nil {
			return err
		}
		acfg.Progressive = func(env string) bool { return lp.plans[env] != nil }
		acfg.Splitter = func(env string, c *traffic.Config) { splitterSettings(lp.plans[env], c) }
		acfg.Stable = func(env, model, version string) (overlay.Pin, bool) { return stableOf(ctx, svc, env, model, version) }
		// A rollout starts once its candidate is deployed: the agent's
		// sync wakes the controller (set below, before the agent runs).
		acfg.Applied = func() {
			if ctl != nil {
				ctl.Trigger()
			}
		}
		if ag, err = agent.New(acfg); err != nil {
			return usageError(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/-/status", ag.StatusHandler())
		mux.Handle("/", ag)
		// The splitters' plain requests take the fast path; everything
		// else (the status, upgrades, routes without a splitter) the mux.
		agentSrv = &traffic.Server{
			Fallback: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
			Route:    ag.FastRoute,
		}
		if agentLn = cfg.agentListener; agentLn == nil {
			if agentLn, err = net.Listen("tcp", cfg.GitOps.AgentAddr); err != nil {
				return usageError(fmt.Errorf("listen on %s: %w", cfg.GitOps.AgentAddr, err))
			}
		}
	}
	var (
		ops   httpapi.RolloutOps
		steer webui.Rollouts // ops, with what a person's go does
	)
	if rollouts {
		// The controller gathers the splitters' two families, up to ten
		// times a second with looks, not the whole registry (the
		// runtime's read /proc).
		var src metrics.Source = metrics.NewBuiltin(reg.Only(metrics.RequestsMetric, metrics.DurationMetric))
		if cfg.Rollout.PrometheusURL != "" {
			prom, err := cfg.Rollout.prometheus()
			if err != nil {
				return usageError(err)
			}
			if err := cfg.Rollout.checkPrometheus(ctx, prom, log); err != nil {
				return usageError(err)
			}
			src = prom
		}
		pollers, err := cfg.Rollout.pollers(src, lp.plans)
		if err != nil {
			return usageError(err)
		}
		// Every replica counts the active rollouts by state as its
		// controller reads them: the leader at each tick, the others as
		// they follow.
		rg, err := rollout.NewGauges(reg)
		if err != nil {
			return err
		}
		// The agent's splitters judge each request by a rollout's history
		// tests (rollout.JudgeSetter).
		var _ rollout.JudgeSetter = ag
		if ctl, err = rollout.New(rollout.Config{Registry: svc, Traffic: ag, Metrics: pollers, Plans: lp.plans,
			Interval: cfg.Rollout.interval(lp.plans), LookEvery: cfg.Rollout.LookEvery, Gauges: rg, Logger: log}); err != nil {
			return usageError(err)
		}
		if cfg.Rollout.looks() {
			// The splitters' counts grow with every request: a
			// candidate's request brings a judgement (at most every
			// LookEvery) rather than waiting for the interval.
			trafficMetrics.OnCandidate(ctl.Look)
		}
		ops, steer = ctl, ctl
	}
	var autos []string
	for _, e := range svc.Pipeline().AutoPromoted() {
		autos = append(autos, e.Name)
	}
	if len(autos) > 0 {
		if auto, err = autopromote.New(autopromote.Config{Registry: svc, Interval: cfg.AutoPromoteEvery, Logger: log}); err != nil {
			return usageError(err)
		}
	}
	// Every replica serves the API; the one elected through the lease runs
	// the reconciler, the rollout controller, automatic promotion and the
	// webhook dispatcher.
	ctrl := &controllers{svc: svc, rec: rec, ctl: ctl, auto: auto, disp: disp, log: log, shared: cfg.Database != ""}
	if cfg.Database == "" {
		if err := endStaleLease(ctx, store, cfg.Lease.Name); err != nil {
			return fmt.Errorf("end the lease of a server that stopped on %s: %w", cfg.Data, err)
		}
	}
	// Every replica says whether it leads: 1 on the leader, 0 on the
	// others, so that no leader, or two, can be alerted on.
	lm, err := leader.NewMetrics(reg)
	if err != nil {
		return err
	}
	el, err := ctrl.elector(store, cfg.Lease, lm)
	if err != nil {
		return usageError(err)
	}
	api := httpapi.NewServer(svc, httpapi.Options{
		Logger: log, Metrics: reg, Rollouts: ops, Deliveries: deliveries, Resender: resender, Leader: leaderStatus(el),
		// A probe every few seconds: one small read, not a listing that
		// grows with the store.
		Ready: store.Ping,
	})
	ui, err := webui.New(webui.Options{Service: svc, Deliveries: deliveries, Resender: resender, Rollouts: steer, Logger: log, SecureCookies: cfg.UISecureCookies,
		VerifyInterval: cfg.AuditVerifyEvery, Metrics: reg})
	if err != nil {
		return err
	}
	// Promotions left in flight in an environment that promote.yaml no
	// longer has: nothing gates or carries them out now. Named once the
	// server says it is serving.
	stranded, err := svc.Stranded(ctx)
	var strandedHolds []promote.Hold
	if err == nil {
		strandedHolds, err = svc.StrandedHolds(ctx)
	}
	if err != nil {
		if agentLn != nil {
			agentLn.Close()
		}
		return fmt.Errorf("list promotions in environments no longer in the pipeline: %w", err)
	}
	ln := cfg.listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			if agentLn != nil {
				agentLn.Close()
			}
			return usageError(fmt.Errorf("listen on %s: %w", cfg.Addr, err))
		}
	}
	srv := &http.Server{
		Handler:           withUI(api.Handler(), ui),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      5 * time.Minute, // audit exports stream
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    httpapi.MaxHeaderBytes,
	}
	where := "SQLite in " + cfg.Data
	if cfg.Database != "" {
		where = "PostgreSQL " + redactDSN(cfg.Database)
	}
	fmt.Fprintf(s.err, "promote serving on http://%s (%s; pipeline %s: %s)\n", ln.Addr(), where, cfg.Pipeline,
		strings.Join(svc.Pipeline().Names(), " → "))
	fmt.Fprintf(s.err, "promote web UI on http://%s%s/ (sign in with an API token)\n", ln.Addr(), webui.Prefix)
	for _, u := range lp.unused {
		fmt.Fprintf(s.err, "promote: %s\n", u)
	}
	for _, p := range stranded {
		fmt.Fprintf(s.err, "promote: promotion %s of %s %s is %s in %s, which is no longer in %s: %s\n",
			p.ID, p.Model, p.Version, p.State, p.Environment, cfg.Pipeline, strandedTodo(p, cfg.Pipeline))
	}
	for _, h := range strandedHolds {
		fmt.Fprintf(s.err, "promote: hold %d on %s %s in %s no longer applies: %s is no longer in %s; if it should, set it again where the version must not go (promote holds set), then clear this one\n",
			h.ID, h.Model, h.Version, h.Environment, h.Environment, cfg.Pipeline)
	}
	if rec != nil {
		fmt.Fprintf(s.err, "promote commits live changes to %s (branch %s, %s)\n", gitclone.RedactURL(cfg.GitOps.Remote), cfg.GitOps.Branch, cfg.GitOps.Mode)
	} else if envs := overlaid(svc.Pipeline()); len(envs) > 0 {
		fmt.Fprintf(s.err, "promote: GitOps is off (no --gitops-remote): promotions change live versions in the registry only, and the overlays of %s are not updated\n",
			strings.Join(envs, ", "))
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error { return ui.Run(gctx) })
	g.Go(func() error { return ctrl.run(gctx, el) })
	if disp != nil {
		fmt.Fprintf(s.err, "promote sends webhooks as %s says, from the replica that leads\n", cfg.Webhooks)
	}
	if auto != nil {
		fmt.Fprintf(s.err, "promote auto-promotes into %s when a promotion ends or a hold is cleared, when a soak or a freeze ends, and at least every %s, from the replica that leads\n",
			strings.Join(autos, ", "), cfg.AutoPromoteEvery)
	}
	if ctl != nil {
		judged := "every " + cfg.Rollout.interval(lp.plans).String()
		if cfg.Rollout.looks() {
			judged += fmt.Sprintf(" and as the candidates' requests arrive (at most every %s)", cfg.Rollout.LookEvery)
		}
		if len(lp.plans) == 0 {
			fmt.Fprintf(s.err, "promote rolls out no environment progressively (no environment's policy sets a canary or shadow rollout)\n")
		} else {
			fmt.Fprintf(s.err, "promote rolls out %s progressively, judged %s\n", strings.Join(slices.Sorted(maps.Keys(lp.plans)), ", "), judged)
		}
	}
	servers := []interface{ Shutdown(context.Context) error }{srv}
	if ag != nil {
		acfg := cfg.GitOps.agentConfig(cfg.Data, svc.Pipeline().Names(), getenv, log)
		fmt.Fprintf(s.err, "promote agent serving models on http://%s/ENV/MODEL/ (status at /-/status), deploying %s of %s\n",
			agentLn.Addr(), strings.Join(acfg.Environments, ", "), gitclone.RedactURL(acfg.Remote))
		g.Go(func() error { return ag.Run(gctx) })
		g.Go(func() error {
			if err := agentSrv.Serve(agentLn); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		servers = append(servers, agentSrv)
	}
	g.Go(func() error {
		<-gctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var errs []error
		for _, hs := range servers {
			if err := hs.Shutdown(shutdown); err != nil {
				errs = append(errs, fmt.Errorf("shut down: %w", err))
			}
		}
		return errors.Join(errs...)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintln(s.err, "promote stopped")
	return nil
}

// withUI serves the web UI under /ui/ beside the API, and sends a browser
// that opens the server's root to the UI.
func withUI(api http.Handler, ui *webui.UI) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(webui.Prefix+"/", ui.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler(webui.Prefix+"/", http.StatusSeeOther))
	mux.Handle("/", api)
	return mux
}

// stableOf returns the pin of the version that keeps the stable traffic
// while version of model rolls out in env: the stable version of its
// active rollout, or the baseline of its committed promotion whose rollout
// has not started yet. The agent asks for it when it meets such a route
// for the first time (after a restart). A version that was rolled back in
// env (its rollback commit may not be on the branch yet: the branch still
// pins it) gets no traffic either: the version the rollback returned to is
// stable, so that a restart never gives a rolled-back candidate the
// traffic its rollback took away, and the rollback's commit, when it
// lands, drops it; the version the rollback returned to is its own stable
// version (agent.Config.Stable).
func stableOf(ctx context.Context, svc *registry.Service, env, model, version string) (overlay.Pin, bool) {
	stable := ""
	if rs, err := svc.Rollouts(ctx, promote.RolloutFilter{Model: model, Environment: env, ActiveOnly: true, Limit: 1}); err == nil &&
		len(rs) == 1 && rs[0].Version == version {
		stable = rs[0].Stable
	} else if ps, err := svc.PendingRollouts(ctx); err == nil {
		for _, p := range ps {
			if p.Model == model && p.Environment == env && p.Version == version {
				stable = p.Baseline
			}
		}
	}
	if stable == "" {
		// Approved, its commit on the branch but not yet recorded: a
		// server killed between its push and the record, restarted, reads
		// the branch before its reconciler records the commit. The version
		// is still the candidate of the rollout about to start.
		if ps, err := svc.Promotions(ctx, promote.PromotionFilter{Model: model, Environment: env, States: []promote.State{promote.StateApproved}, Limit: 1}); err == nil &&
			len(ps) == 1 && ps[0].Version == version {
			stable = ps[0].Baseline
		}
	}
	if stable == "" {
		if ds, err := svc.Deployments(ctx, model, env); err == nil && len(ds) == 1 && ds[0].RollbackOf != "" &&
			(ds[0].RollbackOf == version || ds[0].Version == version) {
			// The version a rollback replaced gets no traffic, and the
			// version it returned to is stable outright: the agent gives
			// it all the traffic at once when the rollback's commit pins
			// it, rather than make it a candidate no rollout would move.
			stable = ds[0].Version
		}
	}
	if stable == "" {
		return overlay.Pin{}, false
	}
	v, err := svc.Version(ctx, model, stable)
	if err != nil {
		return overlay.Pin{}, false
	}
	return overlay.Pin{Model: model, Version: v.Version, URI: v.ArtifactURI, Digest: v.Digest}, true
}

// strandedTodo says what a person can do about promotion p, in flight in
// an environment that the pipeline file (pipelineFile) no longer has. A
// queued or approved one has changed nothing yet, and is cancelled. A
// committed one has its change in Git already: nothing in the pipeline
// starts its rollout, nor reverts the overlay, until the environment is
// back. A rolling-out one is kept by promoting its rollout now, or ended
// by an abort once the environment is back (the rollout controller
// pauses it meanwhile, with all traffic on stable).
func strandedTodo(p promote.Promotion, pipelineFile string) string {
	switch {
	case p.State.Queued() || p.State == promote.StateApproved:
		return "cancel it (promote cancel " + p.ID + ")"
	case p.State == promote.StateRollingOut:
		return fmt.Sprintf("nothing in the pipeline carries it out now; "+
			"to keep %s %s there, promote its rollout (promote rollout promote %s); to abort it, put %s back in %s, restart the server, then abort it (promote rollout abort %s)",
			p.Model, p.Version, p.ID, p.Environment, pipelineFile, p.ID)
	default:
		return fmt.Sprintf("nothing in the pipeline carries it out now; put %s back in %s (with its rollout) and restart the server: its rollout then starts, to be promoted or aborted",
			p.Environment, pipelineFile)
	}
}

// overlaid lists the environments of p that name a GitOps overlay, in
// pipeline order.
func overlaid(p *pipeline.Pipeline) []string {
	var out []string
	for _, e := range p.Environments {
		if e.Overlay != "" {
			out = append(out, e.Name)
		}
	}
	return out
}

// warnReservedTokens logs one warning naming, by ID and name, each token
// not revoked whose name is now reserved for Promote's own actors
// (registry.ReservedNameTokens): it keeps working, and the audit log reads
// what it does as the system's, so an admin should revoke it.
func warnReservedTokens(ctx context.Context, svc *registry.Service, log *slog.Logger) error {
	ts, err := svc.ReservedNameTokens(ctx)
	if err != nil {
		return fmt.Errorf("read the tokens: %w", err)
	}
	if len(ts) == 0 {
		return nil
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.ID + " (" + t.Name + ")"
	}
	log.Warn("serve: API tokens named after Promote's own actors ("+strings.Join(registry.SystemActors, ", ")+
		") still work, and the audit log reads their actions as Promote's: revoke each (promote token revoke ID) and create it again under another name",
		slog.String("tokens", strings.Join(names, ", ")))
	return nil
}
