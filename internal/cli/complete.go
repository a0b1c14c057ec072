package cli

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/promote"
)

// completionTimeout bounds what a completion waits for the server: a shell
// waits for it at every TAB, and a server that is down or slow must not
// hang the prompt. Without an answer in time there are no candidates.
const completionTimeout = 2 * time.Second

// completionLimit is how many of the newest promotions, rollouts, events
// or deliveries a completion offers after the active ones.
const completionLimit = 50

// candidates lists what an argument or a flag's value may be, read from
// the server with c. args are the positional arguments typed so far, and
// cmd the command, whose flags hold what else was typed (--model). Each
// candidate is "value" or "value\tdescription", cobra's form, in the order
// a person should see them.
type candidates func(ctx context.Context, c *httpapi.Client, cmd *cobra.Command, args []string) ([]string, error)

// completeArgs completes a command's positional arguments: the Nth with
// lists[N] (nil: nothing to offer, e.g. a new name), none past the last.
func (f *clientFlags) completeArgs(lists ...candidates) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= len(lists) || lists[len(args)] == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f.ask(cmd, args, toComplete, lists[len(args)])
	}
}

// completeFlag completes a flag's value with list.
func (f *clientFlags) completeFlag(list candidates) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return f.ask(cmd, args, toComplete, list)
	}
}

// ask reads the candidates from the server named by the flags (or
// PROMOTE_SERVER and PROMOTE_TOKEN) and keeps those starting with
// toComplete. It never prompts and never waits past completionTimeout; on
// any error (no token, a server down, a token refused) it offers nothing,
// and says why on standard error alone, which shells discard: standard
// output carries candidates only (cobra's __complete protocol).
func (f *clientFlags) ask(cmd *cobra.Command, args []string, toComplete string, list candidates) ([]cobra.Completion, cobra.ShellCompDirective) {
	token := f.token
	if token == "" {
		token = getenv("PROMOTE_TOKEN")
	}
	if token == "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "promote: no token to complete with: pass --token or set PROMOTE_TOKEN")
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	c := httpapi.NewClient(f.server, token, &http.Client{Timeout: completionTimeout})
	all, err := list(ctx, c, cmd, args)
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "promote: no completions: %v\n", err)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	seen := map[string]bool{}
	for _, cand := range all {
		value, _, _ := strings.Cut(cand, "\t")
		if value == "" || seen[value] || !strings.HasPrefix(value, toComplete) {
			continue
		}
		seen[value] = true
		out = append(out, cand)
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

// describe makes a candidate with a description of one short line: a tab
// or a newline in it (a person's reason) would break the protocol, and
// the shell shows it, so its control characters are escapes (cellText).
func describe(value string, desc ...string) string {
	d := strings.Join(strings.Fields(cellText(strings.Join(desc, " "))), " ")
	if utf8.RuneCountInString(d) > 72 {
		d = string([]rune(d)[:71]) + "…"
	}
	if d == "" {
		return value
	}
	return value + "\t" + d
}

// fixedValues completes a flag with values known without a server.
func fixedValues[T ~string](values []T) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, v := range values {
			if strings.HasPrefix(string(v), toComplete) {
				out = append(out, string(v))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
}

// modelNames completes a model's name.
func modelNames(ctx context.Context, c *httpapi.Client, _ *cobra.Command, _ []string) ([]string, error) {
	ms, err := promote.ReadAll(func(m promote.Model) int64 { return m.Seq }, func(before int64, limit int) ([]promote.Model, error) {
		return c.Models(ctx, promote.ModelFilter{BeforeSeq: before, Limit: limit})
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, describe(m.Name, m.Description))
	}
	return out, nil
}

// versionsOf completes a version of the model that model names (from the
// arguments or a flag), newest first; nothing before a model is named.
func versionsOf(model func(cmd *cobra.Command, args []string) string) candidates {
	return func(ctx context.Context, c *httpapi.Client, cmd *cobra.Command, args []string) ([]string, error) {
		name := model(cmd, args)
		if name == "" {
			return nil, nil
		}
		vs, err := c.Versions(ctx, promote.VersionFilter{Model: name})
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, len(vs))
		for _, v := range vs {
			desc := "registered " + when(v.CreatedAt) + " by " + v.CreatedBy
			if v.Rejected {
				desc = "rejected: " + v.RejectReason
			}
			out = append(out, describe(v.Version, desc))
		}
		return out, nil
	}
}

// firstArg is the model named by a command's first argument.
func firstArg(_ *cobra.Command, args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// modelFlag is the model named by a command's --model flag.
func modelFlag(cmd *cobra.Command, _ []string) string {
	m, _ := cmd.Flags().GetString("model")
	return m
}

// versionsOfArg completes a version of the model typed as the first
// argument.
var versionsOfArg = versionsOf(firstArg)

// environmentNames completes an environment of the pipeline, in order.
func environmentNames(ctx context.Context, c *httpapi.Client, _ *cobra.Command, _ []string) ([]string, error) {
	envs, err := c.Environments(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(envs))
	for _, e := range envs {
		desc := "first"
		if e.From != "" {
			desc = "after " + e.From
		}
		if e.Strategy != "" {
			desc += ", " + e.Strategy
		}
		if e.Frozen {
			desc += ", frozen"
		}
		out = append(out, describe(e.Name, desc))
	}
	return out, nil
}

// promotionIDs completes a promotion's ID: those in states (any active
// one when states is empty) first, then, with recent, the newest others.
func promotionIDs(recent bool, states ...promote.State) candidates {
	return func(ctx context.Context, c *httpapi.Client, _ *cobra.Command, _ []string) ([]string, error) {
		ps, err := c.Promotions(ctx, promote.PromotionFilter{States: states, ActiveOnly: len(states) == 0})
		if err != nil {
			return nil, err
		}
		if recent {
			more, err := c.Promotions(ctx, promote.PromotionFilter{Limit: completionLimit})
			if err != nil {
				return nil, err
			}
			ps = append(ps, more...)
		}
		out := make([]string, 0, len(ps))
		for _, p := range ps {
			out = append(out, describe(p.ID, p.Model, p.Version, "→", p.Environment, stateWords(string(p.State))))
		}
		return out, nil
	}
}

// stateWords writes a state for people: "awaiting approval".
func stateWords(s string) string { return strings.ReplaceAll(s, "_", " ") }

// rolloutIDs completes a rollout's ID (its promotion's): the active ones
// an operation applies to (any active one when applies is nil) first,
// then, with recent, the newest others.
func rolloutIDs(recent bool, applies func(promote.Rollout) bool) candidates {
	return func(ctx context.Context, c *httpapi.Client, _ *cobra.Command, _ []string) ([]string, error) {
		rs, err := c.Rollouts(ctx, promote.RolloutFilter{ActiveOnly: true})
		if err != nil {
			return nil, err
		}
		if applies != nil {
			rs = slices.DeleteFunc(rs, func(r promote.Rollout) bool { return !applies(r) })
		}
		if recent {
			more, err := c.Rollouts(ctx, promote.RolloutFilter{Limit: completionLimit})
			if err != nil {
				return nil, err
			}
			rs = append(rs, more...)
		}
		out := make([]string, 0, len(rs))
		for _, r := range rs {
			desc := []string{r.Model, r.Version, "in", r.Environment, stateWords(string(r.State))}
			if r.State.Active() {
				desc = append(desc, "at", percent(r.Weight))
			}
			if r.WaitsForPerson() {
				desc = append(desc, "waiting for a person")
			}
			out = append(out, describe(r.PromotionID, desc...))
		}
		return out, nil
	}
}

// holdIDs completes the ID of a hold that stands.
func holdIDs(ctx context.Context, c *httpapi.Client, _ *cobra.Command, _ []string) ([]string, error) {
	hs, err := c.Holds(ctx, promote.HoldFilter{})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, describe(strconv.FormatInt(h.ID, 10), h.Model, h.Version, "in", h.Environment+":", h.Reason))
	}
	return out, nil
}

