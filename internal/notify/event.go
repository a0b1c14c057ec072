// Package notify delivers webhooks when promotions change: each event is
// POSTed to every endpoint that subscribes to it, signed with HMAC-SHA256 over
// a timestamp and the body, retried with capped exponential backoff, and every
// attempt is written to a delivery log. The receiver's side of the contract
// (Verify and ReplayGuard) lives here too, so that Promote's tests and anyone
// writing a receiver in Go use the same check; docs/webhooks.md describes it
// for other languages.
package notify

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/invisible"
	"github.com/promote-ml/promote/internal/textfit"
	"github.com/promote-ml/promote/promote"
)

// The event types a webhook can carry. They are part of the wire format:
// rename one only with a deprecation period.
const (
	TypePromotionRequested        = "promotion.requested"
	TypeGateFailed                = "gate.failed"
	TypePromotionAwaitingApproval = "promotion.awaiting_approval"
	TypePromotionApproved         = "promotion.approved"
	TypePromotionRejected         = "promotion.rejected"
	TypePromotionCancelled        = "promotion.cancelled"
	TypeGitOpsCommitted           = "gitops.committed"
	TypeGitOpsFailed              = "gitops.failed"
	TypeRolloutStep               = "rollout.step"
	TypeRolloutRolledBack         = "rollout.rolled_back"
	TypePromotionSucceeded        = "promotion.succeeded"
)

// EventTypes returns every known event type, in the order a promotion
// usually produces them.
func EventTypes() []string {
	return []string{
		TypePromotionRequested,
		TypeGateFailed,
		TypePromotionAwaitingApproval,
		TypePromotionApproved,
		TypePromotionRejected,
		TypePromotionCancelled,
		TypeGitOpsCommitted,
		TypeGitOpsFailed,
		TypeRolloutStep,
		TypeRolloutRolledBack,
		TypePromotionSucceeded,
	}
}

// KnownEventType reports whether t is one of EventTypes.
func KnownEventType(t string) bool {
	_, ok := eventVerbs(t)
	return ok
}

// eventVerbs maps an event type to the phrase a person reads in a chat
// message; it doubles as the set of known types.
func eventVerbs(t string) (string, bool) {
	switch t {
	case TypePromotionRequested:
		return "promotion requested", true
	case TypeGateFailed:
		return "gate failed", true
	case TypePromotionAwaitingApproval:
		return "awaiting approval", true
	case TypePromotionApproved:
		return "approved", true
	case TypePromotionRejected:
		return "rejected", true
	case TypePromotionCancelled:
		return "withdrawn", true
	case TypeGitOpsCommitted:
		return "committed to GitOps", true
	case TypeGitOpsFailed:
		return "GitOps delivery failed", true
	case TypeRolloutStep:
		return "rollout step", true
	case TypeRolloutRolledBack:
		return "rolled back", true
	case TypePromotionSucceeded:
		return "promotion succeeded", true
	}
	return "", false
}

