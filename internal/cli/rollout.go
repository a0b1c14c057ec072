package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

func newRolloutCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rollout",
		Aliases: []string{"rollouts"},
		Short:   "Watch and steer canary and shadow rollouts",
		Long: `A rollout takes a committed promotion live in an environment whose policy has a canary
or shadow rollout: the candidate takes a growing share of traffic, step by step (or a copy
of it, in a shadow), while the sequential canary analysis compares it with the stable
version; a regression rolls it back automatically. A rollout is named by the ID of the
promotion it carries out (pr_…; see "promote rollout list").

Reading rollouts needs a viewer's token; pause, resume, abort and promote need an
approver's (ml-lead) token, and each is recorded in the audit log with its reason.`,
	}
	f := addClientFlags(cmd)
	var filter promote.RolloutFilter
	list := &cobra.Command{
		Use: "list", Short: "List rollouts, newest first (--active for running and paused ones)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			rs, err := c.Rollouts(cmd.Context(), filter)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, rs, func(tw *tabwriter.Writer) {
				row(tw, "PROMOTION", "MODEL", "VERSION", "ENVIRONMENT", "STABLE", "STATE", "STEP", "WEIGHT", "UPDATED", "REASON")
				for _, r := range rs {
					row(tw, r.PromotionID, r.Model, r.Version, r.Environment, r.Stable, string(r.State), fmt.Sprint(r.Step+1),
						percent(r.Weight), when(r.UpdatedAt), r.Reason)
				}
			})
		},
	}
	list.Flags().StringVar(&filter.Model, "model", "", "only this model")
	list.Flags().StringVar(&filter.Environment, "env", "", "only this environment")
	list.Flags().BoolVar(&filter.ActiveOnly, "active", false, "only running and paused rollouts")
	show := &cobra.Command{
		Use: "show PROMOTION", Short: "Show a rollout and the analysis's last verdict", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			r, err := c.Rollout(cmd.Context(), args[0])
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, r, func(tw *tabwriter.Writer) { describeRollout(tw, r) })
		},
	}
	var every time.Duration
	watch := &cobra.Command{
		Use:   "watch PROMOTION",
		Short: "Follow a rollout live: step, weight, canary against stable, the decision",
		Long: `Follow a rollout until it ends: its step and weight; the canary's and stable's requests
and error rates; their 95th percentile latency over the last sample (about 5 s), and the
share of requests slower than the latency test's threshold; and the analysis's decision.
In a terminal one line is redrawn with a progress bar; otherwise a plain line is printed
at each change. Exits 0 when the rollout succeeds and 1 when it is rolled back.
For a machine-readable view, poll "promote rollout show -o json".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if every <= 0 {
				return usageErrorf("--every %s: want a positive duration", every)
			}
			if f.output == "json" {
				return usageErrorf("rollout watch draws for people and has no -o json: poll \"promote rollout show %s -o json\" instead", args[0])
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			return watchRollout(cmd.Context(), c, args[0], every, s.out, isTerminal(s.out))
		},
	}
	watch.Flags().DurationVar(&every, "every", time.Second, "how often to read the rollout")
	cmd.AddCommand(list, show, watch)
	for _, op := range []struct{ verb, short, long string }{
		{"pause", "Hold a running rollout at its step and weight",
			"The candidate keeps its share of traffic; the rollout neither advances nor rolls back until\n\"promote rollout resume\". The analysis keeps its evidence."},
		{"resume", "Continue a paused rollout at its step",
			"The step's minimum time and requests count again from now. A rollout the analysis had failed\n(with automatic rollback off) starts its analysis afresh: the person resuming overrides it."},
		{"abort", "Roll the rollout back now: traffic to stable, live alias back, version held, Git commit",
			"The candidate's traffic goes to 0 at once; the environment's live version returns to the\nstable one, the candidate is put on hold there, and the rollback is committed to Git."},
		{"promote", "Give the candidate all traffic now and end the rollout as a success",
			"Skips the remaining steps and the analysis: the candidate takes all traffic at once and the\nrollout and its promotion succeed."},
	} {
		var reason string
		sub := &cobra.Command{
			Use: op.verb + " PROMOTION", Short: op.short, Args: cobra.ExactArgs(1),
			Long: op.short + ".\n\n" + op.long + "\n\nNeeds an approver's token; recorded in the audit log.",
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := f.client()
				if err != nil {
					return err
				}
				r, err := c.RolloutOp(cmd.Context(), args[0], op.verb, reason)
				if err != nil {
					return clientError(err)
				}
				return f.render(s.out, r, func(tw *tabwriter.Writer) { describeRollout(tw, r) })
			},
		}
		sub.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit log)")
		cmd.AddCommand(sub)
	}
	return cmd
}

func percent(w float64) string { return fmt.Sprintf("%g%%", w*100) }

// describeRollout writes a rollout and its verdict for people.
func describeRollout(w io.Writer, r promote.Rollout) {
	fmt.Fprintf(w, "Rollout\t%s %s in %s (promotion %s)\n", r.Model, r.Version, r.Environment, r.PromotionID)
	fmt.Fprintf(w, "Strategy\t%s against stable %s\n", r.Strategy, r.Stable)
	fmt.Fprintf(w, "State\t%s\n", r.State)
	track := "canary"
	if r.Strategy == policy.StrategyShadow {
		track = "shadow"
		fmt.Fprintf(w, "Mirroring\tsince %s (the candidate answers no user)\n", when(r.StepStartedAt))
	} else {
		fmt.Fprintf(w, "Step\t%d, weight %s since %s\n", r.Step+1, percent(r.Weight), when(r.StepStartedAt))
	}
	if r.Reason != "" {
		fmt.Fprintf(w, "Reason\t%s\n", r.Reason)
	}
	v, ok := verdictOf(r)
	if !ok {
		return
	}
	fmt.Fprintf(w, "Decision\t%s %s\n", v.Decision, v.Reason)
	for _, t := range v.Tests {
		detail := t.Detail
		if t.Sequential && t.Status != analysis.StatusSkipped {
			detail = strings.TrimSpace(fmt.Sprintf("%s %g/%g, stable %g/%g, p %.3g %s", track, t.CanaryEvents, t.CanaryRequests,
				t.StableEvents, t.StableRequests, t.PValue, detail))
		}
		fmt.Fprintf(w, "  %s\t%s %s\n", t.Name, t.Status, detail)
	}
}

func verdictOf(r promote.Rollout) (analysis.Verdict, bool) {
	var v analysis.Verdict
	if len(r.Verdict) == 0 || json.Unmarshal(r.Verdict, &v) != nil {
		return v, false
	}
	return v, true
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// watchLine is one line of promote rollout watch; last is the rollout's
// newest sample, nil before the first.
//
// A shadow rollout serves no user from its candidate: its line names the
// candidate's track "shadow" and says since when it mirrors, where a
// canary's has its step, its weight and a bar of the weight.
func watchLine(r promote.Rollout, last *promote.RolloutSample, bar bool) string {
	var b strings.Builder
	track := "canary"
	if r.Strategy == policy.StrategyShadow {
		track = "shadow"
		fmt.Fprintf(&b, "%s shadow, mirroring since %s UTC", r.State, r.StepStartedAt.UTC().Format(time.TimeOnly))
	} else {
		if bar {
			const width = 20
			n := int(r.Weight*width + 0.5)
			b.WriteString("[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "] ")
		}
		fmt.Fprintf(&b, "%s step %d weight %s", r.State, r.Step+1, percent(r.Weight))
	}
	if v, ok := verdictOf(r); ok {
		for _, t := range v.Tests {
			switch {
			case t.Name == analysis.TestErrorRate && t.CanaryRequests > 0:
				fmt.Fprintf(&b, " | %s %g req, %s errors | stable %g req, %s errors", track, t.CanaryRequests, rate(t.CanaryEvents, t.CanaryRequests),
					t.StableRequests, rate(t.StableEvents, t.StableRequests))
			case t.Name == analysis.TestLatency:
				if last != nil && last.Canary.LatencyP95 > 0 && last.Stable.LatencyP95 > 0 {
					fmt.Fprintf(&b, " | p95 %s %s, stable %s", track, millis(last.Canary.LatencyP95), millis(last.Stable.LatencyP95))
				}
				if t.LatencyThreshold > 0 {
					fmt.Fprintf(&b, " | slower than %gs: %s %s, stable %s", t.LatencyThreshold, track, rate(t.CanaryEvents, t.CanaryRequests),
						rate(t.StableEvents, t.StableRequests))
				}
			}
		}
		fmt.Fprintf(&b, " | %s", v.Decision)
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, " | %s", r.Reason)
	}
	return b.String()
}

// millis writes seconds as milliseconds, to three significant digits.
func millis(s float64) string { return fmt.Sprintf("%.3g ms", s*1000) }

func rate(events, requests float64) string {
	if requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*events/requests)
}

// watchRollout follows a rollout until it ends; a rolled-back one is exit
// code 1.
func watchRollout(ctx context.Context, c *httpapi.Client, id string, every time.Duration, w io.Writer, tty bool) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := ""
	for {
		r, err := c.Rollout(ctx, id)
		if err != nil {
			return clientError(err)
		}
		samples, err := c.RolloutSamples(ctx, id, 1)
		if err != nil {
			return clientError(err)
		}
		var newest *promote.RolloutSample
		if len(samples) > 0 {
			newest = &samples[len(samples)-1]
		}
		line := watchLine(r, newest, tty)
		switch {
		case tty:
			fmt.Fprintf(w, "\r\033[K%s", line)
		case line != last:
			fmt.Fprintln(w, line)
		}
		last = line
		if !r.State.Active() {
			if tty {
				fmt.Fprintln(w)
			}
			if r.State == promote.RolloutRolledBack {
				return &exitError{code: ExitBlocked, err: fmt.Errorf("rolled back: %s", r.Reason)}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
