// Package registry is Promote's registry and promotion service: models and
// versions with their evidence, environments' live versions, promotions
// gated by each environment's policy, approvals, holds and tokens. Every
// change it makes is written with its audit event in one transaction.
package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// TrustedKey is a public key that signs artifacts, with a name for records.
type TrustedKey struct {
	ID  string
	Key *ecdsa.PublicKey
}

// Config is what the service needs besides its store.
type Config struct {
	Pipeline *pipeline.Pipeline
	// Gates holds each environment's compiled gate, by environment name.
	Gates       map[string]*policy.Gate
	TrustedKeys []TrustedKey
	// ArtifactRoots are the directories whose files the server may read to
	// compute an artifact's digest (file:// URIs or plain paths under them).
	// Other artifacts must come with their digest.
	ArtifactRoots []string
	// Private are directories under the artifact roots whose files are
	// never read for a digest: the server's data directory (its database,
	// its clones), which the default root, the working directory, holds.
	Private []string
	// GitOps says a GitOps reconciler carries live changes out: an
	// approved promotion moves the live alias and then waits, approved,
	// until the reconciler reports its commit (Delivered) or that it
	// cannot be made (Undeliverable). Without it the promotion succeeds
	// as soon as the alias moves.
	GitOps bool
	// Changed, when set, is called with the model and environment after a
	// transaction that moved a live alias commits: the reconciler's cue.
	// It must not block.
	Changed func(model, env string)
	// Rollouts says a rollout controller carries out the environments
	// whose strategy is canary or shadow: there a committed promotion
	// waits for the controller (StartRollout) instead of succeeding, and
	// RolloutCue, when set, is told its ID. It needs GitOps.
	Rollouts   bool
	RolloutCue func(promotionID string)
	// Plans holds the rollout plan of each environment the rollout
	// controller carries out (the policy's rollout section, by
	// environment), as the controller is given them: what a promotion
	// awaiting approval says will happen once it is approved (Plan).
	Plans map[string]*policy.Rollout
	// Audited, when set, is called with every audit event a transaction
	// appended, in order, after the transaction commits (for
	// notifications). It must not block.
	Audited func(e promote.AuditEvent)
	// Metrics, when set, counts the gates' decisions
	// (MetricGateEvaluations).
	Metrics *Metrics
	Now     func() time.Time
	Logger  *slog.Logger
}

// Service is the registry and promotion service.
type Service struct {
	store  promote.Store
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	tokens tokenCache
	// signatureChecks keeps checkSignatures' outcomes, by the version's
	// content.
	signatureChecks sync.Map
}

