package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/rollout"
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
approver's token (the approver role; no group is asked for), and each is recorded in the
audit log with its reason.`,
	}
	f := addClientFlags(cmd)
	var filter promote.RolloutFilter
	list := &cobra.Command{
		Use: "list", Short: "List rollouts, newest first (--active for running and paused ones)", Args: cobra.NoArgs,
		Long: `List the rollouts that match the filters, newest (the last started) first: at most
--limit of them (100 by default). SEQ is each rollout's cursor: --before SEQ lists the page
older than it (the SEQ of a page's last row gives the next page), --after SEQ the page just
newer.`,
		Example: `  promote rollout list --active
  promote rollout list --model credit-risk --env prod
  promote rollout list --model credit-risk --limit 20 --before 87`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPage(cmd, filter.Limit, filter.BeforeSeq, filter.AfterSeq); err != nil {
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			rs, err := c.Rollouts(cmd.Context(), filter)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, rs, func(tw *table) {
				row(tw, "SEQ", "PROMOTION", "MODEL", "VERSION", "ENVIRONMENT", "STABLE", "STATE", "STEP", "WEIGHT", "UPDATED", "REASON")
				for _, r := range rs {
					reason := r.Reason
					if p, ok := rollout.Progress(r, time.Time{}); ok && p.Person {
						reason = p.PersonWords()
					}
					row(tw, fmt.Sprint(r.Seq), r.PromotionID, r.Model, r.Version, r.Environment, r.Stable, string(r.State), fmt.Sprint(r.Step+1),
						percent(r.Weight), when(r.UpdatedAt), reason)
				}
			})
		},
	}
	list.Flags().StringVar(&filter.Model, "model", "", "only this model")
	list.Flags().StringVar(&filter.Environment, "env", "", "only this environment")
	list.Flags().BoolVar(&filter.ActiveOnly, "active", false, "only running and paused rollouts")
	addPageFlags(list, "rollouts", "SEQ", &filter.BeforeSeq, &filter.AfterSeq, &filter.Limit)
	_ = list.RegisterFlagCompletionFunc("model", f.completeFlag(modelNames))
	_ = list.RegisterFlagCompletionFunc("env", f.completeFlag(environmentNames))
	show := &cobra.Command{
		Use: "show PROMOTION", Short: "Show a rollout and the analysis's last verdict", Args: cobra.ExactArgs(1),
		Example: `  promote rollout show pr_1a2b3c4d5e6f7a8b
  promote rollout show pr_1a2b3c4d5e6f7a8b -o json | jq .weight`,
		ValidArgsFunction: f.completeArgs(rolloutIDs(true, nil)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			r, err := showRollout(cmd.Context(), c, args[0])
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, r, func(tw *table) { describeRollout(tw, r, time.Now()) })
		},
	}
	var every time.Duration
	watch := &cobra.Command{
		Use:   "watch PROMOTION",
		Short: "Follow a rollout live: step, weight, canary against stable, the decision",
		Long: `Follow a rollout until it ends: its step and weight; the canary's and stable's requests
and error rates; their 95th percentile latency over the last sample (about 5 s), and the
share of requests slower than the latency test's threshold; and the analysis's decision.
In a terminal one line is redrawn with a progress bar, fitted to the terminal's width (the
details go first, the last first); otherwise a plain line is printed at each change. Run
at once after "promote approve", it waits for the rollout to start (the promotion's commit);
a server it cannot reach is read again for up to a minute. Exits 0 when the rollout succeeds,
1 when it is rolled back, 130 when interrupted (Ctrl-C) before either; an unknown promotion,
or one that ended without a rollout, is bad input (exit 2).

With -o json, it writes JSON Lines for scripts instead: at each change of the rollout, the
object "promote rollout show -o json" prints, on one line, the last one the rollout as it
ended; what it waits for (the rollout's start, a server it cannot reach) goes to stderr.`,
		Example: `  promote approve pr_1a2b3c4d5e6f7a8b && promote rollout watch pr_1a2b3c4d5e6f7a8b
  promote rollout watch pr_1a2b3c4d5e6f7a8b -o json | jq -r '"\(.state) \(.weight)"'`,
		Args: cobra.ExactArgs(1),
		// A rollout that has not started yet is its promotion's, committed
		// or approved: watch waits for it.
		ValidArgsFunction: f.completeArgs(rolloutIDs(true, nil)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if every <= 0 {
				return usageErrorf("--every %s: want a positive duration", every)
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			var v watchView = &jsonView{w: s.out, notes: s.err}
			if f.output != "json" {
				lv := &lineView{w: s.out}
				if redraws(s.out) {
					lv.width = terminalWidth(s.out)
				}
				v = lv
			}
			return watchRollout(cmd.Context(), c, args[0], every, watchOutage, v)
		},
	}
	watch.Flags().DurationVar(&every, "every", time.Second, "how often to read the rollout")
	cmd.AddCommand(list, show, watch)
	for _, op := range []struct {
		verb, short, long string
		applies           func(promote.Rollout) bool // the rollouts completed first; nil: any active one
		example           string                     // a reason
	}{
		{"pause", "Hold a running rollout at its step and weight",
			"The candidate keeps its share of traffic (a shadow stops mirroring until it is resumed); the\nrollout neither advances nor rolls back until \"promote rollout resume\". The analysis keeps\nits evidence.",
			func(r promote.Rollout) bool { return r.State == promote.RolloutRunning }, "latency looks odd; a closer look first"},
		{"resume", "Continue a paused rollout at its step, or move on one that waits for a person",
			"The step's minimum time and requests count again from now. A rollout the analysis had failed\n(with automatic rollback off) starts its analysis afresh: the person resuming overrides it.\n\n" +
				"A running rollout that waits for a person (a step with confirm: true that has served its\nminimum time and requests) moves on to its next step at once, or, at its last step, takes all\ntraffic and succeeds; the analysis keeps its evidence.",
			func(r promote.Rollout) bool { return r.State == promote.RolloutPaused || r.WaitsForPerson() }, "latency explained by a cold cache"},
		{"abort", "Roll the rollout back now: traffic to stable, live alias back, version held, Git commit",
			"The candidate's traffic goes to 0 at once; the environment's live version returns to the\nstable one, the candidate is put on hold there, and the rollback is committed to Git.", nil, "complaints from the loans team"},
		{"promote", "Give the candidate all traffic now and end the rollout as a success",
			"Skips the remaining steps and the analysis: the candidate takes all traffic at once and the\nrollout and its promotion succeed.", nil, "needed for the quarter's close; risk signed off"},
	} {
		var req httpapi.RolloutOpRequest
		sub := &cobra.Command{
			Use: op.verb + " PROMOTION", Short: op.short, Args: cobra.ExactArgs(1),
			Long: op.short + ".\n\n" + op.long + "\n\nWith --revision, the " + op.verb + " is refused (exit 1, nothing changed) when the rollout has\n" +
				"moved on from that revision (a step, a wait for a person, another person's operation):\n" +
				"give the revision \"promote rollout show\" printed when the decision was made.\n\n" +
				"Needs an approver's token; recorded in the audit log.",
			Example: fmt.Sprintf("  promote rollout %s pr_1a2b3c4d5e6f7a8b --reason %q\n", op.verb, op.example) +
				fmt.Sprintf("  promote rollout %s pr_1a2b3c4d5e6f7a8b --revision \"$(promote rollout show pr_1a2b3c4d5e6f7a8b -o json | jq .revision)\"", op.verb),
			ValidArgsFunction: f.completeArgs(rolloutIDs(false, op.applies)),
			RunE: func(cmd *cobra.Command, args []string) error {
				if req.Revision < 0 {
					return usageErrorf("--revision %d: want the rollout's revision the %s was decided on (promote rollout show), a positive number", req.Revision, op.verb)
				}
				c, err := f.client()
				if err != nil {
					return err
				}
				r, err := c.RolloutOp(cmd.Context(), args[0], op.verb, req)
				if err != nil {
					return clientError(err)
				}
				return f.render(s.out, r, func(tw *table) { describeRollout(tw, r, time.Now()) })
			},
		}
		sub.Flags().StringVar(&req.Reason, "reason", "", "why (recorded in the audit log)")
		sub.Flags().Int64Var(&req.Revision, "revision", 0, "only if the rollout is still at this revision (promote rollout show); refused, nothing changed, if it has moved on")
		cmd.AddCommand(sub)
	}
	return cmd
}

func percent(w float64) string { return fmt.Sprintf("%g%%", w*100) }

// describeRollout writes a rollout and its verdict for people, and the
// progress of a canary's step as of now.
func describeRollout(w io.Writer, r promote.Rollout, now time.Time) {
	fmt.Fprintf(w, "Rollout\t%s %s in %s (promotion %s)\n", r.Model, r.Version, r.Environment, r.PromotionID)
	if r.Stable == "" {
		fmt.Fprintf(w, "Strategy\t%s (no stable version: the first version in %s)\n", r.Strategy, r.Environment)
	} else {
		fmt.Fprintf(w, "Strategy\t%s against stable %s\n", r.Strategy, r.Stable)
	}
	fmt.Fprintf(w, "State\t%s\n", r.State)
	fmt.Fprintf(w, "Revision\t%d\n", r.Revision)
	track := "canary"
	if r.Strategy == policy.StrategyShadow {
		track = "shadow"
		fmt.Fprintf(w, "Mirroring\tsince %s (the candidate answers no user)\n", when(r.StepStartedAt))
	} else {
		fmt.Fprintf(w, "Step\t%s, weight %s since %s\n", rollout.StepWords(r), percent(r.Weight), when(r.StepStartedAt))
		if p := stepProgress(r, now, "requests"); p != "" {
			fmt.Fprintf(w, "Progress\t%s\n", p)
		}
		if r.WaitsForPerson() {
			fmt.Fprintf(w, "Waiting for\ta person: %s\n", goWords(r))
		}
	}
	if r.Reason != "" {
		fmt.Fprintf(w, "Reason\t%s\n", r.Reason)
	}
	if does := resumeWords(r); does != "" {
		fmt.Fprintf(w, "Resume\t%s\n", does)
	}
	v, ok := verdictOf(r)
	if !ok {
		return
	}
	fmt.Fprintf(w, "Decision\t%s %s\n", v.Decision, v.Reason)
	for _, t := range v.Tests {
		detail := t.Detail
		switch {
		case t.PastBound > 0 && t.Status != analysis.StatusSkipped:
			// A history test judges the canary against stable's past,
			// not against stable now.
			detail = strings.TrimSpace(fmt.Sprintf("%s %g/%g against stable's past %s (bound %s), p %.3g %s", track, t.CanaryEvents, t.CanaryRequests,
				pastPercent(t.PastRate), pastPercent(t.PastBound), t.PValue, detail))
		case t.Sequential && t.Status != analysis.StatusSkipped:
			detail = strings.TrimSpace(fmt.Sprintf("%s %g/%g, stable %g/%g, p %.3g %s", track, t.CanaryEvents, t.CanaryRequests,
				t.StableEvents, t.StableRequests, t.PValue, detail))
		case detail == "" && t.Status == analysis.StatusOK:
			// A guard that holds has no words of its own: only the
			// canary's counts enter it.
			detail = fmt.Sprintf("%s %g/%g, p %.3g", track, t.CanaryEvents, t.CanaryRequests, t.PValue)
		}
		fmt.Fprintf(w, "  %s\t%s %s\n", t.Name, t.Status, detail)
	}
}

// goWords says what a person's go does to r, a canary that waits for
// them: as the server's rollout controller says (r.Next), by the plan it
// carries r on with, else by the count of steps stored with r.
func goWords(r promote.Rollout) string {
	if refused := refusedWords(r); refused != "" {
		return refused
	}
	next := "the next step"
	switch n := r.Next; {
	case rollout.GoEnds(r):
		next = "all traffic and success"
	case n != nil:
		next = fmt.Sprintf("step %d at %d%%", n.Step+1, n.Weight)
	}
	return fmt.Sprintf("promote rollout resume %s moves it on to %s; the analysis still judges it", r.PromotionID, next)
}

// resumeWords says what a person's resumption does to r, a paused
// rollout, as the server's rollout controller says (r.Next): where it
// puts the rollout, by the plan the controller carries it on with, or
// that it refuses it and why, as it refuses a go on a rollout waiting for
// a person; for a paused shadow, that it mirrors again; empty when r is
// not paused or the server does not say.
func resumeWords(r promote.Rollout) string {
	if r.State != promote.RolloutPaused {
		return ""
	}
	if refused := refusedWords(r); refused != "" {
		return refused
	}
	if at := rollout.ResumeWords(r); at != "" {
		return fmt.Sprintf("promote rollout resume %s runs it again at %s; the step's minimum time and requests count again", r.PromotionID, at)
	}
	if r.Strategy == policy.StrategyShadow {
		// A shadow has no steps: its resumption mirrors again, as the
		// promotion page says beside its Resume button.
		return fmt.Sprintf("promote rollout resume %s mirrors requests to the candidate again; the shadow's duration counts again", r.PromotionID)
	}
	return ""
}

// refusedWords says that the server's rollout controller refuses a
// resumption of r, a rollout that waits for a person or is paused, and
// why (r.Next's Refused); empty when it does not say so.
func refusedWords(r promote.Rollout) string {
	if n := r.Next; n != nil && n.Refused != "" {
		return fmt.Sprintf("promote rollout resume %s is refused: %s", r.PromotionID, n.Refused)
	}
	return ""
}

// stepProgress says how far an active canary's step has come towards the
// next, as of now ("6 of 100 requests, 2m10s of 5m"), or that it has
// lasted its minimum time and waits for requests ("waiting for requests: 6
// of 100 after 5m"); empty when the rollout does not say what the step
// needs (a shadow, a rollout that ended, one the controller has not judged
// yet), or that it has served its minimums and waits for a person
// ("waiting for a person at 50%"). A paused step's minimums count again from its resumption: it
// says what they are ("needs 100 requests and 5m from its resumption"). With a zero now (a watch printing plain lines, where
// a time that changes at every read would print a line each time), the
// time is when the minimum time ends. unit names the requests counted.
func stepProgress(r promote.Rollout, now time.Time, unit string) string {
	p, ok := rollout.Progress(r, now)
	if !ok {
		return ""
	}
	if p.Person {
		return p.PersonWords()
	}
	if !p.Running {
		return p.PausedWords(unit)
	}
	requests := fmt.Sprintf("%s of %d", strconv.FormatFloat(p.Requests, 'f', -1, 64), p.MinRequests)
	if p.Waiting {
		return fmt.Sprintf("waiting for requests: %s after %s", requests, rollout.ShortDuration(p.MinDuration))
	}
	var counted string // nothing when the step needs no requests
	if p.MinRequests > 0 {
		counted = requests + " " + unit
	}
	if !p.Timed {
		return counted
	}
	timed := fmt.Sprintf("%s of %s", rollout.ShortDuration(p.Elapsed), rollout.ShortDuration(p.MinDuration))
	if now.IsZero() {
		timed = fmt.Sprintf("%s until %s", rollout.ShortDuration(p.MinDuration), clockUTC(r.StepStartedAt.Add(p.MinDuration)))
	}
	if counted == "" {
		return timed
	}
	return counted + ", " + timed
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

// redraws reports whether w is a terminal where a line can be redrawn in
// place: not a file or a pipe, nor a terminal that says it has no cursor
// control (TERM=dumb: Emacs' shell, some CI consoles), where the control
// sequences would show as they are.
func redraws(w io.Writer) bool { return isTerminal(w) && getenv("TERM") != "dumb" }

// terminalWidth returns a function that reads the width of the terminal w
// is, in columns, at each call, so that a redraw follows a resized window;
// without one (a terminal that reports no size, as some pseudo-terminals
// do), $COLUMNS, else 80.
func terminalWidth(w io.Writer) func() int {
	return func() int {
		if f, ok := w.(*os.File); ok {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
				return cols
			}
		}
		if n, err := strconv.Atoi(getenv("COLUMNS")); err == nil && n > 0 {
			return n
		}
		return 80
	}
}

// watchFields are the fields of a line of promote rollout watch: its bar
// (in a terminal, for a canary), its head (the state, the step and the
// weight), the details (the step's progress, then what compares the
// candidate with stable), and its tail (a step's wait for requests, the
// analysis's decision, the rollout's reason).
type watchFields struct {
	bar, head     string
	details, tail []string
}

// line joins the fields, the bar if withBar, and the first details.
func (f watchFields) line(withBar bool, details int) string {
	head := f.head
	if withBar && f.bar != "" {
		head = f.bar + " " + head
	}
	return strings.Join(slices.Concat([]string{head}, f.details[:details], f.tail), " | ")
}

// String returns the whole line.
func (f watchFields) String() string { return f.line(true, len(f.details)) }

// fit returns the line in fewer than width columns, to be redrawn in
// place: a line as wide as the terminal or wider wraps, and the carriage
// return that starts a redraw goes back to its last row only, leaving the
// rows above it on the screen at every redraw. The details go first, the
// last first, and the bar before a detail, so that the step, the weight
// and the decision stay; a line still too wide is cut.
func (f watchFields) fit(width int) string {
	room := width - 1
	for n := len(f.details); n >= 0; n-- {
		for _, withBar := range []bool{true, false} {
			if l := f.line(withBar, n); utf8.RuneCountInString(l) <= room {
				return l
			}
		}
	}
	if room < 1 {
		return ""
	}
	return string([]rune(f.line(false, 0))[:room-1]) + "…"
}

// watchLine is one line of promote rollout watch; last is the rollout's
// newest sample, nil before the first, and now the time of a redrawn line
// (zero for plain lines: stepProgress).
func watchLine(r promote.Rollout, last *promote.RolloutSample, bar bool, now time.Time) string {
	return watchFieldsOf(r, last, bar, now).String()
}

// watchFieldsOf returns the fields of a rollout's watch line; last is the
// rollout's newest sample, nil before the first, and now the time of a
// redrawn line (zero for plain lines: stepProgress).
//
// A canary's step progress is the first detail, the last to go in a narrow
// terminal; a step waiting for requests past its minimum time says so in
// the tail instead, which stays.
//
// A shadow rollout serves no user from its candidate: its line names the
// candidate's track "shadow" and says since when it mirrors, where a
// canary's has its step, its weight and a bar of the weight.
func watchFieldsOf(r promote.Rollout, last *promote.RolloutSample, bar bool, now time.Time) watchFields {
	var f watchFields
	track := "canary"
	if r.Strategy == policy.StrategyShadow {
		track = "shadow"
		f.head = fmt.Sprintf("%s shadow, mirroring since %s", r.State, clockUTC(r.StepStartedAt))
	} else {
		if bar {
			const width = 20
			n := int(r.Weight*width + 0.5)
			f.bar = "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
		}
		f.head = fmt.Sprintf("%s step %s weight %s", r.State, rollout.StepWords(r), percent(r.Weight))
		if p := stepProgress(r, now, "req"); p != "" && (r.StepNeeds.WaitingForRequests || r.StepNeeds.WaitingForPerson) && r.State == promote.RolloutRunning {
			f.tail = append(f.tail, p)
		} else if p != "" {
			f.details = append(f.details, "step "+p)
		}
	}
	if v, ok := verdictOf(r); ok {
		for _, t := range v.Tests {
			switch {
			case t.Name == analysis.TestErrorRate && t.CanaryRequests > 0:
				// One detail: the canary's errors mean little without stable's.
				f.details = append(f.details, fmt.Sprintf("%s %g req, %s errors | stable %g req, %s errors", track, t.CanaryRequests,
					rate(t.CanaryEvents, t.CanaryRequests), t.StableRequests, rate(t.StableEvents, t.StableRequests)))
			case t.Name == analysis.TestHistoryErrorRate && t.PastBound > 0 && t.CanaryRequests > 0:
				f.details = append(f.details, fmt.Sprintf("%s errors %s | stable's past %s, bound %s", track,
					rate(t.CanaryEvents, t.CanaryRequests), pastPercent(t.PastRate), pastPercent(t.PastBound)))
			case t.Name == analysis.TestLatency:
				if last != nil && last.Canary.LatencyP95 > 0 && last.Stable.LatencyP95 > 0 {
					f.details = append(f.details, fmt.Sprintf("p95 %s %s, stable %s", track, millis(last.Canary.LatencyP95), millis(last.Stable.LatencyP95)))
				}
				if t.LatencyThreshold > 0 {
					f.details = append(f.details, fmt.Sprintf("slower than %gs: %s %s, stable %s", t.LatencyThreshold, track, rate(t.CanaryEvents, t.CanaryRequests),
						rate(t.StableEvents, t.StableRequests)))
				}
			}
		}
		f.tail = append(f.tail, string(v.Decision))
	}
	if r.Reason != "" {
		// A person's words (a pause's reason) on a line redrawn with
		// escape sequences of its own: its control characters are shown,
		// not sent (cellText), and a line break would break the redraw.
		f.tail = append(f.tail, cellText(r.Reason))
	}
	return f
}

// millis writes seconds as milliseconds, to three significant digits.
func millis(s float64) string { return fmt.Sprintf("%.3g ms", s*1000) }

// pastPercent writes a rate of stable's past (a history test's) as a
// percentage to three significant digits: past rates are small, and two
// decimals would round a 0.004% bound to 0.00%.
func pastPercent(r float64) string { return fmt.Sprintf("%.3g%%", 100*r) }

func rate(events, requests float64) string {
	if requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*events/requests)
}

