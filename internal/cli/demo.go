package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/demo"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/registry"
)

func newDemoCmd(s *streams) *cobra.Command {
	var dir, addr string
	var noWait bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show the whole story end to end: train, gate, approve, commit, canary, roll back",
		Long: `Run Promote's whole story on this machine, for real, in about a minute; nothing else
needs to be installed.

In a temporary workspace (or --dir), the demo scaffolds a GitOps repository as
'promote init' does, with a local bare remote; trains three versions of a credit-risk
model (logistic regression on a seeded synthetic data set), computes their accuracy, F1,
AUC and per-group fairness statistics, measures their latency at their own local HTTP
endpoints and signs them; and starts 'promote serve' on SQLite with its GitOps writer,
local agent and rollout controller (its log goes to promote.log in the workspace).

Then it walks v1 and v2 through dev -> staging -> prod: gates against the live version,
an ML lead's approval, a Git commit per promotion, and a canary 10% -> 50% -> 100% under
live traffic. v3 is better offline, but fails on applicants with no credit history, who
are common in live traffic and absent from the test set: its canary is rolled back by the
analysis, in a new Git commit, and v3 is held in prod. The audit chain is verified last.

At the end the server keeps running, with the web UI, until Ctrl-C; with --no-wait, when
standard input is not a terminal or when $CI is set, the demo stops there. A temporary
workspace is removed at the end; one given with --dir is kept.`,
		Example: `  # The whole story; Ctrl-C at the end stops the server
  promote demo

  # Keep the workspace (repository, data, models, log) and exit at the end
  promote demo --dir ./promote-demo --no-wait

  # Serve the API and web UI on another address
  promote demo --addr 127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), s, dir, addr, noWait)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "workspace `DIR`, new or empty, kept at the end (default: a temporary one, removed)")
	fl.StringVar(&addr, "addr", "", "the server's `ADDRESS` (default 127.0.0.1:8080 when free, else a free port)")
	fl.BoolVar(&noWait, "no-wait", false, "exit at the end instead of serving the web UI until Ctrl-C")
	_ = cmd.MarkFlagDirname("dir")
	return cmd
}

func runDemo(ctx context.Context, s *streams, dir, addr string, noWait bool) error {
	keep := dir != ""
	if keep {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return usageError(err)
		}
		dir = abs
		entries, err := os.ReadDir(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return usageError(fmt.Errorf("--dir: %w", err))
			}
		case err != nil:
			return usageError(fmt.Errorf("--dir: %w", err))
		case len(entries) > 0:
			return usageErrorf("--dir %s is not empty: give a new or empty directory", dir)
		}
	} else {
		tmp, err := os.MkdirTemp("", "promote-demo-")
		if err != nil {
			return err
		}
		dir = tmp
	}
	wait, why := !noWait, ""
	switch {
	case noWait:
		why = "--no-wait"
	case !readerIsTerminal(s.in):
		wait, why = false, "standard input is not a terminal"
	case getenv("CI") != "" && getenv("CI") != "false":
		wait, why = false, "CI is set"
	}
	opts := demo.Options{Dir: dir, Addr: addr, Out: s.out, Terminal: redraws(s.out), Wait: wait, NoWait: why, Serve: serveDemo}
	if opts.Terminal {
		opts.Width = terminalWidth(s.out)
	}
	_, err := demo.Run(ctx, opts)
	if err != nil {
		if ctx.Err() != nil && !keep {
			os.RemoveAll(dir)
			return &exitError{code: ExitBlocked, err: errors.New("demo interrupted")}
		}
		fmt.Fprintf(s.err, "promote demo: the workspace is kept for a look: %s (server log: %s)\n", dir, filepath.Join(dir, "promote.log"))
		return &exitError{code: ExitBlocked, err: fmt.Errorf("demo: %w", err)}
	}
	if keep {
		fmt.Fprintf(s.out, "The workspace is kept in %s.\n", dir)
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the workspace: %w", err)
	}
	fmt.Fprintf(s.out, "Removed the workspace %s (keep one with --dir).\n", dir)
	return nil
}

// readerIsTerminal reports whether r is a terminal: a character device
// other than the null device, which is what CI gives as standard input.
func readerIsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}

// serveDemo makes the demo's tokens, then runs promote serve in this
// process as spec says, with its log in spec.Log, until Stop. It closes
// spec's listeners when the server does not start.
func serveDemo(ctx context.Context, spec demo.ServerSpec) (srv *demo.Server, err error) {
	defer func() {
		if err != nil {
			spec.Listener.Close()
			spec.AgentListener.Close()
		}
	}()
	cfg := defaultServerConfig()
	cfg.Data, cfg.Pipeline, cfg.Addr = spec.Data, spec.Pipeline, spec.Listener.Addr().String()
	cfg.listener, cfg.agentListener = spec.Listener, spec.AgentListener
	cfg.ArtifactRoots = []string{spec.ArtifactRoot}
	cfg.GitOps.Remote = spec.Remote
	cfg.GitOps.AgentAddr, cfg.GitOps.AgentEndpoints = spec.AgentListener.Addr().String(), spec.Endpoints
	cfg.GitOps.AgentInterval = 200 * time.Millisecond

	svc, store, _, err := openService(ctx, cfg, nil, serviceHooks{})
	if err != nil {
		return nil, err
	}
	tokens := map[string]string{}
	for _, t := range spec.Tokens {
		secret, _, err := svc.CreateToken(ctx, localAdmin, registry.TokenRequest{Name: t.Name, Role: t.Role, Groups: t.Groups})
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("token %s: %w", t.Name, err)
		}
		tokens[t.Name] = secret
	}
	if err := store.Close(); err != nil {
		return nil, err
	}

	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runServe(sctx, &streams{in: strings.NewReader(""), out: spec.Log, err: spec.Log}, cfg)
	}()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	c := httpapi.NewClient("http://"+cfg.Addr, "", nil)
	deadline := time.Now().Add(30 * time.Second)
	for c.Ready(ctx) != nil {
		select {
		case err := <-done:
			once.Do(func() { cancel(); serveErr = err })
			if err == nil {
				err = errors.New("stopped before it was ready")
			}
			return nil, err
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, errors.New("not ready after 30s")
		}
	}
	return &demo.Server{Tokens: tokens, Stop: stop}, nil
}
