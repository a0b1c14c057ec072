package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/report"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/promote"
)

func newPromotionsCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{Use: "promotions", Aliases: []string{"promotion"}, Short: "List and show promotions"}
	f := addClientFlags(cmd)
	var filter promote.PromotionFilter
	var state string
	list := &cobra.Command{
		Use: "list", Short: "List promotions, newest first", Args: cobra.NoArgs,
		Long: `List the promotions that match the filters, newest (the last requested) first: at most
--limit of them (100 by default). SEQ is each promotion's cursor: --before SEQ lists the page
older than it (the SEQ of a page's last row gives the next page), --after SEQ the page just
newer.`,
		Example: `  promote promotions list --active
  promote promotions list --model credit-risk --env prod --state awaiting_approval
  promote promotions list --model credit-risk --limit 20 --before 311`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPage(cmd, filter.Limit, filter.BeforeSeq, filter.AfterSeq); err != nil {
				return err
			}
			if state != "" {
				if !slices.Contains(promote.States, promote.State(state)) {
					return usageErrorf("--state %q: want one of %s", state, strings.Join(promote.StateNames(), ", "))
				}
				filter.States = []promote.State{promote.State(state)}
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			ps, err := c.Promotions(cmd.Context(), filter)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, ps, func(tw *table) {
				row(tw, "SEQ", "ID", "MODEL", "VERSION", "TO", "STATE", "REQUESTED BY", "REQUESTED", "REASON")
				for _, p := range ps {
					row(tw, fmt.Sprint(p.Seq), p.ID, p.Model, p.Version, p.Environment, string(p.State), p.RequestedBy, when(p.RequestedAt), p.Reason)
				}
			})
		},
	}
	fl := list.Flags()
	fl.StringVar(&filter.Model, "model", "", "only this model")
	fl.StringVar(&filter.Environment, "env", "", "only this environment")
	fl.StringVar(&state, "state", "", "only promotions in this state: "+strings.Join(promote.StateNames(), ", "))
	fl.BoolVar(&filter.ActiveOnly, "active", false, "only active promotions")
	addPageFlags(list, "promotions", "SEQ", &filter.BeforeSeq, &filter.AfterSeq, &filter.Limit)
	_ = list.RegisterFlagCompletionFunc("model", f.completeFlag(modelNames))
	_ = list.RegisterFlagCompletionFunc("env", f.completeFlag(environmentNames))
	_ = list.RegisterFlagCompletionFunc("state", fixedValues(promote.States))
	show := &cobra.Command{
		Use: "show ID", Short: "Show a promotion: the gate's results, approvals and state", Args: cobra.ExactArgs(1),
		Example:           `  promote promotions show pr_1a2b3c4d5e6f7a8b`,
		ValidArgsFunction: f.completeArgs(promotionIDs(true)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			v, err := c.Promotion(cmd.Context(), args[0])
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, v, func(tw *table) { promotionView(s.out, tw, v) })
		},
	}
	cmd.AddCommand(list, show)
	return cmd
}