// New returns a service over store. Every environment of the pipeline must
// have a gate.
func New(store promote.Store, cfg Config) (*Service, error) {
	if cfg.Pipeline == nil {
		return nil, fmt.Errorf("registry: no pipeline")
	}
	for _, e := range cfg.Pipeline.Environments {
		if cfg.Gates[e.Name] == nil {
			return nil, fmt.Errorf("registry: environment %s has no gate", e.Name)
		}
	}
	if cfg.Rollouts && !cfg.GitOps {
		return nil, fmt.Errorf("registry: rollouts need GitOps: a rollout starts from a committed promotion")
	}
	s := &Service{store: store, cfg: cfg, now: cfg.Now, log: cfg.Logger}
	cfg.Metrics.environments(cfg.Pipeline.Names())
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Pipeline returns the pipeline the service runs.
func (s *Service) Pipeline() *pipeline.Pipeline { return s.cfg.Pipeline }

// Store returns the service's store.
func (s *Service) Store() promote.Store { return s.store }

func (s *Service) clock() time.Time { return s.now().UTC() }

// Authorize checks that who may act as need; action names what was
// asked for in the error ("aborting a rollout").
func Authorize(who promote.Principal, need promote.Role, action string) error {
	if who.Name == "" {
		return promote.Errorf(promote.Unauthorized, "%s needs a token", action)
	}
	if !who.Role.Allows(need) {
		return promote.Errorf(promote.Forbidden, "%s needs the %s role; %s has %s", action, need, who.Name, who.Role)
	}
	return nil
}

// update runs fn in a read-write transaction whose reads of a model's live
// versions are cached until the transaction changes them: every audit event
// records them, and a promotion writes several events.
//
// The audit events it appends are given to Config.Audited once the
// transaction has committed.
//
// When ctx carries a lease's fence (promote.WithFence: the controllers of
// the elected replica), the lease is checked first in the same
// transaction, so that a deposed leader's writes fail with Conflict and
// change nothing, while the check holds off a takeover until they commit.
func (s *Service) update(ctx context.Context, fn func(promote.Tx) error) error {
	return s.updateAs(ctx, promote.Principal{}, fn)
}

// updateAs is update for a change who asked for: the audit events it
// appends in who's name record the ID of the token who acted with, so
// that what a token did can be listed (promote audit list --token-id),
// however deep in the change the event is written. Events in another
// actor's name (gitops, rollout) are left without one.
func (s *Service) updateAs(ctx context.Context, who promote.Principal, fn func(promote.Tx) error) error {
	var appended []promote.AuditEvent
	err := s.store.Update(ctx, func(tx promote.Tx) error {
		if err := promote.CheckFence(ctx, tx, s.clock()); err != nil {
			return err
		}
		c := &liveCache{Tx: tx, live: map[string]map[string]promote.Live{}, who: who}
		err := fn(c)
		appended = c.appended // a retried transaction starts afresh
		return err
	})
	if err == nil && s.cfg.Audited != nil {
		for _, e := range appended {
			s.cfg.Audited(e)
		}
	}
	return err
}

// liveCache is a transaction with Live cached per model; SetLive drops the
// model's entry. It also keeps the audit events appended, and gives those
// in who's name who's token ID.
type liveCache struct {
	promote.Tx
	live     map[string]map[string]promote.Live
	appended []promote.AuditEvent
	who      promote.Principal
}

func (c *liveCache) AppendAudit(e promote.AuditEvent) (promote.AuditEvent, error) {
	if e.TokenID == "" && c.who.TokenID != "" && e.Actor == c.who.Name {
		e.TokenID = c.who.TokenID
	}
	e, err := c.Tx.AppendAudit(e)
	if err == nil {
		c.appended = append(c.appended, e)
	}
	return e, err
}

func (c *liveCache) Live(model string) (map[string]promote.Live, error) {
	if l, ok := c.live[model]; ok {
		return l, nil
	}
	l, err := c.Tx.Live(model)
	if err == nil {
		c.live[model] = l
	}
	return l, err
}

func (c *liveCache) SetLive(l promote.Live) error {
	delete(c.live, l.Model)
	return c.Tx.SetLive(l)
}

// audit appends e with the model's live versions after the change.
func audit(tx promote.Tx, e promote.AuditEvent) error {
	if e.Model != "" && e.Live == nil {
		live, err := tx.Live(e.Model)
		if err != nil {
			return err
		}
		e.Live = make(map[string]string, len(live))
		for env, l := range live {
			e.Live[env] = l.Version
		}
	}
	_, err := tx.AppendAudit(e)
	return err
}

// newID returns a prefixed random identifier.
func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// CreateModel registers a model.
func (s *Service) CreateModel(ctx context.Context, who promote.Principal, name, description string) (promote.Model, error) {
	if err := Authorize(who, promote.RoleSubmitter, "creating a model"); err != nil {
		return promote.Model{}, err
	}
	if err := promote.ValidateName("model name", name); err != nil {
		return promote.Model{}, err
	}
	if len(description) > 4096 {
		return promote.Model{}, promote.Errorf(promote.Invalid, "description is %d characters; at most 4096", len(description))
	}
	m := promote.Model{Name: name, Description: description, CreatedBy: who.Name, CreatedAt: s.clock()}
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		// The answer carries the model's sequence number, as stored.
		seq, err := tx.CreateModel(m)
		if err != nil {
			return err
		}
		m.Seq = seq
		return audit(tx, promote.AuditEvent{Time: m.CreatedAt, Actor: who.Name, Action: promote.ActionModelCreated, Model: name})
	})
	return m, err
}