// Event is one thing that happened to a promotion. Its JSON form is the body
// of a webhook in the "json" format.
type Event struct {
	// ID identifies the event; it is sent as Promote-Webhook-Id and stays the
	// same across retries so that receivers can deduplicate.
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Time        time.Time       `json:"time"`
	Model       string          `json:"model,omitempty"`
	Version     string          `json:"version,omitempty"`
	Environment string          `json:"environment,omitempty"`
	PromotionID string          `json:"promotion_id,omitempty"`
	Actor       string          `json:"actor,omitempty"`
	Summary     string          `json:"summary,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	// URL is the web UI's page where a person looks into the event and, for
	// a promotion awaiting approval, decides on it (PageURL); present when
	// the server knows the address people reach it at (promote serve
	// --external-url).
	URL string `json:"url,omitempty"`
	// Digest is the sha256 digest of the artifact the event concerns, the
	// one an approval binds to; present when the audit event records one.
	Digest string `json:"digest,omitempty"`
	// Note is the requester's note for the approvers, given with the
	// request: on a promotion.requested and a
	// promotion.awaiting_approval, when there is one.
	Note string `json:"note,omitempty"`
	// Approval is, on a promotion.awaiting_approval, what an approver
	// needs to decide without opening the page: the gate's counts, the
	// rules still failing and the approvals still needed.
	Approval *ApprovalRequest `json:"approval,omitempty"`
	// Rollout is, on a rollout.rolled_back that ended a rollout (the
	// controller's automatic rollback, or a person's abort), the rollout's
	// record: the rollback's own audit event names the version returned to
	// and its own ID, the rollout's names the candidate, its promotion and
	// the analysis's evidence.
	Rollout *RolloutRecord `json:"rollout,omitempty"`
}

// RolloutRecord is a rollout's record in the audit log, as a rollback's
// notification carries it: the rollout.step event written with the
// rollback, whose reasons hold the step, weight, reason and verdict.
type RolloutRecord struct {
	// PromotionID is the promotion whose rollout ended: promote rollout
	// show takes it.
	PromotionID string `json:"promotion_id"`
	// Version is the candidate rolled back.
	Version string `json:"version"`
	// Seq is the sequence number of the audit event holding the record.
	Seq int64 `json:"seq"`
	// Decision is rolled_back (the analysis, or the metric source, failed)
	// or aborted (by a person).
	Decision string `json:"decision"`
	// Step is the index of the step the rollout was at (0 is the first),
	// Weight the candidate's share of traffic after the rollback (0).
	Step   int     `json:"step"`
	Weight float64 `json:"weight"`
	// Reason is why the rollout ended, in words.
	Reason string `json:"reason,omitempty"`
	// Verdict is the canary analysis's last verdict, the evidence: each
	// test's status, counts, e-value, threshold and always-valid p-value
	// (package analysis, Verdict); absent when the analysis never judged.
	Verdict json.RawMessage `json:"verdict,omitempty"`
}

// ApprovalRequest is what a promotion awaiting approval asks of its
// approvers, as the gate decided it when the promotion began to wait: the
// gate's verdicts counted, the rules that still fail (normally only the
// approvals rule) and the approvals still needed. It holds no metrics:
// the page (Event.URL) and promote promotions show have every rule.
type ApprovalRequest struct {
	Gate      GateCounts    `json:"gate"`
	Failing   []FailingRule `json:"failing"`
	Approvals ApprovalCount `json:"approvals"`
}

// GateCounts counts a gate's rules by verdict: Failed counts the rules
// that failed or could not be judged (both block), Warnings the warn-only
// rules that failed.
type GateCounts struct {
	Passed   int `json:"passed"`
	Failed   int `json:"failed"`
	Warnings int `json:"warnings"`
}

// FailingRule is a rule that blocks the promotion, with the gate's
// message.
type FailingRule struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// ApprovalCount is where a promotion's approvals stand: Approved of
// Required distinct approvers as the policy counts them (roles, no
// self-approval), and ApprovedBy, who had approved, in order.
type ApprovalCount struct {
	Approved   int      `json:"approved"`
	Required   int      `json:"required"`
	ApprovedBy []string `json:"approved_by"`
}

// approvalRequest makes the ApprovalRequest of a gate's results
// (policy.Result by rule, of which it reads the rule, status, message
// and, on the approvals rule, how it counted: the policy's approval
// settings and the approvers counted); false when the results do not
// decode as such. Results recorded before the approvals rule said how it
// counted hold only its count (actual) and threshold (">= min"): for
// those, the required number is the threshold's and the approvers are
// approvals, the ones recorded by then.
func approvalRequest(results json.RawMessage, approvals []promote.Approval) (*ApprovalRequest, bool) {
	var rs []struct {
		Rule      string `json:"rule"`
		Kind      string `json:"kind"`
		Status    string `json:"status"`
		Message   string `json:"message"`
		Actual    any    `json:"actual"`
		Threshold string `json:"threshold"`
		Approvals *struct {
			Min     int      `json:"min"`
			Counted []string `json:"counted"`
		} `json:"approvals"`
	}
	if json.Unmarshal(results, &rs) != nil || len(rs) == 0 || rs[0].Rule == "" {
		return nil, false
	}
	req := &ApprovalRequest{Failing: []FailingRule{}, Approvals: ApprovalCount{ApprovedBy: []string{}}}
	tallied := false
	for _, r := range rs {
		switch r.Status {
		case "pass":
			req.Gate.Passed++
		case "warn":
			req.Gate.Warnings++
		case "fail", "error":
			req.Gate.Failed++
			req.Failing = append(req.Failing, FailingRule{Rule: r.Rule, Message: r.Message})
		}
		if r.Kind != "approvals" {
			continue
		}
		if t := r.Approvals; t != nil {
			req.Approvals.Approved, req.Approvals.Required = len(t.Counted), t.Min
			req.Approvals.ApprovedBy = append(req.Approvals.ApprovedBy, t.Counted...)
			tallied = true
			continue
		}
		// A result recorded before: ">= min", as the policy wrote it.
		if n, ok := r.Actual.(float64); ok {
			req.Approvals.Approved = int(n)
		}
		if op, m, ok := strings.Cut(strings.TrimSpace(r.Threshold), " "); ok && op == ">=" {
			req.Approvals.Required, _ = strconv.Atoi(m)
		}
	}
	for _, a := range approvals {
		if a.Approve && !tallied {
			req.Approvals.ApprovedBy = append(req.Approvals.ApprovedBy, a.Approver)
		}
	}
	return req, true
}

// waiting is what an approval that left its promotion waiting for more
// records: the approval as the notification's data (the roles the
// approver held and their comment) and the gate as it judged with it.
type waiting struct {
	data    json.RawMessage
	request *ApprovalRequest
}

// waitingApproval reads the reasons of a promotion.approval event: an
// approval that left the promotion waiting records the gate's results
// under "gate" beside the approver's roles and comment
// (promote.ApprovalRecord); false for one that did not.
func waitingApproval(reasons json.RawMessage) (waiting, bool) {
	var r promote.ApprovalRecord
	if json.Unmarshal(reasons, &r) != nil || len(r.Gate) == 0 {
		return waiting{}, false
	}
	req, ok := approvalRequest(r.Gate, nil)
	if !ok {
		return waiting{}, false
	}
	// The approval without the gate, which the request holds.
	data, err := json.Marshal(promote.ApprovalRecord{Roles: r.Roles, Comment: r.Comment})
	if err != nil {
		return waiting{}, false
	}
	return waiting{data: data, request: req}, true
}

// rolloutOf returns the record of the rollout that rollback (a
// live.rolled_back event) ended, when one did: the rollout.step event the
// registry writes in the same transaction (the same time, model and
// environment) right after it, among following, the events after it in
// the log, in order.
func rolloutOf(rollback promote.AuditEvent, following []promote.AuditEvent) (*RolloutRecord, bool) {
	for _, e := range following {
		if !e.Time.Equal(rollback.Time) {
			return nil, false
		}
		if e.Action != promote.ActionRolloutStep || e.Model != rollback.Model || e.Environment != rollback.Environment {
			continue
		}
		rec := RolloutRecord{PromotionID: e.PromotionID, Version: e.Version, Seq: e.Seq, Decision: e.Decision}
		var r struct {
			Step    int             `json:"step"`
			Weight  float64         `json:"weight"`
			Reason  string          `json:"reason"`
			Verdict json.RawMessage `json:"verdict"`
		}
		if json.Unmarshal(e.Reasons, &r) == nil {
			rec.Step, rec.Weight, rec.Reason, rec.Verdict = r.Step, r.Weight, r.Reason, r.Verdict
		}
		return &rec, true
	}
	return nil, false
}

// SlackText returns the one-line, human-readable summary of ev used by the
// Slack format, for example
// "fraud-detector v12 → production: gate failed (by alice): auc 0.81 < 0.85".
func SlackText(ev Event) string {
	var b strings.Builder
	subject := ev.Model
	if subject == "" {
		subject = "model"
	}
	b.WriteString(subject)
	if ev.Version != "" {
		b.WriteString(" ")
		if !strings.HasPrefix(ev.Version, "v") {
			b.WriteString("v")
		}
		b.WriteString(ev.Version)
	}
	if ev.Environment != "" {
		b.WriteString(" → ")
		b.WriteString(ev.Environment)
	}
	what, ok := eventVerbs(ev.Type)
	if !ok {
		what = ev.Type
	}
	b.WriteString(": ")
	b.WriteString(what)
	if ev.Actor != "" {
		fmt.Fprintf(&b, " (by %s)", ev.Actor)
	}
	if ev.Summary != "" {
		b.WriteString(": ")
		b.WriteString(ev.Summary)
	}
	// The requester's note for the approvers (promote request --note),
	// quoted and cut to one line's worth: the page has it whole.
	if ev.Note != "" {
		b.WriteString(` — note: "`)
		b.WriteString(textfit.Cut(ev.Note, slackNoteRunes))
		b.WriteString(`"`)
	}
	// Slack treats <, > and & as control characters in text.
	// https://api.slack.com/reference/surfaces/formatting#escaping
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\n", " ")
	// A bidirectional override or a zero-width character in a note or a
	// reason is shown as its code point, as the web UI shows it.
	text := r.Replace(invisible.RevealString(b.String()))
	// The promotion's ID is what promote promotions show, approve and
	// reject take; linked to its page when the server's address is known.
	// https://api.slack.com/reference/surfaces/formatting#linking-urls
	kind, id := pageOf(ev)
	switch {
	case ev.URL != "" && id != "":
		text += " · <" + r.Replace(ev.URL) + "|" + r.Replace(id) + ">"
	case ev.URL != "":
		text += " · <" + r.Replace(ev.URL) + ">"
	case kind == pagePromotions:
		text += " · " + r.Replace(id)
	}
	return text
}

