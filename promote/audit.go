package promote

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// AuditEvent is one entry of the append-only, hash-chained audit log: who
// did what to which model, version, environment and promotion, the decision
// and its reasons, and the live version in every environment at that moment.
type AuditEvent struct {
	Seq         int64     `json:"seq"`
	Time        time.Time `json:"time"`
	Actor       string    `json:"actor"`
	Action      string    `json:"action"`
	Model       string    `json:"model,omitempty"`
	Version     string    `json:"version,omitempty"`
	Environment string    `json:"environment,omitempty"`
	PromotionID string    `json:"promotion_id,omitempty"`
	// TokenID is the ID of the API token the actor acted with (Token.ID,
	// never its secret), through the API or a web UI session opened with
	// it; empty for what Promote did by itself (gitops, rollout), for the
	// command line's local admin, and in events recorded before it was
	// kept. It comes after the promotion so that a verifier that does not
	// know it still reads the copies it knows at their places.
	TokenID string `json:"token_id,omitempty"`
	Digest  string `json:"digest,omitempty"`
	// Decision is the outcome in a word: allowed, blocked, approved, rejected…
	Decision string `json:"decision,omitempty"`
	// Reasons are the gate's results or the person's stated reasons.
	Reasons   json.RawMessage `json:"reasons,omitempty"`
	Approvers []string        `json:"approvers,omitempty"`
	// Live maps each environment to the model's live version after the event.
	Live map[string]string `json:"live,omitempty"`
	// Policy is the policy that made the gate's decision the event
	// records, on the promotion states the gate decides; nil elsewhere,
	// and on events recorded before Promote kept it.
	Policy *AuditPolicy `json:"policy,omitempty"`
	// Metrics identifies the evidence the gate judged, on the same
	// events as Policy: the digests of the candidate's metrics and of the
	// baseline's (MetricsDigest); nil elsewhere, and on events recorded
	// before Promote kept it.
	Metrics *AuditMetrics `json:"metrics,omitempty"`
	// Note is, on a promotion.requested, the requester's note for the
	// approvers; empty elsewhere, and on events recorded before Promote
	// kept it.
	Note string `json:"note,omitempty"`
	// PrevHash and Hash chain the events: see ChainHash.
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// AuditPolicy names the policy file a gate was compiled from, as the
// pipeline names it, and the sha256 of its bytes: the very version of the
// policy that decided, which the file's history alone cannot tell.
type AuditPolicy struct {
	File   string `json:"file"`
	Name   string `json:"name,omitempty"`
	Digest string `json:"digest"`
}

// AuditMetrics identifies the evidence a gate judged by its digests
// (MetricsDigest): the candidate's, and the baseline's when there was a
// baseline. A metrics file's digest, computed the same way, shows whether
// the file holds the metrics that were judged.
type AuditMetrics struct {
	Candidate string `json:"candidate"`
	Baseline  string `json:"baseline,omitempty"`
}

// ApprovalRecord is the reasons of a promotion.approval event
// (docs/audit.md): the roles the person held when deciding and their
// comment (on a rejection, the reason) and, for an approval that leaves
// the promotion waiting for more, Gate, the gate's results as it judged
// with that approval (a JSON array of the gate's result objects; empty
// otherwise), of which the notification to the approvers still needed is
// made.
type ApprovalRecord struct {
	Roles   []string        `json:"roles"`
	Comment string          `json:"comment,omitempty"`
	Gate    json.RawMessage `json:"gate,omitempty"`
}

// The audit actions.
const (
	ActionModelCreated       = "model.created"
	ActionVersionRegistered  = "version.registered"
	ActionVersionRejected    = "version.rejected"
	ActionPromotionRequested = "promotion.requested"
	ActionPromotionGated     = "promotion.gated"
	ActionPromotionApproval  = "promotion.approval"
	ActionPromotionState     = "promotion.state"
	ActionLiveChanged        = "live.changed"
	ActionRolledBack         = "live.rolled_back"
	ActionCommitted          = "gitops.committed"
	ActionUndeliverable      = "gitops.failed"
	ActionRolloutStarted     = "rollout.started"
	ActionRolloutStep        = "rollout.step"
	ActionRolloutFinished    = "rollout.finished"
	ActionHoldSet            = "hold.set"
	ActionHoldCleared        = "hold.cleared"
	ActionFreezeOverride     = "freeze.override"
	ActionTokenCreated       = "token.created"
	ActionTokenRevoked       = "token.revoked"
	ActionWebhookResent      = "webhook.resent"
)

// AuditActions are the actions Promote writes, in the order of the docs'
// table (docs/audit.md). ActionPromotionGated is not among them: the gate's
// results are recorded on promotion.state, with the decision gated or
// blocked.
var AuditActions = []string{
	ActionModelCreated, ActionVersionRegistered, ActionVersionRejected, ActionPromotionRequested,
	ActionFreezeOverride, ActionPromotionState, ActionPromotionApproval, ActionLiveChanged, ActionRolledBack,
	ActionCommitted, ActionUndeliverable, ActionRolloutStarted, ActionRolloutStep, ActionRolloutFinished,
	ActionHoldSet, ActionHoldCleared, ActionTokenCreated, ActionTokenRevoked, ActionWebhookResent,
}

// GenesisHash is the PrevHash of the first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Body returns the canonical encoding of e that its hash covers: the JSON
// encoding of every field but PrevHash and Hash, in the declared field
// order, with map keys sorted, times in RFC 3339 with nanoseconds in UTC
// and no insignificant white space. Stores keep these exact bytes, so a
// verifier needs no knowledge of the encoding: it hashes what it reads.
func (e *AuditEvent) Body() ([]byte, error) {
	c := *e
	c.PrevHash, c.Hash = "", ""
	c.Time = c.Time.UTC()
	type body struct {
		Seq         int64             `json:"seq"`
		Time        time.Time         `json:"time"`
		Actor       string            `json:"actor"`
		Action      string            `json:"action"`
		Model       string            `json:"model,omitempty"`
		Version     string            `json:"version,omitempty"`
		Environment string            `json:"environment,omitempty"`
		PromotionID string            `json:"promotion_id,omitempty"`
		TokenID     string            `json:"token_id,omitempty"`
		Digest      string            `json:"digest,omitempty"`
		Decision    string            `json:"decision,omitempty"`
		Reasons     json.RawMessage   `json:"reasons,omitempty"`
		Approvers   []string          `json:"approvers,omitempty"`
		Live        map[string]string `json:"live,omitempty"`
		// Added last, and left out when nil: the bodies of events
		// recorded before it are unchanged, and verify as they did.
		Policy *AuditPolicy `json:"policy,omitempty"`
		// Added after policy, for the same reason.
		Metrics *AuditMetrics `json:"metrics,omitempty"`
		// Added after metrics, for the same reason.
		Note string `json:"note,omitempty"`
	}
	return json.Marshal(body{c.Seq, c.Time, c.Actor, c.Action, c.Model, c.Version, c.Environment,
		c.PromotionID, c.TokenID, c.Digest, c.Decision, c.Reasons, c.Approvers, c.Live, c.Policy, c.Metrics, c.Note})
}

// ChainHash is the hash of an event: the lower-case hex SHA-256 of the
// previous event's hash (hex), a newline, and the event's body. The first
// event's previous hash is GenesisHash.
func ChainHash(prevHash string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write([]byte{'\n'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// AuditRecord is an event as stored: its sequence number, the hashes, and
// the exact body bytes the hash covers.
type AuditRecord struct {
	Seq      int64
	PrevHash string
	Hash     string
	Body     []byte
	// Columns are the copies of the body's fields that a store keeps beside
	// it for filtering, or nil where there are none (an export). The
	// hash does not cover them, and a filtered list reads them instead of
	// the body, so a verifier checks that they agree with the body.
	Columns *AuditColumns
}

// AuditColumns are the fields of an event that a store copies out of its
// body into indexed columns, for AuditFilter.
type AuditColumns struct {
	// Time is the event's time, in UTC as the body has it (the zero time
	// for an event recorded without one).
	Time        time.Time `json:"time"`
	Model       string    `json:"model"`
	Version     string    `json:"version"`
	Environment string    `json:"environment"`
	PromotionID string    `json:"promotion_id"`
	Action      string    `json:"action"`
	Actor       string    `json:"actor"`
	TokenID     string    `json:"token_id"`
}

// Event decodes the record's body and fills in the hashes.
func (r *AuditRecord) Event() (AuditEvent, error) {
	var e AuditEvent
	if err := json.Unmarshal(r.Body, &e); err != nil {
		return e, Errorf(Internal, "audit event %d: undecodable body: %v", r.Seq, err)
	}
	e.PrevHash, e.Hash = r.PrevHash, r.Hash
	return e, nil
}
