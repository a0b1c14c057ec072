package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/promote"
)

// Populate fills s with a row of every kind a store keeps, for tests of a
// copy from one store to another: models and versions (one rejected),
// promotions in several states with approvals (one with a note), live versions with their
// history, a commit and a commit error, holds (one cleared), rollouts with
// samples and analysis, audit events, tokens (one revoked), a lease,
// webhook cursors, deliveries (pruned) and re-sends, and sessions.
func Populate(t *testing.T, s promote.Store) {
	t.Helper()
	seed(t, s)
	update(t, s, func(tx promote.Tx) error {
		steps := []func() error{
			func() error { return tx.RejectVersion("churn", "1.0", "risk", "leaks a feature", at(4)) },
			func() error { _, err := tx.CreatePromotion(promotion("p-ok", "fraud", "1.0", "prod", 5)); return err },
			func() error {
				_, err := tx.CreatePromotion(promotion("p-canary", "fraud", "1.1", "staging", 6))
				return err
			},
			func() error {
				p := promotion("p-wait", "fraud", "1.1", "prod-eu", 7)
				p.Note = "retrained on March data"
				_, err := tx.CreatePromotion(p)
				return err
			},
			func() error {
				_, err := tx.CreatePromotion(promotion("p-blocked", "churn", "1.0", "prod", 8))
				return err
			},
			func() error {
				p := promotion("p-ok", "fraud", "1.0", "prod", 5)
				p.State, p.UpdatedAt, p.Reason = promote.StateSucceeded, at(9), "live"
				return tx.UpdatePromotion(p)
			},
			func() error {
				p := promotion("p-canary", "fraud", "1.1", "staging", 6)
				p.State, p.UpdatedAt = promote.StateRollingOut, at(10)
				return tx.UpdatePromotion(p)
			},
			func() error {
				p := promotion("p-wait", "fraud", "1.1", "prod-eu", 7)
				p.State, p.UpdatedAt = promote.StateAwaitingApproval, at(10)
				return tx.UpdatePromotion(p)
			},
			func() error {
				p := promotion("p-blocked", "churn", "1.0", "prod", 8)
				p.State, p.UpdatedAt, p.Reason = promote.StateBlocked, at(10), "accuracy_delta -0.02 < 0"
				return tx.UpdatePromotion(p)
			},
			func() error {
				return tx.AddApproval(promote.Approval{PromotionID: "p-wait", Approver: "lena", Roles: []string{"ml-lead"}, Approve: true,
					Digest: "sha256:" + strings.Repeat("ab", 32), Comment: "looks good", At: at(11)})
			},
			func() error {
				return tx.AddApproval(promote.Approval{PromotionID: "p-wait", Approver: "omar", Approve: false,
					Digest: "sha256:" + strings.Repeat("ab", 32), At: at(12)})
			},
			func() error {
				return tx.SetLive(promote.Live{Model: "fraud", Environment: "prod", Version: "1.0", PromotionID: "p-ok", SetBy: "bob", SetAt: at(9), Reason: "promoted"})
			},
			func() error { return tx.SetLiveCommit("fraud", "prod", "p-ok", "c0ffee") },
			func() error {
				return tx.SetLive(promote.Live{Model: "fraud", Environment: "staging", Version: "1.1", PromotionID: "p-canary", SetBy: "bob", SetAt: at(10), Reason: "promoted"})
			},
			func() error { return tx.SetLiveCommitError("fraud", "staging", "p-canary", "push refused", at(13)) },
			func() error {
				r := rollout("p-canary", "fraud", "1.1", "staging", 10)
				r.Verdict = json.RawMessage(`{"decision":"continue"}`)
				return tx.SaveRollout(r)
			},
			func() error {
				return tx.SaveRolloutAnalysis("p-canary", json.RawMessage(`{"v":1,"n":42}`), json.RawMessage(`{"decision":"continue"}`))
			},
			func() error {
				return tx.SaveRolloutStep("p-canary", 420, &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 60})
			},
			func() error {
				for i := range 3 {
					smp := promote.RolloutSample{PromotionID: "p-canary", At: at(14 + i), Step: i, Weight: 0.1,
						Stable:   promote.TrackSample{Requests: 900.5, Errors: 1, LatencyP95: 0.12},
						Canary:   promote.TrackSample{Requests: 100, Errors: float64(i), LatencyP95: 0.15},
						Decision: "continue"}
					if err := tx.AppendRolloutSample(smp, promote.RolloutSamplesKept); err != nil {
						return err
					}
				}
				return nil
			},
			func() error {
				_, err := tx.AddHold(promote.Hold{Model: "fraud", Version: "1.1", Environment: "prod", Reason: "rolled back", SetBy: "rollout", SetAt: at(15)})
				return err
			},
			func() error {
				h, err := tx.AddHold(promote.Hold{Model: "churn", Version: "1.0", Environment: "prod", Reason: "bias", SetBy: "risk", SetAt: at(16)})
				if err != nil {
					return err
				}
				_, err = tx.ClearHold(h.ID, "risk", "retrained", at(17))
				return err
			},
			func() error {
				for _, e := range []promote.AuditEvent{
					{Time: at(1), Actor: "ci", Action: promote.ActionModelCreated, Model: "fraud"},
					{Time: at(5), Actor: "bob", Action: promote.ActionPromotionRequested, Model: "fraud", Version: "1.0", Environment: "prod",
						PromotionID: "p-ok", TokenID: "t1", Digest: "sha256:" + strings.Repeat("ab", 32)},
					{Time: at(11), Actor: "lena", Action: promote.ActionPromotionApproval, Model: "fraud", Version: "1.1", Environment: "prod-eu",
						PromotionID: "p-wait", Decision: "approved", Approvers: []string{"lena"}, Reasons: json.RawMessage(`["looks good"]`),
						Live: map[string]string{"prod": "1.0"}},
					{Actor: "ci", Action: promote.ActionVersionRegistered, Model: "churn", Version: "1.0"}, // the zero time
				} {
					if _, err := tx.AppendAudit(e); err != nil {
						return err
					}
				}
				return nil
			},
			func() error {
				return tx.CreateToken(promote.Token{ID: "t1", Name: "ci", Role: promote.RoleSubmitter, Hash: "aa11", CreatedBy: "admin", CreatedAt: at(1)})
			},
			func() error {
				return tx.CreateToken(promote.Token{ID: "t2", Name: "lena", Role: promote.RoleApprover, Groups: []string{"ml-lead"}, Hash: "bb22", CreatedBy: "admin", CreatedAt: at(2)})
			},
			func() error { return tx.RevokeToken("t1", at(18)) },
			func() error {
				_, err := tx.AcquireLease("controllers", "replica-a", time.Minute, at(19))
				return err
			},
			func() error {
				_, err := tx.StartWebhookCursor(promote.WebhookCursor{Endpoint: "ops", Seq: 2, UpdatedAt: at(20)})
				return err
			},
			func() error {
				for i := range 5 {
					status := "delivered"
					if i == 3 {
						status = "failed"
					}
					// Kept 3: the two oldest are pruned, and the keys
					// SQLite gave them are not given again.
					if _, err := tx.RecordWebhookDelivery(promote.WebhookDelivery{ID: "d" + string(rune('a'+i)), EventID: "e1", EventType: "promotion.requested",
						Endpoint: "ops", AuditSeq: 2, Attempt: 1, Status: status, Code: 200, At: at(21 + i), Duration: 30 * time.Millisecond}, 3); err != nil {
						return err
					}
				}
				return nil
			},
			func() error {
				return tx.RequestWebhookResend(promote.WebhookResend{ID: "dd", FailedSeq: 4, EventID: "e1", AuditSeq: 2, Endpoint: "ops", RequestedBy: "ada", RequestedAt: at(27)})
			},
			func() error {
				return tx.CreateSession(promote.Session{IDHash: strings.Repeat("a1", 32), TokenHash: "bb22", CSRF: "csrf-a1", CreatedAt: at(28), ExpiresAt: at(28 + 60*24*365*50)})
			},
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Contents is what a store holds, as its listings read it: two stores
// that hold the same have equal Contents.
type Contents struct {
	Models      []promote.Model
	Versions    map[string][]promote.Version
	Promotions  []promote.Promotion
	Approvals   map[string][]promote.Approval
	Live        map[string]map[string]promote.Live
	LiveHistory map[string][]promote.Live
	Rollouts    []promote.Rollout
	Samples     map[string][]promote.RolloutSample
	Holds       []promote.Hold
	Audit       []promote.AuditEvent
	Tokens      []promote.Token
	Lease       promote.Lease
	Cursor      promote.WebhookCursor
	Deliveries  []promote.WebhookDelivery
	Resends     []promote.WebhookResend
	Stats       []promote.WebhookStats
	Session     promote.Session
}

// ContentsOf reads everything that Populate stores from s.
func ContentsOf(t *testing.T, s promote.Store) Contents {
	t.Helper()
	c := Contents{Versions: map[string][]promote.Version{}, Approvals: map[string][]promote.Approval{},
		LiveHistory: map[string][]promote.Live{}, Samples: map[string][]promote.RolloutSample{}}
	view(t, s, func(tx promote.Tx) (err error) {
		if c.Models, err = tx.Models(promote.ModelFilter{Limit: 1000}); err != nil { // Populate stores a few
			return err
		}
		for _, m := range c.Models {
			if c.Versions[m.Name], err = tx.Versions(promote.VersionFilter{Model: m.Name, Limit: 1000}); err != nil { // Populate stores a few
				return err
			}
			for _, env := range []string{"staging", "prod", "prod-eu"} {
				if c.LiveHistory[m.Name+"/"+env], err = readHistory(tx, m.Name, env); err != nil {
					return err
				}
			}
		}
		if c.Promotions, err = tx.Promotions(promote.PromotionFilter{Limit: 1000}); err != nil {
			return err
		}
		for _, p := range c.Promotions {
			if c.Approvals[p.ID], err = tx.Approvals(p.ID); err != nil {
				return err
			}
		}
		if c.Live, err = tx.AllLive(); err != nil {
			return err
		}
		if c.Rollouts, err = tx.Rollouts(promote.RolloutFilter{Limit: 1000}); err != nil {
			return err
		}
		for _, r := range c.Rollouts {
			if c.Samples[r.PromotionID], err = tx.RolloutSamples(r.PromotionID, 0); err != nil {
				return err
			}
		}
		if c.Holds, err = tx.Holds(promote.HoldFilter{IncludeCleared: true, Limit: 1000}); err != nil {
			return err
		}
		if c.Audit, err = tx.AuditEvents(promote.AuditFilter{Limit: 1000}); err != nil {
			return err
		}
		if c.Tokens, err = tx.Tokens(); err != nil {
			return err
		}
		if c.Lease, err = tx.Lease("controllers"); err != nil {
			return err
		}
		if c.Cursor, err = tx.WebhookCursor("ops"); err != nil {
			return err
		}
		if c.Deliveries, err = tx.WebhookDeliveries(promote.WebhookDeliveryFilter{Limit: 1000}); err != nil {
			return err
		}
		if c.Resends, err = tx.WebhookResends("ops"); err != nil {
			return err
		}
		if c.Stats, err = tx.WebhookStats(); err != nil {
			return err
		}
		c.Session, err = tx.Session(strings.Repeat("a1", 32), at(29))
		return err
	})
	return c
}
