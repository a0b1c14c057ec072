package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

func newRollbackCmd(s *streams) *cobra.Command {
	var req registry.RollbackRequest
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "rollback MODEL --env ENV --reason TEXT [--to VERSION]",
		Short: "Put an environment back on an earlier version, as a Git commit",
		Long: `Put an environment back on an earlier version: the live alias moves back at once,
the version that was live is put on hold in that environment (no automation promotes it
again until a person clears the hold), and its promotion, if still active, ends.

With GitOps on the server, the rollback is a commit to the environment's overlay that
pins the earlier version again, with Rollback-Of and Reason trailers; the command waits
for it (--wait) and prints it. Without --to, the earlier version is the newest one that
was live there before, reached Git, and is neither rejected nor on hold.`,
		Example: `  promote rollback credit-risk --env prod --reason "error rate 5% after the canary"
  promote rollback credit-risk --env prod --to 1.4.0 --reason "1.5 mis-scores thin files"`,
		Args: cobra.ExactArgs(1),
	}
	f := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req.Model = args[0]
		c, err := f.client()
		if err != nil {
			return err
		}
		v, err := c.Rollback(cmd.Context(), req)
		if err != nil {
			return clientError(err)
		}
		fmt.Fprintf(s.err, "%s in %s: %s → %s; %s is on hold there (hold %d)\n", v.Live.Model, v.Live.Environment,
			v.RolledBack, v.Live.Version, v.RolledBack, v.Hold.ID)
		if wait > 0 && v.GitOps {
			if v.Live, err = waitForCommit(cmd.Context(), c, v.Live, wait, s.err); err != nil {
				return err
			}
		}
		return f.render(s.out, v, func(tw *table) {
			row(tw, "MODEL", "ENVIRONMENT", "LIVE", "ROLLED BACK", "HOLD", "COMMIT")
			commit := v.Live.Commit
			switch {
			case commit == "" && v.GitOps:
				commit = "(not committed yet)"
			case commit == "":
				commit = "(no GitOps)"
			}
			row(tw, v.Live.Model, v.Live.Environment, v.Live.Version, v.RolledBack, fmt.Sprint(v.Hold.ID), commit)
		})
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Environment, "env", "", "the environment to roll back")
	fl.StringVar(&req.To, "to", "", "the `VERSION` to return to (default: the newest earlier one that may go live)")
	fl.StringVar(&req.Reason, "reason", "", "why; recorded in the audit log, the hold and the commit's Reason trailer")
	fl.DurationVar(&wait, "wait", 60*time.Second, "how long to wait for the GitOps commit when the server has GitOps (0: do not wait)")
	_ = cmd.MarkFlagRequired("env")
	_ = cmd.MarkFlagRequired("reason")
	cmd.ValidArgsFunction = f.completeArgs(modelNames)
	_ = cmd.RegisterFlagCompletionFunc("env", f.completeFlag(environmentNames))
	_ = cmd.RegisterFlagCompletionFunc("to", f.completeFlag(versionsOfArg))
	return cmd
}

// errNoCommit says the GitOps commit did not come in time; the change
// stands and the server keeps trying.
var errNoCommit = errors.New("no GitOps commit yet")

// waitForCommit polls the model's status until the alias change l carries
// a commit, printing progress to w. It returns l as it stands: a server
// without GitOps never commits, which the caller learns at the deadline.
func waitForCommit(ctx context.Context, c *httpapi.Client, l promote.Live, wait time.Duration, w io.Writer) (promote.Live, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	fmt.Fprintf(w, "waiting for the GitOps commit (up to %s)…\n", wait)
	for {
		st, err := c.Status(ctx, l.Model)
		if err == nil {
			cur, ok := st.Live[l.Environment]
			switch {
			case ok && cur.PromotionID == l.PromotionID && cur.Commit != "":
				fmt.Fprintf(w, "committed %s\n", cur.Commit)
				return cur, nil
			case !ok || cur.PromotionID != l.PromotionID:
				return l, fmt.Errorf("%s in %s changed again before its commit; see promote history %s --env %s",
					l.Model, l.Environment, l.Model, l.Environment)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return l, fmt.Errorf("%w after %s: the rollback stands and the server keeps trying (see its log)", errNoCommit, wait)
			}
			return l, ctx.Err()
		case <-tick.C:
		}
	}
}
