package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/promote-ml/promote/internal/gitclone"
	"github.com/promote-ml/promote/internal/gitops"
	"github.com/promote-ml/promote/internal/httpapi"
)

func newServeCmd(s *streams) *cobra.Command {
	cfg := defaultServerConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry and promotion server (REST API, metrics, health)",
		Long: `Run Promote's server: the registry of models and versions, promotions gated by each
environment's policy, approvals, holds and the audit log, over a REST API under /api/v1
(OpenAPI document at /api/v1/openapi.json), with /healthz, /readyz and /metrics.

The store is SQLite in --data by default, or PostgreSQL with --database. The pipeline
file names the environments, their policies and the trusted signing keys. Create the
first token with 'promote token create --role admin'.`,
		Example: `  promote serve --data ./promote-data --pipeline promote.yaml
  PROMOTE_DATABASE=postgres://promote@db/promote promote serve --addr :8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), s, cfg)
		},
	}
	cfg.env(getenv)
	fl := cmd.Flags()
	cfg.storeFlags(fl)
	fl.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen `ADDRESS` ($PROMOTE_ADDR)")
	fl.StringSliceVar(&cfg.ArtifactRoots, "artifact-root", cfg.ArtifactRoots, "`DIR` whose files the server may read to compute artifact digests (repeatable; default: the working directory; $PROMOTE_ARTIFACT_ROOTS)")
	fl.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error ($PROMOTE_LOG_LEVEL)")
	cfg.GitOps.flags(fl)
	return cmd
}

func runServe(ctx context.Context, s *streams, cfg serverConfig) error {
	log := newLogger(s.err, cfg.LogLevel)
	// The reconciler needs the service and the service its cue: the cue
	// is bound before anything runs.
	var rec *gitops.Reconciler
	var changed func(model, env string)
	if cfg.GitOps.enabled() {
		changed = func(model, env string) { rec.Trigger(model, env) }
	}
	svc, store, err := openService(ctx, cfg, log, changed)
	if err != nil {
		return err
	}
	defer store.Close()
	if cfg.GitOps.enabled() {
		wcfg, err := cfg.GitOps.writerConfig(cfg.Data, getenv, log)
		if err != nil {
			return usageError(err)
		}
		w, err := gitops.New(wcfg)
		if err != nil {
			return usageError(err)
		}
		if rec, err = gitops.NewReconciler(gitops.ReconcilerConfig{Writer: w, Registry: svc, Interval: cfg.GitOps.Interval, Logger: log}); err != nil {
			return usageError(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := httpapi.NewServer(svc, httpapi.Options{
		Logger: log, Registerer: reg, Gatherer: reg,
		Ready: func(ctx context.Context) error {
			_, err := svc.Models(ctx)
			return err
		},
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return usageError(fmt.Errorf("listen on %s: %w", cfg.Addr, err))
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      5 * time.Minute, // audit exports stream
		IdleTimeout:       2 * time.Minute,
	}
	where := "SQLite in " + cfg.Data
	if cfg.Database != "" {
		where = "PostgreSQL " + redactDSN(cfg.Database)
	}
	fmt.Fprintf(s.err, "promote serving on http://%s (%s; pipeline %s: %s)\n", ln.Addr(), where, cfg.Pipeline,
		strings.Join(svc.Pipeline().Names(), " → "))
	if rec != nil {
		fmt.Fprintf(s.err, "promote commits live changes to %s (branch %s, %s)\n", gitclone.RedactURL(cfg.GitOps.Remote), cfg.GitOps.Branch, cfg.GitOps.Mode)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if rec != nil {
		g.Go(func() error { return rec.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			return fmt.Errorf("shut down: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintln(s.err, "promote stopped")
	return nil
}
