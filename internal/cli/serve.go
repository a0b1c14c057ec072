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
	return cmd
}

func runServe(ctx context.Context, s *streams, cfg serverConfig) error {
	log := newLogger(s.err, cfg.LogLevel)
	svc, store, err := openService(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
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
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(s.err, "promote stopped")
	return nil
}