// slackNoteRunes bounds the part of a request's note a Slack line quotes.
const slackNoteRunes = 200

// uiPrefix is where promote serve mounts the web UI (webui.Prefix), and
// the paths below it the pages PageURL links to.
const (
	uiPrefix       = "ui"
	pagePromotions = "promotions"
	pageModels     = "models"
)

// pageOf returns the web UI page that tells of ev — the kind
// (pagePromotions or pageModels) and its ID — or "" for none: the
// promotion's page; for a rollback, the page of the promotion whose
// rollout it ended, or the model's page when it ended none (a rollback's
// own rb_ ID has no page).
func pageOf(ev Event) (kind, id string) {
	switch {
	case ev.Type == TypeRolloutRolledBack && ev.Rollout != nil && ev.Rollout.PromotionID != "":
		return pagePromotions, ev.Rollout.PromotionID
	case ev.Type == TypeRolloutRolledBack && ev.Model != "":
		return pageModels, ev.Model
	case ev.Type != TypeRolloutRolledBack && ev.PromotionID != "":
		return pagePromotions, ev.PromotionID
	case ev.Model != "":
		return pageModels, ev.Model
	}
	return "", ""
}

// PageURL returns the address of the web UI's page that tells of ev
// (a promotion's, where it is approved or rejected), under base, the
// address people reach the server at; "" when base is empty or ev names
// no promotion or model. base must have passed CheckExternalURL.
func PageURL(base string, ev Event) string {
	kind, id := pageOf(ev)
	if base == "" || id == "" {
		return ""
	}
	u, err := url.JoinPath(base, uiPrefix, kind, id)
	if err != nil {
		return ""
	}
	return u
}