// watchOutage is how long watch keeps reading a server it cannot reach
// (restarted, upgraded, failing over) before it gives up.
const watchOutage = time.Minute

// watchRollout follows a rollout until it ends, showing it with v; a
// rolled-back one is exit code 1. A server that cannot be reached for
// less than outage is read again.
func watchRollout(ctx context.Context, c *httpapi.Client, id string, every, outage time.Duration, v watchView) error {
	var unreachableSince time.Time
	// End what v shows, whatever ends the watch (the rollout's end,
	// Ctrl-C, a failed read).
	defer v.end()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		r, waiting, err := readRollout(ctx, c, id)
		var samples []promote.RolloutSample
		if err == nil && waiting == "" && v.samples() {
			samples, err = c.RolloutSamples(ctx, id, 1)
		}
		var ue *httpapi.UnreachableError
		switch {
		case errors.As(err, &ue) && ctx.Err() == nil:
			// Exit 1 would say the rollout was rolled back: a server
			// away for a moment is read again, and said to be away.
			now := time.Now()
			if unreachableSince.IsZero() {
				unreachableSince = now
			}
			if now.Sub(unreachableSince) >= outage {
				return clientError(err)
			}
			waiting = fmt.Sprintf("%v (since %s): reading again", err, clockUTC(unreachableSince))
		case err != nil:
			return clientError(err)
		default:
			unreachableSince = time.Time{}
		}
		if waiting != "" {
			if err := v.wait(waiting); err != nil {
				return err
			}
		} else {
			var newest *promote.RolloutSample
			if len(samples) > 0 {
				newest = &samples[len(samples)-1]
			}
			if err := v.show(r, newest); err != nil {
				return err
			}
			if !r.State.Active() {
				if r.State == promote.RolloutRolledBack {
					return &exitError{code: ExitBlocked, err: fmt.Errorf("rolled back: %s", r.Reason)}
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// watchView shows what watchRollout reads: a wait (for the rollout to
// start, or for a server that cannot be reached), and the rollout at each
// read, with its newest sample when the view asks for samples.
type watchView interface {
	samples() bool
	wait(msg string) error
	show(r promote.Rollout, newest *promote.RolloutSample) error
	end()
}

// lineView shows a watched rollout to people: with width, w is a
// terminal of that many columns, where one line is redrawn; without, a
// plain line is written at each change.
type lineView struct {
	w     io.Writer
	width func() int
	drawn bool   // a redrawn line is on the terminal
	last  string // the line written last
}

func (v *lineView) samples() bool { return true }

func (v *lineView) wait(msg string) error {
	switch {
	case v.width != nil:
		fmt.Fprintf(v.w, "\r\033[K%s", watchFields{head: msg}.fit(v.width()))
		v.drawn = true
	case msg != v.last:
		fmt.Fprintln(v.w, msg)
	}
	v.last = msg
	return nil
}

func (v *lineView) show(r promote.Rollout, newest *promote.RolloutSample) error {
	tty := v.width != nil
	var now time.Time
	if tty {
		now = time.Now()
	}
	fields := watchFieldsOf(r, newest, tty, now)
	line := fields.String()
	switch {
	case tty && r.State.Active():
		fmt.Fprintf(v.w, "\r\033[K%s", fields.fit(v.width()))
		v.drawn = true
	case tty:
		// The last line is never redrawn: it may wrap, whole.
		fmt.Fprintf(v.w, "\r\033[K%s", line)
		v.drawn = true
	case line != v.last:
		fmt.Fprintln(v.w, line)
	}
	v.last = line
	return nil
}

// end ends the redrawn line, so that what comes next, the shell's prompt
// or "promote: interrupted", starts a line.
func (v *lineView) end() {
	if v.drawn {
		fmt.Fprintln(v.w)
	}
}

// jsonView shows a watched rollout to scripts: at each change of it, the
// rollout on w as "promote rollout show -o json" prints it, one object a
// line (JSON Lines); what the watch waits for goes to notes, a plain line
// at each change, so that w holds nothing but the rollouts.
type jsonView struct {
	w, notes io.Writer
	last     []byte // the rollout written last, or the wait said last
}

func (v *jsonView) samples() bool { return false }

func (v *jsonView) wait(msg string) error {
	if string(v.last) != msg {
		fmt.Fprintln(v.notes, msg)
		v.last = []byte(msg)
	}
	return nil
}

func (v *jsonView) show(r promote.Rollout, _ *promote.RolloutSample) error {
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return err
	}
	if bytes.Equal(line.Bytes(), v.last) {
		return nil
	}
	v.last = line.Bytes()
	_, err := v.w.Write(line.Bytes())
	return err
}

func (v *jsonView) end() {}

// readRollout reads the rollout of the promotion id. A rollout starts a
// moment after its promotion is approved, once its commit lands: until
// then, waiting says what the promotion awaits. A promotion that has ended
// without a rollout is an Invalid error (bad input, exit 2), as one that
// does not exist is NotFound.
func readRollout(ctx context.Context, c *httpapi.Client, id string) (r promote.Rollout, waiting string, err error) {
	r, err = c.Rollout(ctx, id)
	if promote.ErrorCode(err) != promote.NotFound {
		return r, "", err
	}
	p, perr := c.Promotion(ctx, id)
	if perr != nil {
		return r, "", perr
	}
	if !p.State.Terminal() {
		return r, fmt.Sprintf("promotion %s is %s: waiting for its rollout to start", id, p.State), nil
	}
	// It may have rolled out, and ended, between the two reads.
	if r, err = c.Rollout(ctx, id); promote.ErrorCode(err) == promote.NotFound {
		msg := fmt.Sprintf("promotion %s is %s and has no rollout", id, p.State)
		if p.Reason != "" {
			msg += ": " + p.Reason
		}
		err = promote.Errorf(promote.Invalid, "%s", msg)
	}
	return r, "", err
}

// showRollout reads the rollout of the promotion id for promote rollout
// show. When there is none, the error says what the promotion is, as the
// server's refusal of an operation on it does (rollout.Absent): one whose
// rollout has not begun, or one that ended without a rollout; an unknown
// promotion stays NotFound.
func showRollout(ctx context.Context, c *httpapi.Client, id string) (promote.Rollout, error) {
	r, err := c.Rollout(ctx, id)
	if promote.ErrorCode(err) != promote.NotFound {
		return r, err
	}
	p, perr := c.Promotion(ctx, id)
	if perr != nil {
		return r, err
	}
	// It may have rolled out, and ended, between the two reads.
	if r, err = c.Rollout(ctx, id); promote.ErrorCode(err) == promote.NotFound {
		err = rollout.Absent(p.Promotion, "show")
	}
	return r, err
}

// clockUTC is t's time of day in UTC, saying so, as every time the CLI
// prints is in UTC.
func clockUTC(t time.Time) string { return t.UTC().Format(time.TimeOnly) + " UTC" }
