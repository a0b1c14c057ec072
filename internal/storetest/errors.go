package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/promote-ml/promote/promote"
)

// testErrors checks every method's NotFound, Conflict and Invalid errors
// and their messages, each case in a transaction of its own.
func testErrors(t *testing.T, s promote.Store) {
	seed(t, s)
	var holdID int64
	update(t, s, func(tx promote.Tx) error {
		if _, err := tx.CreatePromotion(promotion("p1", "fraud", "1.1", "staging", 10)); err != nil {
			return err
		}
		if err := tx.CreateToken(promote.Token{ID: "tok1", Name: "ci", Role: promote.RoleSubmitter, Hash: "h1", CreatedAt: t0}); err != nil {
			return err
		}
		h, err := tx.AddHold(promote.Hold{Model: "fraud", Version: "1.0", Environment: "prod", Reason: "rolled back", SetBy: "controller", SetAt: t0})
		holdID = h.ID
		return err
	})
	approval := promote.Approval{PromotionID: "p1", Approver: "carol", Approve: true, At: at(11)}
	live := promote.Live{Model: "fraud", Environment: "prod", Version: "9", SetBy: "x", SetAt: t0}

	tests := []struct {
		name string
		fn   func(tx promote.Tx) error
		code promote.Code
		msgs []string // each must appear in the message
	}{
		{"Model missing", func(tx promote.Tx) error { _, err := tx.Model("nope"); return err },
			promote.NotFound, []string{`model "nope" not found`}},
		{"CreateVersion of a missing model", func(tx promote.Tx) error { return tx.CreateVersion(version("nope", "1.0", 0)) },
			promote.NotFound, []string{`model "nope" not found`}},
		{"Version missing", func(tx promote.Tx) error { _, err := tx.Version("fraud", "9"); return err },
			promote.NotFound, []string{`version "9" of model "fraud" not found`}},
		{"Version of a missing model", func(tx promote.Tx) error { _, err := tx.Version("nope", "1.0"); return err },
			promote.NotFound, []string{`model "nope" not found`}},
		{"Versions of a missing model", func(tx promote.Tx) error { _, err := tx.Versions(promote.VersionFilter{Model: "nope"}); return err },
			promote.NotFound, []string{`model "nope" not found`}},
		{"Versions before a negative cursor", func(tx promote.Tx) error {
			_, err := tx.Versions(promote.VersionFilter{Model: "fraud", BeforeSeq: -1})
			return err
		}, promote.Invalid, []string{"before_seq -1 is negative"}},
		{"Versions after a negative cursor", func(tx promote.Tx) error {
			_, err := tx.Versions(promote.VersionFilter{Model: "fraud", AfterSeq: -2})
			return err
		}, promote.Invalid, []string{"after_seq -2 is negative"}},
		{"Versions with a negative limit", func(tx promote.Tx) error {
			_, err := tx.Versions(promote.VersionFilter{Model: "fraud", Limit: -3})
			return err
		}, promote.Invalid, []string{"limit -3 is negative"}},
		{"Promotions before a negative cursor", func(tx promote.Tx) error {
			_, err := tx.Promotions(promote.PromotionFilter{BeforeSeq: -1})
			return err
		}, promote.Invalid, []string{"before_seq -1 is negative"}},
		{"Rollouts after a negative cursor", func(tx promote.Tx) error {
			_, err := tx.Rollouts(promote.RolloutFilter{AfterSeq: -2})
			return err
		}, promote.Invalid, []string{"after_seq -2 is negative"}},
		{"Holds with a negative limit", func(tx promote.Tx) error {
			_, err := tx.Holds(promote.HoldFilter{BeforeSeq: 4, Limit: -3})
			return err
		}, promote.Invalid, []string{"limit -3 is negative"}},
		{"RejectVersion missing", func(tx promote.Tx) error { return tx.RejectVersion("fraud", "9", "x", "bad", t0) },
			promote.NotFound, []string{`version "9" of model "fraud" not found`}},
		{"CreatePromotion of a missing version", func(tx promote.Tx) error {
			_, err := tx.CreatePromotion(promotion("p9", "fraud", "9", "prod", 0))
			return err
		}, promote.NotFound, []string{`version "9" of model "fraud" not found`}},
		{"UpdatePromotion missing", func(tx promote.Tx) error {
			return tx.UpdatePromotion(promotion("nope", "fraud", "1.1", "prod", 0))
		}, promote.NotFound, []string{`promotion "nope" not found`}},
		{"Promotion missing", func(tx promote.Tx) error { _, err := tx.Promotion("nope"); return err },
			promote.NotFound, []string{`promotion "nope" not found`}},
		{"AddApproval to a missing promotion", func(tx promote.Tx) error {
			a := approval
			a.PromotionID = "nope"
			return tx.AddApproval(a)
		}, promote.NotFound, []string{`promotion "nope" not found`}},
		{"Approvals of a missing promotion", func(tx promote.Tx) error { _, err := tx.Approvals("nope"); return err },
			promote.NotFound, []string{`promotion "nope" not found`}},
		{"SetLive of a missing version", func(tx promote.Tx) error { return tx.SetLive(live) },
			promote.NotFound, []string{`version "9" of model "fraud" not found`}},
		{"Live of a missing model", func(tx promote.Tx) error { _, err := tx.Live("nope"); return err },
			promote.NotFound, []string{`model "nope" not found`}},
		{"LiveChanges of a missing model", func(tx promote.Tx) error {
			_, err := tx.LiveChanges(promote.LiveFilter{Model: "nope", Environment: "prod"})
			return err
		},
			promote.NotFound, []string{`model "nope" not found`}},
		{"SetLiveCommit with no alias", func(tx promote.Tx) error { return tx.SetLiveCommit("fraud", "dev", "p1", "abc") },
			promote.NotFound, []string{`live version of model "fraud" in "dev" not found`}},
		{"SetLiveCommit without a commit", func(tx promote.Tx) error { return tx.SetLiveCommit("fraud", "dev", "p1", "") },
			promote.Invalid, []string{"the change's id and the commit are needed"}},
		{"SetLiveCommitError with no alias", func(tx promote.Tx) error {
			return tx.SetLiveCommitError("fraud", "dev", "p1", "refused", t0)
		}, promote.NotFound, []string{`live version of model "fraud" in "dev" not found`}},
		{"SetLiveCommitError without a time", func(tx promote.Tx) error {
			return tx.SetLiveCommitError("fraud", "dev", "p1", "refused", time.Time{})
		}, promote.Invalid, []string{"the time of the error is needed"}},
		{"ClearLive with no alias", func(tx promote.Tx) error { return tx.ClearLive("fraud", "dev") },
			promote.NotFound, []string{`live version of model "fraud" in "dev" not found`}},
		{"AddHold on a missing version", func(tx promote.Tx) error {
			_, err := tx.AddHold(promote.Hold{Model: "fraud", Version: "9", Environment: "prod", SetAt: t0})
			return err
		}, promote.NotFound, []string{`version "9" of model "fraud" not found`}},
		{"ClearHold missing", func(tx promote.Tx) error { _, err := tx.ClearHold(holdID+1000, "x", "ok", t0); return err },
			promote.NotFound, []string{"hold", "not found"}},
		{"TokenByHash missing", func(tx promote.Tx) error { _, err := tx.TokenByHash("nope"); return err },
			promote.NotFound, []string{"token not found"}},
		{"RevokeToken missing", func(tx promote.Tx) error { return tx.RevokeToken("nope", t0) },
			promote.NotFound, []string{`token "nope" not found`}},

		{"CreateModel twice", func(tx promote.Tx) error { _, err := tx.CreateModel(model("fraud")); return err },
			promote.Conflict, []string{`model "fraud" already exists`}},
		{"CreateVersion twice", func(tx promote.Tx) error { return tx.CreateVersion(version("fraud", "1.0", 5)) },
			promote.Conflict, []string{`version "1.0" of model "fraud" already exists`}},
		{"RejectVersion twice", func(tx promote.Tx) error {
			if err := tx.RejectVersion("fraud", "1.0", "x", "bad", t0); err != nil {
				return err
			}
			return tx.RejectVersion("fraud", "1.0", "y", "worse", t0)
		}, promote.Conflict, []string{`version "1.0" of model "fraud"`, "already rejected"}},
		{"CreatePromotion with a taken ID", func(tx promote.Tx) error {
			_, err := tx.CreatePromotion(promotion("p1", "churn", "1.0", "dev", 0))
			return err
		}, promote.Conflict, []string{`promotion "p1" already exists`}},
		{"CreatePromotion for a taken slot", func(tx promote.Tx) error {
			_, err := tx.CreatePromotion(promotion("p2", "fraud", "1.0", "staging", 20))
			return err
		}, promote.Conflict, []string{`model "fraud"`, `"staging"`, "active promotion"}},
		{"UpdatePromotion to active for a taken slot", func(tx promote.Tx) error {
			p := promotion("p1", "fraud", "1.1", "staging", 10)
			p.State = promote.StateCancelled
			if err := tx.UpdatePromotion(p); err != nil {
				return err
			}
			if _, err := tx.CreatePromotion(promotion("p2", "fraud", "1.0", "staging", 20)); err != nil {
				return err
			}
			p.State = promote.StateRequested
			return tx.UpdatePromotion(p)
		}, promote.Conflict, []string{`model "fraud"`, `"staging"`, "p2"}},
		{"AddApproval twice by one approver", func(tx promote.Tx) error {
			if err := tx.AddApproval(approval); err != nil {
				return err
			}
			a := approval
			a.Approve, a.At = false, at(12)
			return tx.AddApproval(a)
		}, promote.Conflict, []string{"carol", `promotion "p1"`}},
		{"ClearHold twice", func(tx promote.Tx) error {
			if _, err := tx.ClearHold(holdID, "dave", "fixed", at(1)); err != nil {
				return err
			}
			_, err := tx.ClearHold(holdID, "erin", "again", at(2))
			return err
		}, promote.Conflict, []string{"hold", "already cleared"}},
		{"CreateToken with a taken ID", func(tx promote.Tx) error {
			return tx.CreateToken(promote.Token{ID: "tok1", Name: "x", Role: promote.RoleViewer, Hash: "h2", CreatedAt: t0})
		}, promote.Conflict, []string{`token "tok1" already exists`}},
		{"CreateToken with a taken hash", func(tx promote.Tx) error {
			return tx.CreateToken(promote.Token{ID: "tok2", Name: "x", Role: promote.RoleViewer, Hash: "h1", CreatedAt: t0})
		}, promote.Conflict, []string{`token "tok2"`, "same secret"}},
		{"RevokeToken twice", func(tx promote.Tx) error {
			if err := tx.RevokeToken("tok1", t0); err != nil {
				return err
			}
			return tx.RevokeToken("tok1", at(1))
		}, promote.Conflict, []string{`token "tok1" is already revoked`}},

		{"CreatePromotion in an unknown state", func(tx promote.Tx) error {
			p := promotion("p3", "churn", "1.0", "dev", 0)
			p.State = "launched"
			_, err := tx.CreatePromotion(p)
			return err
		}, promote.Invalid, []string{`"launched"`}},
		{"Promotions with a negative limit", func(tx promote.Tx) error {
			_, err := tx.Promotions(promote.PromotionFilter{Limit: -1})
			return err
		}, promote.Invalid, []string{"limit -1"}},
		{"Holds with a negative limit", func(tx promote.Tx) error {
			_, err := tx.Holds(promote.HoldFilter{Limit: -1})
			return err
		}, promote.Invalid, []string{"limit -1"}},
		{"AuditEvents with a negative limit", func(tx promote.Tx) error {
			_, err := tx.AuditEvents(promote.AuditFilter{Limit: -1})
			return err
		}, promote.Invalid, []string{"limit -1"}},
		{"AuditEvents before a negative seq", func(tx promote.Tx) error {
			_, err := tx.AuditEvents(promote.AuditFilter{BeforeSeq: -1})
			return err
		}, promote.Invalid, []string{"-1"}},
		{"AuditEvents after a negative seq", func(tx promote.Tx) error {
			_, err := tx.AuditEvents(promote.AuditFilter{AfterSeq: -2})
			return err
		}, promote.Invalid, []string{"after_seq -2"}},
		{"AuditEvents since after until", func(tx promote.Tx) error {
			_, err := tx.AuditEvents(promote.AuditFilter{Since: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
			return err
		}, promote.Invalid, []string{"since 2026-11-02T00:00:00Z is after until 2026-11-01T00:00:00Z"}},
		{"AuditEvents until out of range", func(tx promote.Tx) error {
			_, err := tx.AuditEvents(promote.AuditFilter{Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)})
			return err
		}, promote.Invalid, []string{"until 9999-01-01T00:00:00Z"}},
		{"AppendAudit with reasons that are not JSON", func(tx promote.Tx) error {
			_, err := tx.AppendAudit(promote.AuditEvent{Time: t0, Actor: "x", Action: promote.ActionHoldSet, Reasons: json.RawMessage("{nope")})
			return err
		}, promote.Invalid, []string{promote.ActionHoldSet}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Update(t.Context(), tt.fn)
			wantError(t, tt.name, err, tt.code, tt.msgs...)
		})
	}

	// The failed transactions changed nothing.
	view(t, s, func(tx promote.Tx) error {
		ps, err := tx.Promotions(promote.PromotionFilter{})
		if err != nil {
			return err
		}
		if len(ps) != 1 || ps[0].ID != "p1" || ps[0].State != promote.StateRequested {
			t.Errorf("Promotions() after failed updates = %+v, want p1 requested only", ps)
		}
		v, err := tx.Version("fraud", "1.0")
		if err != nil {
			return err
		}
		if v.Rejected {
			t.Errorf("Version(fraud, 1.0).Rejected after a rolled-back rejection = true, want false")
		}
		hs, err := tx.Holds(promote.HoldFilter{})
		if err != nil {
			return err
		}
		if len(hs) != 1 || !hs[0].Active() {
			t.Errorf("Holds() after a rolled-back clear = %+v, want the one active hold", hs)
		}
		as, err := tx.Approvals("p1")
		if err != nil {
			return err
		}
		if len(as) != 0 {
			t.Errorf("Approvals(p1) after a rolled-back approval = %+v, want none", as)
		}
		return nil
	})
}