// Models lists the registered models that f selects, newest (the last
// registered) first, a page at a time.
func (s *Service) Models(ctx context.Context, f promote.ModelFilter) ([]promote.Model, error) {
	var out []promote.Model
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = tx.Models(f)
		return err
	})
	return out, err
}

// Model returns one model.
func (s *Service) Model(ctx context.Context, name string) (promote.Model, error) {
	var out promote.Model
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = tx.Model(name)
		return err
	})
	return out, err
}

// Status is where a model stands: its live version per environment, its
// active promotions and its holds.
type Status struct {
	Model      string                  `json:"model"`
	Live       map[string]promote.Live `json:"live"`
	Promotions []promote.Promotion     `json:"promotions"`
	Holds      []promote.Hold          `json:"holds"`
	// Environments lists the pipeline's environments in order.
	Environments []string `json:"environments"`
}

// Status returns the model's status.
func (s *Service) Status(ctx context.Context, model string) (Status, error) {
	st := Status{Model: model, Environments: s.cfg.Pipeline.Names()}
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		if _, err = tx.Model(model); err != nil {
			return err
		}
		if st.Live, err = tx.Live(model); err != nil {
			return err
		}
		if st.Promotions, err = tx.Promotions(promote.PromotionFilter{Model: model, ActiveOnly: true}); err != nil {
			return err
		}
		// Every active hold: a store page (100) would drop the rest.
		st.Holds, err = promote.AllHolds(tx, promote.HoldFilter{Model: model})
		return err
	})
	return st, err
}

// History lists the changes of a model's live version in an environment
// that f selects (f.Model, f.Environment), newest first, a page at a time
// (f.BeforeSeq, f.AfterSeq, f.Limit), each with the change after it.
//
// An environment the pipeline no longer names (renamed or removed) keeps its
// history in the store, and it is answered; one that has none there is the
// pipeline's error, which lists the environments it has.
func (s *Service) History(ctx context.Context, f promote.LiveFilter) ([]promote.LiveChange, error) {
	_, envErr := s.cfg.Pipeline.Environment(f.Environment)
	if envErr != nil {
		if err := promote.ValidateName("environment", f.Environment); err != nil {
			return nil, envErr
		}
	}
	var out []promote.LiveChange
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		if _, err = tx.Model(f.Model); err != nil {
			return err
		}
		if envErr != nil {
			// Whether the store holds any change there, whatever the
			// page asked for.
			some, err := tx.LiveChanges(promote.LiveFilter{Model: f.Model, Environment: f.Environment, Limit: 1})
			if err != nil {
				return err
			}
			if len(some) == 0 {
				return envErr
			}
		}
		out, err = tx.LiveChanges(f)
		return err
	})
	return out, err
}

// AuditEvents lists audit events, newest first.
func (s *Service) AuditEvents(ctx context.Context, f promote.AuditFilter) ([]promote.AuditEvent, error) {
	var out []promote.AuditEvent
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = tx.AuditEvents(f)
		return err
	})
	return out, err
}

// validateNames checks pairs of (what, name) with promote.ValidateName.
func validateNames(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := promote.ValidateName(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// hasRole reports whether who holds one of roles: a group of theirs, or an
// API role that their token's role includes (an admin holds "approver").
func hasRole(who promote.Principal, roles []string) bool {
	for _, r := range roles {
		if auth := promote.Role(strings.ToLower(r)); auth.Valid() && who.Role.Allows(auth) {
			return true
		}
		if slices.ContainsFunc(who.Groups, func(g string) bool { return strings.EqualFold(g, r) }) {
			return true
		}
	}
	return false
}
