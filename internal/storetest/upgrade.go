package storetest

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// RunOlderReplicaWrites checks a rolling upgrade across migrations 0023
// (a promotion's note) and 0024 (models numbered by n): a replica of the
// release before them (schema 0022) keeps writing beside s, with its own
// statements, which name neither column. It registers a model and a
// version, requests a promotion, approves it and moves on a promotion s
// requested with a note. s then reads the older replica's model numbered
// after the models before it and before the next one s registers, its
// promotion with no note, and the note it gave kept. db is a plain
// connection to s's database; the statements use $1-style parameters,
// which both databases read.
func RunOlderReplicaWrites(t *testing.T, s promote.Store, db *sql.DB) {
	ctx := t.Context()
	seed(t, s) // fraud, then churn
	digest := "sha256:" + strings.Repeat("ab", 32)
	noted := promotion("p-noted", "fraud", "1.1", "prod", 5)
	noted.Note = "retrained on March data"
	update(t, s, func(tx promote.Tx) error { _, err := tx.CreatePromotion(noted); return err })

	// The statements of the 0022 binary (the release before 0023 and
	// 0024), as its store runs them.
	older := func(what, query string, args ...any) int64 {
		t.Helper()
		res, err := db.ExecContext(ctx, query, args...)
		if err != nil {
			t.Fatalf("the older replica's %s: %v", what, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	createModel := `INSERT INTO models (name, description, created_by, created_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`
	if n := older("create model ltv", createModel, "ltv", "lifetime value", "old", at(10).UnixNano()); n != 1 {
		t.Fatalf("the older replica's create model ltv stored %d rows, want 1", n)
	}
	// A name taken: the older replica answers Conflict; nothing is stored.
	if n := older("create model fraud again", createModel, "fraud", "", "old", at(11).UnixNano()); n != 0 {
		t.Fatalf("the older replica's create model fraud again stored %d rows, want 0", n)
	}
	older("register ltv 1", `INSERT INTO versions (model, version, artifact_uri, digest, size,
		signatures, metrics, checks, group_stats, lineage, created_by, created_at,
		rejected, rejected_by, rejected_at, reject_reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT DO NOTHING`,
		"ltv", "1", "s3://ltv/1", digest, 7, "null", `{"auc":0.91}`, "null", "null", "null", "old", at(12).UnixNano(),
		false, "", nil, "")
	older("request ltv 1", `INSERT INTO promotions (id, model, version, environment, digest, state, active,
		requested_by, requested_at, updated_at, baseline, decision, reason, override)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`,
		"p-old", "ltv", "1", "prod", digest, string(promote.StateAwaitingApproval), true,
		"bob", at(13).UnixNano(), at(13).UnixNano(), "", nil, "awaiting approval", false)
	older("approve p-old", `INSERT INTO approvals (promotion_id, approver, roles, approve, digest, comment, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		"p-old", "lena", `["approver"]`, true, digest, "", at(14).UnixNano())
	updatePromotion := `UPDATE promotions SET state = $1, active = $2, baseline = $3, decision = $4, reason = $5,
		override = $6, updated_at = $7 WHERE id = $8`
	older("move p-old on", updatePromotion, string(promote.StateSucceeded), false, "", nil, "approved by lena", false, at(15).UnixNano(), "p-old")
	older("move p-noted on", updatePromotion, string(promote.StateAwaitingApproval), true, "", nil, "awaiting approval", false, at(16).UnixNano(), "p-noted")

	update(t, s, func(tx promote.Tx) error {
		_, err := tx.CreateModel(promote.Model{Name: "ranker", CreatedBy: "ci", CreatedAt: at(17)})
		return err
	})

	view(t, s, func(tx promote.Tx) error {
		models, err := tx.Models(promote.ModelFilter{})
		if err != nil {
			return err
		}
		var names []string
		for i, m := range models {
			names = append(names, m.Name)
			if i > 0 && m.Seq >= models[i-1].Seq {
				t.Errorf("Models()[%d] = %s at seq %d, want below %s's %d", i, m.Name, m.Seq, models[i-1].Name, models[i-1].Seq)
			}
		}
		if diff := cmp.Diff([]string{"ranker", "ltv", "churn", "fraud"}, names); diff != "" {
			t.Errorf("Models() beside an older replica, newest first (-want +got):\n%s", diff)
		}
		// Page by page, the older replica's model is where the whole list
		// has it.
		pages := Walk(t, "Models", 0, 1, func(m promote.Model) int64 { return m.Seq }, func(before, after int64) ([]promote.Model, error) {
			return tx.Models(promote.ModelFilter{BeforeSeq: before, AfterSeq: after, Limit: 1})
		})
		if diff := cmp.Diff(models, pages); diff != "" {
			t.Errorf("Models() by pages of 1 (-whole list +pages):\n%s", diff)
		}
		m, err := tx.Model("ltv")
		if err != nil {
			return err
		}
		if m.Seq <= 0 || m.Description != "lifetime value" || m.CreatedBy != "old" {
			t.Errorf("Model(ltv) = %+v, want the older replica's model with a seq", m)
		}
		p, err := tx.Promotion("p-old")
		if err != nil {
			return err
		}
		if p.State != promote.StateSucceeded || p.Note != "" || p.Seq <= 0 {
			t.Errorf("Promotion(p-old) = state %s, note %q, seq %d; want succeeded, no note, a seq", p.State, p.Note, p.Seq)
		}
		as, err := tx.Approvals("p-old")
		if err != nil {
			return err
		}
		if len(as) != 1 || as[0].Approver != "lena" || !as[0].Approve {
			t.Errorf("Approvals(p-old) = %+v, want lena's approval", as)
		}
		vs, err := tx.Versions(promote.VersionFilter{Model: "ltv"})
		if err != nil {
			return err
		}
		if len(vs) != 1 || vs[0].Version != "1" || vs[0].Metrics["auc"] != 0.91 {
			t.Errorf("Versions(ltv) = %+v, want the older replica's version 1", vs)
		}
		p, err = tx.Promotion("p-noted")
		if err != nil {
			return err
		}
		if p.State != promote.StateAwaitingApproval || p.Note != noted.Note {
			t.Errorf("Promotion(p-noted) after the older replica moved it on = state %s, note %q; want %s, note %q",
				p.State, p.Note, promote.StateAwaitingApproval, noted.Note)
		}
		return nil
	})
	var unnumbered int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM models WHERE n IS NULL").Scan(&unnumbered); err != nil {
		t.Fatal(err)
	}
	if unnumbered != 0 {
		t.Errorf("%d models stored without a number (n IS NULL), want none", unnumbered)
	}
}