// promotionView writes a promotion for a person: what, where, state, the
// gate's table and the approvals.
func promotionView(w io.Writer, tw *table, v registry.PromotionView) {
	if v.DryRun {
		fmt.Fprintf(tw, "Dry run: %s %s → %s (nothing was recorded)\n", v.Model, v.Version, v.Environment)
		row(tw, "Would be", string(v.State))
	} else {
		fmt.Fprintf(tw, "Promotion %s: %s %s → %s\n", v.ID, v.Model, v.Version, v.Environment)
		row(tw, "State", string(v.State))
	}
	if v.Reason != "" {
		row(tw, "Reason", v.Reason)
	}
	row(tw, "Digest", v.Digest)
	row(tw, "Baseline", v.Baseline)
	row(tw, "Requested", when(v.RequestedAt)+" by "+v.RequestedBy)
	if v.Note != "" {
		row(tw, "Note", v.Note)
	}
	if v.Override {
		row(tw, "Freeze override", "yes")
	}
	for _, a := range v.Approvals {
		word := "approved"
		if !a.Approve {
			word = "rejected"
		}
		line := fmt.Sprintf("%s %s at %s", a.Approver, word, when(a.At))
		if a.Comment != "" {
			line += " " + a.Comment
		}
		row(tw, "Approval", line)
	}
	tw.Flush()
	if v.Gate != nil {
		// The gate's messages and the reason are the server's text, shown
		// as tables show it (printable.go).
		width := tw.Width // the terminal's, as the table's (0: a file or a pipe)
		w := printable{w}
		fmt.Fprintln(w)
		report.Results(w, v.Gate, report.Options{Width: width})
		summary := report.Summary(v.Gate)
		if v.State == promote.StateAwaitingApproval {
			summary = "AWAITING APPROVAL: every other rule holds; " + strings.TrimPrefix(v.Reason, "awaiting approval: ")
			if v.DryRun {
				summary = "WOULD AWAIT APPROVAL: every other rule holds; " + strings.TrimPrefix(v.Reason, "awaiting approval: ")
			}
		}
		fmt.Fprint(w, "\n"+report.Options{Width: width}.Fit("", summary))
	}
	// What approving it sets going, while it can be approved.
	if lines := rollout.PlanLines(v.OnApproval); len(lines) > 0 {
		fmt.Fprintln(tw, "\nOn approval:")
		for _, l := range lines {
			row(tw, "  "+l.Label, l.Text)
		}
	}
}

// renderPromotion shows a promotion after an action on it; a blocked one
// exits 1.
func renderPromotion(s *streams, f *clientFlags, v registry.PromotionView) error {
	if err := f.render(s.out, v, func(tw *table) { promotionView(s.out, tw, v) }); err != nil {
		return err
	}
	if v.State == promote.StateBlocked {
		return &exitError{code: ExitBlocked, silent: true}
	}
	return nil
}

func newRequestCmd(s *streams) *cobra.Command {
	var req registry.PromoteRequest
	cmd := &cobra.Command{
		Use:   "request MODEL VERSION --env ENV",
		Short: "Request a promotion: the environment's gate runs against its live version",
		Long: `Request that a version enter an environment. The environment's policy is evaluated
against the version live there now (the baseline), after its preconditions: the version
must not be rejected or on hold, must have succeeded in the upstream environment and
soaked there, and the environment must not be frozen (an admin may --override with a
--reason). The answer is the decision: blocked (exit 1), awaiting approval, or live.

--note TEXT leaves the approvers a note (what changed, what to look at; at most 2000
characters): it is kept with the promotion, shown by 'promote promotions show' and the
web UI's promotion page, recorded in the request's audit event and sent with its
promotion.awaiting_approval webhooks. --reason is the freeze override's, not this.

With --dry-run nothing is recorded (no promotion, no audit event, no webhook): the
answer is what the request would get now, with the same exit codes. A viewer's token
is enough. Use it in CI to see whether a version would pass the next environment's
gate before asking.

--to ENV, the flag's earlier name, still works; giving it and --env with different
environments is a usage error.`,
		Example: `  promote request credit-risk 2 --env prod --dry-run
  promote request credit-risk 2 --env staging
  promote request credit-risk 2 --env prod --note "retrained on March data; see the fairness report"
  promote request credit-risk 2 --env prod --override --reason "regulatory fix, approved by risk"`,
		Args: cobra.ExactArgs(2),
	}
	f := addClientFlags(cmd)
	// --env names the environment, as in every other command; --to is
	// its earlier name, kept (hidden) for the scripts that use it.
	var to string
	cmd.Flags().StringVar(&req.Environment, "env", "", "target environment")
	cmd.Flags().StringVar(&to, "to", "", "the same as --env (its earlier name)")
	_ = cmd.Flags().MarkHidden("to")
	cmd.Flags().BoolVar(&req.Override, "override", false, "promote through a freeze window (admin, needs --reason)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why the override (with --override only)")
	cmd.Flags().StringVar(&req.Note, "note", "", "a note for the approvers, shown with the promotion")
	cmd.Flags().BoolVar(&req.DryRun, "dry-run", false, "record nothing; show what the request would get now")
	cmd.ValidArgsFunction = f.completeArgs(modelNames, versionsOfArg)
	_ = cmd.RegisterFlagCompletionFunc("env", f.completeFlag(environmentNames))
	_ = cmd.RegisterFlagCompletionFunc("to", f.completeFlag(environmentNames))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case to != "" && req.Environment != "" && to != req.Environment:
			return usageErrorf("--env %q and --to %q name different environments: give --env only (--to is its earlier name)", req.Environment, to)
		case req.Environment == "":
			req.Environment = to
		}
		if req.Environment == "" {
			return usageErrorf("required flag(s) \"env\" not set: the environment to promote to")
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		req.Model, req.Version = args[0], args[1]
		v, err := c.RequestPromotion(cmd.Context(), req)
		if err != nil {
			return clientError(err)
		}
		return renderPromotion(s, f, v)
	}
	return cmd
}