// tokenIDs completes an API token's ID (an admin's token lists them):
// with revoked, revoked ones too, after those in use.
func tokenIDs(revoked bool) candidates {
	return func(ctx context.Context, c *httpapi.Client, _ *cobra.Command, _ []string) ([]string, error) {
		ts, err := c.Tokens(ctx)
		if err != nil {
			return nil, err
		}
		var live, gone []string
		for _, t := range ts {
			if t.RevokedAt == nil {
				live = append(live, describe(t.ID, t.Name, "("+string(t.Role)+")"))
			} else if revoked {
				gone = append(gone, describe(t.ID, t.Name, "("+string(t.Role)+"), revoked"))
			}
		}
		return append(live, gone...), nil
	}
}

// failedDeliveryIDs completes the ID of a webhook delivery that failed for
// good, the one thing promote webhooks resend takes.
func failedDeliveryIDs(ctx context.Context, c *httpapi.Client, _ *cobra.Command, _ []string) ([]string, error) {
	ds, err := c.ListDeliveries(ctx, notify.DeliveryFilter{Status: notify.StatusFailed, Limit: completionLimit})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, describe(d.ID, d.EventType, "to", d.Endpoint+",", when(d.At)))
	}
	return out, nil
}

// endpointNames completes the name of a webhook endpoint that recent
// deliveries went to: the server lists no endpoints of its own.
func endpointNames(ctx context.Context, c *httpapi.Client, _ *cobra.Command, _ []string) ([]string, error) {
	ds, err := c.ListDeliveries(ctx, notify.DeliveryFilter{})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Endpoint)
	}
	return out, nil
}

// auditSeqs completes the sequence number of one of the newest audit
// events.
func auditSeqs(ctx context.Context, c *httpapi.Client, _ *cobra.Command, _ []string) ([]string, error) {
	evs, err := c.AuditEvents(ctx, promote.AuditFilter{Limit: completionLimit})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, describe(strconv.FormatInt(e.Seq, 10), e.Action, e.Model, e.Version, e.Environment, "by", e.Actor))
	}
	return out, nil
}