// CheckExternalURL reports what is wrong with s as the address people
// reach the server at, the base of the links notifications carry: it must
// be an absolute http or https URL with a host, and no user information,
// query or fragment (a link built on it would carry them along).
func CheckExternalURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		// Not s itself: with the "@" left out of https://user:pass@…,
		// the password is what url.Parse reads as the port.
		return fmt.Errorf("external URL does not parse: %s", parseProblem(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("external URL %q must be an absolute http or https URL, such as https://promote.example.com", s)
	case u.Host == "":
		return fmt.Errorf("external URL %q has no host", s)
	case u.User != nil:
		return fmt.Errorf("external URL %q may not carry user information", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		// Named without them: a query may hold a token.
		bare := *u
		bare.RawQuery, bare.ForceQuery, bare.Fragment, bare.RawFragment = "", false, "", ""
		return fmt.Errorf("external URL %q may not have a query or a fragment", bare.String())
	}
	return nil
}

// slackMessage is the body of a Slack incoming webhook
// (https://api.slack.com/messaging/webhooks); Mattermost, Rocket.Chat and
// Discord's /slack endpoint accept the same shape.
type slackMessage struct {
	Text string `json:"text"`
}

// Body returns the request body for ev in the given format ("json" or
// "slack"; "" means "json").
func Body(ev Event, format string) ([]byte, error) {
	switch format {
	case "", FormatJSON:
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", ev.ID, err)
		}
		return b, nil
	case FormatSlack:
		b, err := json.Marshal(slackMessage{Text: SlackText(ev)})
		if err != nil {
			return nil, fmt.Errorf("encode slack message for event %s: %w", ev.ID, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("encode event %s: unknown format %q", ev.ID, format)
}

// FromAudit maps an audit event onto the notification it makes, if any:
// the moments people want to hear about. The event's ID, "ev_" followed by
// the audit event's sequence number and the first 12 hex digits of its
// hash, is the same every time the audit event is read, so that a
// notification sent again (after a restart, or by a new leader) carries
// the ID the receiver has seen.
func FromAudit(e promote.AuditEvent) (Event, bool) {
	var typ string
	switch {
	case e.Action == promote.ActionPromotionRequested:
		typ = TypePromotionRequested
	case e.Action == promote.ActionPromotionState && e.Decision == string(promote.StateBlocked):
		typ = TypeGateFailed
	case e.Action == promote.ActionPromotionState && e.Decision == string(promote.StateAwaitingApproval):
		typ = TypePromotionAwaitingApproval
	case e.Action == promote.ActionPromotionState && e.Decision == string(promote.StateApproved):
		typ = TypePromotionApproved
	case e.Action == promote.ActionPromotionApproval && e.Decision == "rejected":
		typ = TypePromotionRejected
	case e.Action == promote.ActionPromotionApproval && e.Decision == "approved":
		// An approval that leaves the promotion short tells the
		// approvers still needed where it stands; the one that
		// completes the quorum is told by promotion.approved.
		a, ok := waitingApproval(e.Reasons)
		if !ok {
			return Event{}, false
		}
		ev := Event{ID: AuditEventID(e), Type: TypePromotionAwaitingApproval, Time: e.Time,
			Model: e.Model, Version: e.Version, Environment: e.Environment, PromotionID: e.PromotionID, Actor: e.Actor,
			Digest: e.Digest, Data: a.data, Approval: a.request}
		for _, f := range a.request.Failing {
			if f.Rule == "approvals" {
				ev.Summary = f.Message
			}
		}
		return ev, true
	case e.Action == promote.ActionPromotionState && e.Decision == string(promote.StateCancelled):
		typ = TypePromotionCancelled
	case e.Action == promote.ActionCommitted:
		typ = TypeGitOpsCommitted
	case e.Action == promote.ActionUndeliverable:
		typ = TypeGitOpsFailed
	case e.Action == promote.ActionRolloutStep && !endedByRollback(e.Decision):
		typ = TypeRolloutStep
	case e.Action == promote.ActionRolledBack:
		typ = TypeRolloutRolledBack
	case e.Action == promote.ActionPromotionState && e.Decision == string(promote.StateSucceeded):
		typ = TypePromotionSucceeded
	default:
		return Event{}, false
	}
	return Event{ID: AuditEventID(e), Type: typ, Time: e.Time,
		Model: e.Model, Version: e.Version, Environment: e.Environment, PromotionID: e.PromotionID, Actor: e.Actor,
		Digest: e.Digest, Summary: summaryOf(typ, e), Data: e.Reasons, Note: e.Note}, true
}

// summaryOf words what audit event e, a notification of type typ, adds to
// its type and its actor, each thing once: the type says what happened
// (the Slack line's "awaiting approval"), the actor who did it, and the
// summary the rest — the rules that blocked, the approvals so far, a
// rejection's reason. The event's decision is left out where the type
// says it already (blocked, awaiting_approval, approved, …), and so are
// the words of a reason that restate the type or the actor; a
// rollout.step's decision is the change (step 2: weight 50%, paused), so
// it stays.
func summaryOf(typ string, e promote.AuditEvent) string {
	why := audit.ReasonsText(e.Reasons)
	switch typ {
	case TypeRolloutStep:
		if why == "" {
			return e.Decision
		}
		return e.Decision + ": " + why
	case TypePromotionAwaitingApproval:
		// The registry's reason: "awaiting approval: 0 of 2 distinct
		// approvers (none)".
		why = strings.TrimPrefix(why, "awaiting approval: ")
		if why == "awaiting approval" {
			return ""
		}
	case TypePromotionApproved:
		// "approved by lena, omar", or that no approval was needed.
		if names, ok := strings.CutPrefix(why, "approved by "); ok {
			why = "approvers: " + names
		}
	case TypePromotionCancelled:
		// "cancelled by lena: …", "version rejected by lena: …": the
		// actor is lena already; "superseded by pr_… (version 3)" names
		// another promotion, and stays.
		if e.Actor != "" {
			for _, what := range []string{"cancelled", "version rejected"} {
				if rest, ok := strings.CutPrefix(why, what+" by "+e.Actor); ok {
					why = what + rest
					break
				}
			}
		}
	}
	return why
}

// endedByRollback reports whether a rollout.step event's decision is the
// record of a rollout's end that a rollback wrote in its transaction:
// rolled_back (the controller's, or a person's promote rollback) or aborted
// (a person's promote rollout abort). The rollback's own event is the
// notification (rollout.rolled_back, carrying this record as its
// rollout), so that one end is one notification.
func endedByRollback(decision string) bool {
	return decision == "rolled_back" || decision == "aborted"
}

// AuditEventID is the ID of the notification of audit event e: stable,
// since the sequence number and the hash of a stored event never change,
// and unique, since the hash chain gives every event its own hash.
func AuditEventID(e promote.AuditEvent) string {
	return fmt.Sprintf("ev_%d_%s", e.Seq, e.Hash[:min(12, len(e.Hash))])
}