func newApproveCmd(s *streams) *cobra.Command {
	var req registry.ApproveRequest
	cmd := &cobra.Command{
		Use:   "approve PROMOTION",
		Short: "Approve a promotion awaiting approval (bound to its artifact digest)",
		Long: `Approve a promotion. The approval binds to the artifact digest: pass --digest with the
digest you reviewed (shown by 'promote promotions show'); without it, the digest of the
promotion as fetched now is shown and used. You may not approve your own request unless
the policy allows it, and each person counts once.`,
		Example: `  promote promotions show pr_1a2b3c4d5e6f7a8b
  promote approve pr_1a2b3c4d5e6f7a8b --digest sha256:… --comment "metrics reviewed"`,
		Args: cobra.ExactArgs(1),
	}
	f := addClientFlags(cmd)
	cmd.Flags().StringVar(&req.Digest, "digest", "", "the artifact digest you reviewed")
	cmd.Flags().StringVar(&req.Comment, "comment", "", "a note for the audit log")
	cmd.ValidArgsFunction = f.completeArgs(promotionIDs(false, promote.StateAwaitingApproval))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		if req.Digest == "" {
			p, err := c.Promotion(cmd.Context(), args[0])
			if err != nil {
				return clientError(err)
			}
			req.Digest = p.Digest
			fmt.Fprintf(s.err, "Approving %s %s → %s, artifact %s\n", p.Model, p.Version, p.Environment, p.Digest)
		}
		v, err := c.Approve(cmd.Context(), args[0], req)
		if err != nil {
			return clientError(err)
		}
		return renderPromotion(s, f, v)
	}
	return cmd
}

// newDecisionCmd makes reject and cancel: a promotion ID and a reason.
func newDecisionCmd(s *streams, use, short, example string, needReason bool, ids candidates, call func(c clientCall, id, reason string) (registry.PromotionView, error)) *cobra.Command {
	var reason string
	cmd := &cobra.Command{Use: use + " PROMOTION", Short: short, Example: example, Args: cobra.ExactArgs(1)}
	if needReason {
		cmd.Use += " --reason TEXT"
	}
	f := addClientFlags(cmd)
	cmd.ValidArgsFunction = f.completeArgs(ids)
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit log)")
	if needReason {
		_ = cmd.MarkFlagRequired("reason")
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		v, err := call(clientCall{cmd, c}, args[0], reason)
		if err != nil {
			return clientError(err)
		}
		return renderPromotion(s, f, v)
	}
	return cmd
}

func newRejectCmd(s *streams) *cobra.Command {
	return newDecisionCmd(s, "reject", "Reject a promotion awaiting approval; the version is put on hold there",
		`  promote reject pr_1a2b3c4d5e6f7a8b --reason "recall on thin files is too low"`, true,
		promotionIDs(false, promote.StateAwaitingApproval),
		func(c clientCall, id, reason string) (registry.PromotionView, error) {
			return c.Reject(c.cmd.Context(), id, reason)
		})
}

func newCancelCmd(s *streams) *cobra.Command {
	return newDecisionCmd(s, "cancel", "Withdraw a promotion that has not started rolling out",
		`  promote cancel pr_1a2b3c4d5e6f7a8b --reason "superseded by version 3"`, false,
		promotionIDs(false, promote.StateRequested, promote.StateGated, promote.StateAwaitingApproval, promote.StateApproved, promote.StateCommitted),
		func(c clientCall, id, reason string) (registry.PromotionView, error) {
			return c.Cancel(c.cmd.Context(), id, reason)
		})
}
