package promote

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrUnavailable is in the chain of a store's error when the store could not
// reach its database (a refused or broken connection, a server shutting
// down): nothing is wrong with the request, and it may succeed once the
// database answers again. The HTTP API answers such errors with a 503.
var ErrUnavailable = errors.New("the database is unavailable")

// Store is where Promote keeps its state. It has two implementations,
// SQLite (the embedded default) and PostgreSQL, held to one contract suite.
type Store interface {
	// Update runs fn in one read-write transaction: everything fn writes,
	// audit events included, commits together or not at all. An error from
	// fn rolls the transaction back and is returned as is.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction that sees one consistent
	// snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	// ScanAudit calls fn for every stored audit record with Seq > after, in
	// sequence order, as stored (for verification and export).
	ScanAudit(ctx context.Context, after int64, fn func(AuditRecord) error) error
	// AuditHead returns the sequence number and hash of the last event
	// appended, as the store records them apart from the events (0 and
	// GenesisHash before the first), for verification to compare the
	// chain's end with.
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
	// Ping checks that the store answers: one small read, a round trip to
	// the database that costs the same however much the store holds (the
	// readiness check calls it every few seconds).
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Tx is what a transaction can read and write. Methods return *Error with
// NotFound when a thing does not exist and Conflict when a write collides
// with what exists (a duplicate name, a second active promotion).
type Tx interface {
	// CreateModel stores a new model and returns the sequence number it
	// was given (Model.Seq), so that the caller need not read it back.
	CreateModel(m Model) (seq int64, err error)
	Model(name string) (Model, error)
	// Models lists the models that f selects, newest (the last
	// registered) first, at most f.Limit.
	Models(f ModelFilter) ([]Model, error)

	// CreateVersion stores a version of an existing model.
	CreateVersion(v Version) error
	Version(model, version string) (Version, error)
	// Versions lists the versions of f.Model that f selects, newest
	// (the last registered) first, at most f.Limit; NotFound when the
	// model is not stored.
	Versions(f VersionFilter) ([]Version, error)
	// RejectVersion marks a version rejected, for good.
	RejectVersion(model, version, by, reason string, at time.Time) error

	// CreatePromotion stores a new promotion; Conflict when another active
	// promotion holds the same model and environment. It returns the
	// sequence number p was given (Promotion.Seq).
	CreatePromotion(p Promotion) (seq int64, err error)
	// UpdatePromotion stores p's state, reason, decision and times.
	UpdatePromotion(p Promotion) error
	Promotion(id string) (Promotion, error)
	// Promotions lists the promotions that f selects, newest (the last
	// requested) first, at most f.Limit.
	Promotions(f PromotionFilter) ([]Promotion, error)

	// AddApproval records a decision on a promotion. A second decision by
	// the same approver on the same promotion is a Conflict: each person
	// counts once.
	AddApproval(a Approval) error
	// Approvals lists a promotion's decisions in the order they were made.
	Approvals(promotionID string) ([]Approval, error)

	// SetLive makes l.Version the live version of l.Model in l.Environment
	// and appends l to the alias's history.
	SetLive(l Live) error
	// Live returns the model's live version per environment.
	Live(model string) (map[string]Live, error)
	// AllLive returns every model's live versions, by model and then
	// environment (a model with none is absent): one read for a view of
	// the whole pipeline.
	AllLive() (map[string]map[string]Live, error)
	// LiveOf returns the live versions of the models named, by model and
	// then environment (a model with none is absent, as is one not
	// stored): one read for a page of the pipeline. No models, none.
	LiveOf(models []string) (map[string]map[string]Live, error)
	// LiveChanges lists the changes of one model's alias in one
	// environment that f selects, newest first (the latest SetAt; of two
	// at the same time, the one made last), at most f.Limit, each with the
	// change that came after it: a reader of a few of them need not read
	// the whole history, and one of them all reads it a page at a time. NotFound when the
	// model is not stored; Invalid without a model or an environment.
	LiveChanges(f LiveFilter) ([]LiveChange, error)
	// PipelineCounts counts every stored model, and the active promotions
	// and active holds in the environments envs, each with one read whose
	// cost does not grow with the rows it counts past.
	PipelineCounts(envs []string) (PipelineCounts, error)
	// SetLiveCommit records that the change promotionID made to the model's
	// alias in env is carried by the GitOps commit, on the alias and its
	// history entry. NotFound when the alias does not exist, Conflict when
	// another change has moved it since.
	SetLiveCommit(model, env, promotionID, commit string) error
	// SetLiveCommitError records why the last attempt to commit the change
	// promotionID made to the model's alias in env failed (message), at
	// at; an empty message clears it. A message replaces the one before
	// and keeps its Since; the first one since a clear starts it at at.
	// SetLive and SetLiveCommit clear it. NotFound when the alias does not
	// exist, Conflict when another change has moved it since or the change
	// is committed already.
	SetLiveCommitError(model, env, promotionID, message string, at time.Time) error
	// ClearLive removes the model's alias in env, leaving the environment
	// with no live version (a first promotion that could not be carried
	// out); the history keeps its entries. NotFound when there is none.
	ClearLive(model, env string) error

	// SaveRollout stores r, a new rollout or a later state of one (keyed
	// by PromotionID), at revision r.Revision+1: a new rollout has
	// Revision 0 and is stored at 1; a later state is stored only when the
	// stored revision is still r.Revision (the one read), else it changes
	// nothing and returns a *RolloutChangedError (a Conflict). NotFound
	// when the promotion, or the rollout a later state updates, is not
	// stored.
	SaveRollout(r Rollout) error
	// Rollout returns the rollout of a promotion.
	Rollout(promotionID string) (Rollout, error)
	// Rollouts lists the rollouts that f selects, newest (the last
	// started) first, at most f.Limit.
	Rollouts(f RolloutFilter) ([]Rollout, error)
	// SaveRolloutAnalysis stores the state of a rollout's analysis
	// (Rollout.AnalysisState) and its last verdict (Rollout.Verdict), and
	// nothing else, not even the revision; nil clears either. NotFound
	// when the promotion has no rollout.
	SaveRolloutAnalysis(promotionID string, state, verdict json.RawMessage) error
	// SaveRolloutStep stores the canary requests counted in a rollout's
	// current step (Rollout.StepRequests) and what the step needs
	// (Rollout.StepNeeds, nil clears it), and nothing else, not even the
	// revision. NotFound when the promotion has no rollout.
	SaveRolloutStep(promotionID string, requests float64, needs *StepNeeds) error
	// AppendRolloutSample stores one point of a rollout's history and
	// forgets the rollout's samples older than the newest keep (at least
	// one; RolloutSamplesKept is the usual bound), so that a long or
	// forgotten rollout's history stays bounded. NotFound when its rollout
	// is not stored.
	AppendRolloutSample(s RolloutSample, keep int) error
	// RolloutSamples lists a rollout's samples, oldest first, at most
	// limit of the newest (0: all).
	RolloutSamples(promotionID string, limit int) ([]RolloutSample, error)

	// AddHold stores a hold and returns it with its ID.
	AddHold(h Hold) (Hold, error)
	// ClearHold clears an active hold; NotFound for an unknown one,
	// Conflict for one already cleared.
	ClearHold(id int64, by, reason string, at time.Time) (Hold, error)
	// Holds lists the holds that f selects, newest (the last set) first,
	// at most f.Limit.
	Holds(f HoldFilter) ([]Hold, error)
	// HoldCells returns, for each of the models named and each
	// environment where it has active holds, the newest n of them
	// (newest first) and how many it has there, by model and environment
	// name: the holds beyond n are counted, not read. Invalid when n is
	// not between 1 and 1,000.
	HoldCells(models []string, n int) ([]HoldCell, error)

	// AppendAudit appends e to the audit chain: it assigns e.Seq (one more
	// than the last), e.PrevHash (the last event's hash, GenesisHash for the
	// first) and e.Hash (ChainHash over e.Body()), stores the body bytes,
	// and returns the event as stored.
	AppendAudit(e AuditEvent) (AuditEvent, error)
	// AuditEvents lists events matching f, newest first.
	AuditEvents(f AuditFilter) ([]AuditEvent, error)

	// AcquireLease takes the lease name for holder until ttl from now when
	// it is free (never taken, released or expired), or renews it when
	// holder holds it. Taking it begins a new term: the epoch grows by
	// one; renewing keeps the epoch and the term's start. When another
	// holder holds it, the error is a Conflict naming that holder and its
	// expiry, and the lease returned is the one that stands. Of
	// concurrent calls for a free lease, from any replica, exactly one
	// wins.
	//
	// Times are the database's clock where every replica shares it
	// (PostgreSQL), so that replicas' clocks need not agree; a store on
	// one machine (SQLite) uses now, the caller's clock.
	AcquireLease(name, holder string, ttl time.Duration, now time.Time) (Lease, error)
	// ReleaseLease ends holder's term at epoch now, so that another
	// holder may take the lease at once. Releasing a term that expired
	// with no term since does nothing; Conflict when the lease is in
	// another term, NotFound when it was never taken.
	ReleaseLease(name, holder string, epoch int64, now time.Time) error
	// CheckLease is the fencing check: nil when holder holds the lease
	// at exactly epoch and it has not expired, otherwise a Conflict
	// ("deposed: …") that names the current holder and epoch. It locks
	// the lease until the transaction ends, so no other holder can take
	// it between the check and the transaction's commit: the writes that
	// follow the check are made in holder's term or not at all. Clocks
	// as in AcquireLease.
	CheckLease(name, holder string, epoch int64, now time.Time) error
	// Lease returns the lease name as stored, expired or not; NotFound
	// when it was never taken.
	Lease(name string) (Lease, error)

	CreateToken(t Token) error
	// TokenByHash finds a token by the hash of its secret, revoked or not.
	TokenByHash(hash string) (Token, error)
	Tokens() ([]Token, error)
	RevokeToken(id string, at time.Time) error

	// WebhookCursor returns the webhook cursor of an endpoint; NotFound
	// when it has none.
	WebhookCursor(endpoint string) (WebhookCursor, error)
	// StartWebhookCursor creates c when its endpoint has no cursor, and
	// returns the cursor that stands: c, or the stored one unchanged. Of
	// concurrent calls, the first to commit wins.
	StartWebhookCursor(c WebhookCursor) (WebhookCursor, error)
	// AdvanceWebhookCursor moves the endpoint's cursor forward to c.Seq,
	// creating it when there is none. It never moves a cursor back: a Seq
	// at or below the stored one changes nothing. It returns the cursor
	// that stands.
	AdvanceWebhookCursor(c WebhookCursor) (WebhookCursor, error)
	// RecordWebhookDelivery appends d to the delivery log, assigning its
	// Seq, and forgets the entries older than the newest keep (at least
	// one; WebhookDeliveriesKept is the usual bound), so that the log
	// stays bounded.
	RecordWebhookDelivery(d WebhookDelivery, keep int) (WebhookDelivery, error)
	// WebhookDeliveries lists the entries of the delivery log that f
	// selects, newest first, at most f.Limit (0: DefaultLimit).
	WebhookDeliveries(f WebhookDeliveryFilter) ([]WebhookDelivery, error)
	// LastWebhookDelivery returns the newest entry of the delivery id,
	// which holds its state; NotFound when the log has none.
	LastWebhookDelivery(id string) (WebhookDelivery, error)
	// RequestWebhookResend records a pending re-send; Conflict when one
	// of the same delivery and failure is recorded already, pending or
	// done.
	RequestWebhookResend(r WebhookResend) error
	// WebhookResends lists the pending re-sends to an endpoint, oldest
	// first.
	WebhookResends(endpoint string) ([]WebhookResend, error)
	// FinishWebhookResend marks the re-send of a delivery's failure done
	// at at; NotFound when there is no such re-send.
	FinishWebhookResend(id string, failedSeq int64, at time.Time) error
	// WebhookStats sums up the delivery log per endpoint, for those it
	// holds entries of, by name.
	WebhookStats() ([]WebhookStats, error)

	// CreateSession stores a web UI session; Conflict when its IDHash is
	// taken, Invalid when a field is missing or it expires before it is
	// created.
	CreateSession(s Session) error
	// Session returns the session whose ID hashes to idHash; NotFound
	// when there is none or it has expired at now.
	Session(idHash string, now time.Time) (Session, error)
	// DeleteSession ends a session. Deleting one that is not stored (ended
	// already, or expired and swept) does nothing.
	DeleteSession(idHash string) error
	// DeleteExpiredSessions deletes at most limit sessions that have
	// expired at now, the longest expired first, and returns how many it
	// deleted: called whenever a session is created, it keeps the table
	// bounded at a bounded cost.
	DeleteExpiredSessions(now time.Time, limit int) (int, error)
}

// PromotionFilter selects promotions, listed newest (the last requested)
// first, a page at a time as AuditFilter pages the audit log: BeforeSeq
// and AfterSeq are cursors on Promotion.Seq. Zero fields match everything;
// a Version needs its Model (CheckVersionScope).
type PromotionFilter struct {
	Model string
	// Models, when not empty, selects the promotions of these models
	// alone (with Model too, of both).
	Models      []string
	Version     string
	Environment string
	States      []State
	ActiveOnly  bool
	BeforeSeq   int64
	AfterSeq    int64
	Limit       int // 0: DefaultLimit
}

// ModelFilter selects models, listed newest (the last registered) first,
// a page at a time as VersionFilter pages a model's versions: BeforeSeq
// and AfterSeq are cursors on Model.Seq. A negative cursor or Limit is
// Invalid.
type ModelFilter struct {
	BeforeSeq int64
	AfterSeq  int64
	Limit     int // 0: DefaultLimit
}

// VersionFilter selects a model's versions, listed newest (the last
// registered) first, a page at a time as AuditFilter pages the audit log.
// BeforeSeq pages backwards: versions with Seq < BeforeSeq (0: from the
// newest). AfterSeq pages forwards: versions with Seq > AfterSeq, and with
// a Limit the Limit versions just after it (still listed newest first).
// A negative cursor or Limit is Invalid.
type VersionFilter struct {
	Model     string
	BeforeSeq int64
	AfterSeq  int64
	Limit     int // 0: DefaultLimit
}

// HoldFilter selects holds, listed newest (the last set) first, a page at
// a time as AuditFilter pages the audit log: BeforeSeq and AfterSeq are
// cursors on Hold.ID, which the store assigns in order. Cleared holds are
// left out unless IncludeCleared. A Version needs its Model
// (CheckVersionScope).
type HoldFilter struct {
	Model string
	// Models, when not empty, selects the holds of these models alone
	// (with Model too, of both).
	Models         []string
	Version        string
	Environment    string
	IncludeCleared bool
	BeforeSeq      int64
	AfterSeq       int64
	Limit          int // 0: DefaultLimit
}

// AuditFilter selects audit events, listed newest first. BeforeSeq pages
// backwards: events with Seq < BeforeSeq (0: from the newest). AfterSeq
// pages forwards: events with Seq > AfterSeq, and with a Limit the Limit
// events just after it (still listed newest first). Since and Until bound
// the events' times: Since inclusive, Until exclusive (zero: no bound);
// Since after Until is Invalid. TokenID selects the events made with one
// API token (AuditEvent.TokenID). A Version needs its Model
// (CheckVersionScope).
type AuditFilter struct {
	Model       string
	Version     string
	Environment string
	PromotionID string
	Action      string
	Actor       string
	TokenID     string
	Since       time.Time
	Until       time.Time
	BeforeSeq   int64
	AfterSeq    int64
	Limit       int
}

// LiveFilter selects changes of a model's alias in an environment
// (Tx.LiveChanges). Model and Environment are needed; the other fields
// narrow, each when not empty.
type LiveFilter struct {
	Model       string
	Environment string
	// Version selects the changes that made Version live.
	Version string
	// PromotionID selects the change that promotion made.
	PromotionID string
	// RollbackOf selects the rollbacks that took RollbackOf out.
	RollbackOf string
	// After selects the changes that came after the one the promotion
	// After made: none when it made none.
	After string
	// Committed selects the changes whose GitOps commit is recorded.
	Committed bool
	// ExceptPromotionID leaves out the changes that promotion made.
	ExceptPromotionID string
	// ExceptVersions leaves out the changes that made one of these
	// versions live.
	ExceptVersions []string
	// BeforeSeq pages back: the changes before the change numbered
	// BeforeSeq (LiveChange.Seq) in the history's order. AfterSeq pages
	// forward: the changes after that one, and with a Limit the Limit
	// changes just after it (still listed newest first). A cursor that
	// is not a change of this alias is Invalid.
	BeforeSeq int64
	AfterSeq  int64
	// Limit bounds the changes listed (0: DefaultLimit).
	Limit int
}

// LiveChange is a change of a model's alias in an environment and the
// change that came after it, which ended it: nil while it is the newest.
type LiveChange struct {
	Live
	// Seq numbers the change in the store, in the order the changes were
	// made: the cursor of LiveFilter's pages.
	Seq  int64 `json:"seq"`
	Next *Live `json:"next,omitempty"`
}

// PipelineCounts are the figures of the pipeline's summary, for the whole
// store (Tx.PipelineCounts).
type PipelineCounts struct {
	Models           int
	ActivePromotions int
	ActiveHolds      int
}

// HoldCell is a model's active holds in one environment: the newest few
// of them (Tx.HoldCells) and how many there are.
type HoldCell struct {
	Model       string
	Environment string
	Holds       []Hold
	Active      int
}

// DefaultLimit is the page size of a listing that names none.
const DefaultLimit = 100

// ReadAll reads every row that list selects, newest first, DefaultLimit
// at a time by sequence cursor (seq: the cursor of a row, list: a page of
// at most limit rows older than before, 0 for the newest), for a reader
// that must see them all, however many the store holds. Every store
// returns DefaultLimit rows when asked for them, so a shorter page is the
// last.
func ReadAll[T any](seq func(T) int64, list func(before int64, limit int) ([]T, error)) ([]T, error) {
	var all []T
	var before int64
	for {
		rows, err := list(before, DefaultLimit)
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
		if len(rows) < DefaultLimit {
			return all, nil
		}
		before = seq(rows[len(rows)-1])
	}
}

// AllModels reads every registered model, newest first (ReadAll).
func AllModels(tx Tx) ([]Model, error) {
	return ReadAll(func(m Model) int64 { return m.Seq }, func(before int64, limit int) ([]Model, error) {
		return tx.Models(ModelFilter{BeforeSeq: before, Limit: limit})
	})
}

// AllHolds reads every hold that f selects, newest first (ReadAll); f's
// BeforeSeq and Limit are the pages'.
func AllHolds(tx Tx, f HoldFilter) ([]Hold, error) {
	return ReadAll(func(h Hold) int64 { return h.ID }, func(before int64, limit int) ([]Hold, error) {
		f.BeforeSeq, f.Limit = before, limit
		return tx.Holds(f)
	})
}

// AllPromotions reads every promotion that f selects, newest first
// (ReadAll); f's BeforeSeq and Limit are the pages'.
func AllPromotions(tx Tx, f PromotionFilter) ([]Promotion, error) {
	return ReadAll(func(p Promotion) int64 { return p.Seq }, func(before int64, limit int) ([]Promotion, error) {
		f.BeforeSeq, f.Limit = before, limit
		return tx.Promotions(f)
	})
}

// AllRollouts reads every rollout that f selects, newest first (ReadAll);
// f's BeforeSeq and Limit are the pages'.
func AllRollouts(tx Tx, f RolloutFilter) ([]Rollout, error) {
	return ReadAll(func(r Rollout) int64 { return r.Seq }, func(before int64, limit int) ([]Rollout, error) {
		f.BeforeSeq, f.Limit = before, limit
		return tx.Rollouts(f)
	})
}

// CheckVersionScope returns an Invalid error, naming model, for a filter
// (PromotionFilter, RolloutFilter, HoldFilter, AuditFilter) that names a
// version without its model. A version's name is its model's own (UNIQUE
// (model, version); each model numbers its versions as it likes): version
// 3 of one model has nothing to do with version 3 of another, so such a
// filter would list unrelated versions' records together, and no index
// serves it.
func CheckVersionScope(model, version string) error {
	if version != "" && model == "" {
		return Errorf(Invalid, "version %q without a model: a version is named within its model (%[1]s of one model is not %[1]s of another); give its model too", version)
	}
	return nil
}
